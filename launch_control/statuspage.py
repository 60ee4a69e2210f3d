"""The public status page: each component's state derived from active incidents and the
degradation status, served as JSON (Atlassian Statuspage's ``/api/v2/summary.json`` shape) and
as a small self-contained HTML page by a tiny ASGI app (``launch-control statuspage``).

Component states are Atlassian Statuspage's: Operational, Degraded performance, Partial outage,
Major outage (and Under maintenance). An active SEV-1 on a component is a major outage, a SEV-2
a partial outage, a SEV-3 degraded performance; the model component is degraded while the
service answers in simulated mode. The worst component sets the page's indicator.
"""

from __future__ import annotations

import datetime as dt
import html
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

STATUS_LABELS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
}
# Worse states sort later; the page's indicator is the worst component's.
ORDER = ["operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"]
FROM_SEVERITY = {"SEV-1": "major_outage", "SEV-2": "partial_outage", "SEV-3": "degraded_performance"}
INDICATOR = {
    "operational": ("none", "All Systems Operational"),
    "under_maintenance": ("maintenance", "Service Under Maintenance"),
    "degraded_performance": ("minor", "Minor Service Outage"),
    "partial_outage": ("major", "Partial System Outage"),
    "major_outage": ("critical", "Major Service Outage"),
}
PUBLIC_INCIDENT_STATUS = {"open": "investigating", "acknowledged": "identified", "resolved": "resolved"}
IMPACT = {"SEV-1": "critical", "SEV-2": "major", "SEV-3": "minor"}
COLORS = {
    "operational": "#2e7d32",
    "under_maintenance": "#1565c0",
    "degraded_performance": "#f9a825",
    "partial_outage": "#ef6c00",
    "major_outage": "#c62828",
}


@dataclass
class Component:
    id: str
    name: str
    description: str
    status: str = "operational"
    incidents: list[int] = field(default_factory=list)
    reason: str = ""

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]


def components(plan: Any) -> list[Component]:
    """The components a launch's status page shows."""
    product = plan.release.product
    return [
        Component("api", f"{product} API", "Requests to the API and the gateway in front of it"),
        Component("model", "Model responses", "Answers from the live model (simulated mode counts as degraded)"),
    ]


def worse(a: str, b: str) -> str:
    return a if ORDER.index(a) >= ORDER.index(b) else b


def _degraded(store: Any) -> str:
    """Why the model component is degraded, or '' when it is not."""
    if store.state().get("degraded"):
        return "answering in simulated mode"
    status = store.get_status("degradation")
    if isinstance(status, Mapping):
        if status.get("degraded") or str(status.get("mode", "")).lower() in ("simulated", "degraded", "fallback"):
            return str(status.get("reason") or "answering in simulated mode")
        if str(status.get("circuit", status.get("breaker", ""))).lower() == "open":
            return "live model circuit open"
    elif status:
        return "degraded"
    return ""


def component_states(plan: Any, store: Any) -> list[Component]:
    """Each component's state now, with the incidents that put it there."""
    found = {c.id: c for c in components(plan)}
    for incident in store.incidents(status="active"):
        component_id = (incident.get("details") or {}).get("component") or "api"
        component = found.get(component_id) or found["api"]
        state = FROM_SEVERITY.get(incident["severity"], "major_outage")
        if worse(state, component.status) == state and state != component.status:
            component.reason = f"{incident['severity']}: {incident['summary']}"
        component.status = worse(state, component.status)
        component.incidents.append(int(incident["id"]))
    if reason := _degraded(store):
        model = found["model"]
        if model.status == "operational":
            model.reason = reason
        model.status = worse("degraded_performance", model.status)
    return list(found.values())


def summary(plan: Any, store: Any, *, recent: float = 86400.0) -> dict[str, Any]:
    """The page as data, in the shape of Statuspage's public ``/api/v2/summary.json``."""
    now = dt.datetime.now(dt.UTC)
    states = component_states(plan, store)
    worst = "operational"
    for component in states:
        worst = worse(component.status, worst)
    indicator, description = INDICATOR[worst]
    incidents = []
    for incident in reversed(store.incidents()):
        resolved = incident.get("resolved_at")
        if resolved and (now - resolved).total_seconds() > recent:
            continue
        updated = resolved or incident.get("acknowledged_at") or incident["last_seen_at"]
        incidents.append(
            {
                "id": str(incident["id"]),
                "name": incident["summary"],
                "status": PUBLIC_INCIDENT_STATUS.get(incident["status"], "investigating"),
                "impact": IMPACT.get(incident["severity"], "major"),
                "created_at": incident["opened_at"].isoformat(),
                "updated_at": updated.isoformat(),
                "resolved_at": resolved.isoformat() if resolved else None,
                "components": [(incident.get("details") or {}).get("component") or "api"],
            }
        )
    return {
        "page": {"id": plan.name, "name": plan.release.product, "time_zone": plan.timeline.timezone,
                 "updated_at": now.isoformat()},
        "status": {"indicator": indicator, "description": description},
        "components": [
            {**{k: v for k, v in asdict(c).items() if k != "incidents"}, "label": c.label, "incident_ids": c.incidents,
             "position": i + 1}
            for i, c in enumerate(states)
        ],
        "incidents": incidents,
        "scheduled_maintenances": [],
    }


