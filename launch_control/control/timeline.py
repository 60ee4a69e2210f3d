"""The launch-day timeline's record: which plan entries ran, are running, are done or failed.

Whoever runs a stage (the CLI, a Prefect flow, the console, the engine) records it here as it
happens, against the plan's timeline entries for that action: ``preflight``, ``freeze_and_tag``,
``deploy_canary``, ``canary_ramp``, ``canary_step`` (with its step), ``full_rollout`` and
``post_launch_monitoring``. Recording never stops the launch: a store that is down loses the line.
"""

from __future__ import annotations

import contextlib
from typing import Any

STATUSES = ("running", "done", "failed", "skipped")


def entries_for(plan: Any, action: str, step: int | None = None) -> list[Any]:
    """The plan's timeline entries a stage belongs to (a canary step: its own entry)."""
    found = []
    for entry in plan.timeline.entries:
        if entry.action != action:
            continue
        if action == "canary_step" and entry.step != step:
            continue
        found.append(entry)
    return found


def record_stage(
    plan: Any, store: Any, action: str, status: str, detail: str = "", *, step: int | None = None,
    flow_run_id: str | None = None,
) -> int:  # fmt: skip
    """Mark every entry of ``action`` with ``status``; returns how many were marked."""
    if status not in STATUSES:
        raise ValueError(f"timeline status must be one of {', '.join(STATUSES)} (got {status!r})")
    marked = 0
    for entry in entries_for(plan, action, step):
        with contextlib.suppress(Exception):
            store.record_timeline(entry.id, status, flow_run_id=flow_run_id, detail=detail)
            marked += 1
    return marked
