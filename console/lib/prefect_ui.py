"""Talking to Prefect from the console without importing prefect on page loads.

``health()`` answers in at most ~1 s whether ``$PREFECT_API_URL`` is reachable; flow-run states
are read over its REST API with httpx; ``run_deployment`` imports prefect only when a person
starts a flow (importing prefect costs seconds).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

API_ENV = "PREFECT_API_URL"
UI_ENV = "PREFECT_UI_URL"


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str


def api_url() -> str | None:
    url = os.environ.get(API_ENV, "").rstrip("/")
    return url or None


def ui_url() -> str | None:
    """``$PREFECT_UI_URL``, else the UI the API's server also serves (``…/api`` → ``…``)."""
    url = os.environ.get(UI_ENV, "").rstrip("/")
    if not url and (api := api_url()) and api.endswith("/api"):
        url = api.removesuffix("/api")
    return url or None


def run_link(flow_run_id: str | None) -> str | None:
    base = ui_url()
    return f"{base}/runs/flow-run/{flow_run_id}" if base and flow_run_id else None


def health(timeout: float = 1.0) -> Health:
    url = api_url()
    if not url:
        return Health(False, f"Prefect is not configured: set {API_ENV} (e.g. http://127.0.0.1:4200/api)")
    import httpx

    try:
        response = httpx.get(f"{url}/health", timeout=timeout)
    except httpx.HTTPError as exc:
        return Health(False, f"Prefect is unreachable at {url}: {type(exc).__name__}")
    if response.status_code != 200:
        return Health(False, f"Prefect at {url} answered HTTP {response.status_code} to /health")
    return Health(True, f"Prefect is reachable at {url}")


def flow_run_states(ids: list[str], timeout: float = 1.5) -> dict[str, str]:
    """flow run id → state name ("Completed", "Running"...); empty when Prefect cannot be asked."""
    url = api_url()
    if not url or not ids:
        return {}
    import httpx

    try:
        response = httpx.post(f"{url}/flow_runs/filter", json={"flow_runs": {"id": {"any_": ids}}, "limit": 200},
                              timeout=timeout)
        response.raise_for_status()
        return {run["id"]: (run.get("state") or {}).get("name", "?") for run in response.json()}
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return {}


def run_deployment(name: str, parameters: dict[str, Any]) -> str:
    """Start deployment ``name`` (``flow/deployment``) now and return its flow run id (does not wait)."""
    from prefect.deployments import run_deployment as prefect_run

    run = prefect_run(name, parameters=parameters, timeout=0)
    return str(run.id)