def render_html(data: Mapping[str, Any], *, refresh: int = 30) -> str:
    """A small status page that needs no network (inline CSS, no scripts, auto-refresh)."""
    e = html.escape
    indicator = data["status"]["indicator"]
    worst = next((k for k, (ind, _) in INDICATOR.items() if ind == indicator), "operational")
    rows = "".join(
        f'<li><span class="name">{e(c["name"])}</span>'
        f'<span class="state" style="color:{COLORS[c["status"]]}">{e(c["label"])}</span>'
        + (f'<div class="reason">{e(c["reason"])}</div>' if c["reason"] else "")
        + "</li>"
        for c in data["components"]
    )
    incidents = "".join(
        f'<li><b>{e(i["name"])}</b> <span class="tag">{e(i["status"])}</span> '
        f'<span class="tag">impact: {e(i["impact"])}</span><div class="when">since {e(i["created_at"][:16])} UTC'
        + (f' · resolved {e(i["resolved_at"][:16])} UTC' if i["resolved_at"] else "")
        + "</div></li>"
        for i in data["incidents"]
    ) or "<li>No incidents reported in the last 24 hours.</li>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{refresh}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(data["page"]["name"])} status</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:760px;margin:2rem auto;padding:0 1rem;color:#222}}
.banner{{padding:1rem 1.25rem;border-radius:6px;color:#fff;font-size:1.2rem;background:{COLORS[worst]}}}
ul{{list-style:none;padding:0}} li{{border-bottom:1px solid #ddd;padding:.75rem 0}}
.name{{font-weight:600}} .state{{float:right;font-weight:600}} .reason,.when{{color:#666;font-size:.9rem}}
.tag{{background:#eee;border-radius:3px;padding:0 .4rem;font-size:.85rem}} footer{{color:#888;font-size:.8rem}}
</style></head><body>
<h1>{e(data["page"]["name"])} status</h1>
<div class="banner" id="indicator" data-indicator="{e(indicator)}">{e(data["status"]["description"])}</div>
<h2>Components</h2><ul id="components">{rows}</ul>
<h2>Incidents</h2><ul id="incidents">{incidents}</ul>
<footer>Updated {e(data["page"]["updated_at"][:19])} UTC · JSON: /api/v2/summary.json</footer>
</body></html>
"""


class _Cache:
    """A short cache so a busy status page does not query the store on every hit."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self.value: dict[str, Any] | None = None
        self.at = 0.0
        self.lock = threading.Lock()

    def get(self, compute: Any) -> dict[str, Any]:
        with self.lock:
            if self.value is None or time.monotonic() - self.at > self.ttl:
                self.value, self.at = compute(), time.monotonic()
            return self.value


def create_app(plan: Any, store: Any, *, cache_seconds: float = 2.0) -> Any:
    """The ASGI app: ``/`` (HTML), ``/api/v2/summary.json``, ``/api/v2/status.json``,
    ``/api/v2/components.json``, ``/health``. Read-only and public: no token needed."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    cache = _Cache(cache_seconds)

    def data() -> dict[str, Any]:
        return cache.get(lambda: summary(plan, store))

    # Sync endpoints: Starlette runs them in its thread pool, so store reads never block the loop.
    def page(request: Request) -> HTMLResponse:
        return HTMLResponse(render_html(data()))

    def summary_json(request: Request) -> JSONResponse:
        return JSONResponse(data())

    def status_json(request: Request) -> JSONResponse:
        d = data()
        return JSONResponse({"page": d["page"], "status": d["status"]})

    def components_json(request: Request) -> JSONResponse:
        d = data()
        return JSONResponse({"page": d["page"], "components": d["components"]})

    def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/v2/summary.json", summary_json),
            Route("/api/v2/status.json", status_json),
            Route("/api/v2/components.json", components_json),
            Route("/health", health),
        ]
    )
