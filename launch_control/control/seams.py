"""The one place the core reaches the Prefect flows, looked up at run time so that importing
``launch_control`` (or ``launch_control.commands``) never imports prefect.

``LAUNCH_CONTROL_FLOWS`` names the module holding the flows (default ``launch_control.flows.launch_day``); it
must provide ``run_canary_ramp(**parameters) -> (ok: bool, message: str)`` and
``resume_flow_run(flow_run_id, run_input)``.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from launch_control.errors import LaunchControlError

FLOWS_ENV = "LAUNCH_CONTROL_FLOWS"
FLOWS_PACKAGE = "launch_control.flows"
DEFAULT_FLOWS = f"{FLOWS_PACKAGE}.launch_day"


class FlowsUnavailable(LaunchControlError):
    """The flows module cannot be imported (Prefect not installed, or the module missing)."""


def flows_module() -> Any:
    return _import(os.environ.get(FLOWS_ENV) or DEFAULT_FLOWS)


def flows_part(name: str) -> Any:
    """One module of the flows package (``deployments``, ``server``, ``launch_day``), imported now."""
    return _import(f"{FLOWS_PACKAGE}.{name}")


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise FlowsUnavailable(
            f"the Prefect flows ({name}) cannot be imported: {exc}. Install the flows' requirements, or unset "
            "PREFECT_API_URL to run the ramp in this process"
        ) from exc


def run_canary_ramp(**parameters: Any) -> tuple[bool, str]:
    """Run the canary-ramp flow to its end; (completed?, the final state's message)."""
    return flows_module().run_canary_ramp(**parameters)


def resume_flow_run(flow_run_id: str, run_input: dict[str, Any]) -> None:
    """Resume a flow run paused for go/no-go with the answer as its input."""
    flows_module().resume_flow_run(flow_run_id, run_input)
