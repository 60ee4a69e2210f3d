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
from dataclasses import dataclass, field
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


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None


def _incident_updates(incident: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Statuspage's ``incident_updates``, newest first, from the incident's own history."""
    iid = str(incident["id"])
    updates = [("investigating", incident["opened_at"], f"Investigating: {incident['summary']}")]
    if incident.get("acknowledged_at"):
        updates.append(("identified", incident["acknowledged_at"], "The issue has been identified; a fix is underway."))
    if incident.get("resolved_at"):
        updates.append(("resolved", incident["resolved_at"], "This incident has been resolved."))
    return [
        {"id": f"{iid}-{n}", "status": status, "body": body, "incident_id": iid, "created_at": _iso(at),
         "updated_at": _iso(at), "display_at": _iso(at), "affected_components": None,
         "deliver_notifications": True, "custom_tweet": None, "tweet_id": None}
        for n, (status, at, body) in reversed(list(enumerate(updates)))
    ]


def _public_incident(incident: Mapping[str, Any], page_id: str, page_url: str,
                     by_id: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    resolved = incident.get("resolved_at")
    updated = resolved or incident.get("acknowledged_at") or incident["last_seen_at"]
    component_id = (incident.get("details") or {}).get("component") or "api"
    component = by_id.get(component_id) or by_id["api"]
    return {
        "id": str(incident["id"]),
        "name": incident["summary"],
        "status": PUBLIC_INCIDENT_STATUS.get(incident["status"], "investigating"),
        "created_at": _iso(incident["opened_at"]),
        "updated_at": _iso(updated),
        "monitoring_at": None,
        "resolved_at": _iso(resolved),
        "impact": IMPACT.get(incident["severity"], "major"),
        "shortlink": f"{page_url}/incidents/{incident['id']}",
        "started_at": _iso(incident["opened_at"]),
        "page_id": page_id,
        "incident_updates": _incident_updates(incident),
        "components": [component],
    }


def summary(plan: Any, store: Any, *, url: str = "http://127.0.0.1:8090") -> dict[str, Any]:
    """The page as data in the shape of Atlassian Statuspage's public ``/api/v2/summary.json``:
    ``page`` (id, name, url, time_zone, updated_at), ``components`` (id, name, status, position,
    created_at, updated_at, ...), the unresolved ``incidents`` (with ``incident_updates``),
    ``scheduled_maintenances`` and ``status`` (indicator, description). Resolved incidents are
    not listed, as on Statuspage (the HTML page still shows the last 24 hours)."""
    now = dt.datetime.now(dt.UTC)
    page_url = url.rstrip("/")
    page_id = plan.name
    states = component_states(plan, store)
    worst = "operational"
    for component in states:
        worst = worse(component.status, worst)
    indicator, description = INDICATOR[worst]
    everything = store.incidents()
    # Components have no stored creation time: the launch's start (or the first incident) stands in,
    # and a component changed when an incident on it last moved.
    started = store.state().get("launch_started_at") or min((i["opened_at"] for i in everything), default=now)
    components_out: list[dict[str, Any]] = []
    for position, c in enumerate(states, start=1):
        moves = [t for i in everything if ((i.get("details") or {}).get("component") or "api") == c.id
                 for t in (i["opened_at"], i.get("acknowledged_at"), i.get("resolved_at")) if t]
        components_out.append({
            "id": c.id, "name": c.name, "status": c.status, "created_at": _iso(started),
            "updated_at": _iso(max(moves, default=started)), "position": position, "description": c.description,
            "showcase": True, "start_date": None, "group_id": None, "page_id": page_id, "group": False,
            "only_show_if_degraded": False,
        })
    by_id = {c["id"]: c for c in components_out}
    unresolved = [i for i in reversed(everything) if i["status"] != "resolved"]
    return {
        "page": {"id": page_id, "name": plan.release.product, "url": page_url,
                 "time_zone": plan.timeline.timezone, "updated_at": _iso(now)},
        "components": components_out,
        "incidents": [_public_incident(i, page_id, page_url, by_id) for i in unresolved],
        "scheduled_maintenances": [],
        "status": {"indicator": indicator, "description": description},
    }


def status(data: Mapping[str, Any]) -> dict[str, Any]:
    """``/api/v2/status.json``: the page and its indicator only."""
    return {"page": data["page"], "status": data["status"]}


def recent_incidents(store: Any, *, recent: float = 86400.0) -> list[dict[str, Any]]:
    """Incidents for the HTML page: unresolved ones and those resolved in the last ``recent`` s."""
    now = dt.datetime.now(dt.UTC)
    out = []
    for incident in reversed(store.incidents()):
        resolved = incident.get("resolved_at")
        if resolved and (now - resolved).total_seconds() > recent:
            continue
        public_status = PUBLIC_INCIDENT_STATUS.get(incident["status"], "investigating")
        out.append({"name": incident["summary"], "status": public_status,
                    "impact": IMPACT.get(incident["severity"], "major"), "created_at": _iso(incident["opened_at"]),
                    "resolved_at": _iso(resolved), "id": str(incident["id"])})
    return out


def render_html(data: Mapping[str, Any], *, refresh: int = 30, reasons: Mapping[str, str] | None = None,
                incidents: list[dict[str, Any]] | None = None) -> str:
    """A small status page that needs no network (inline CSS, no scripts, auto-refresh).
    ``reasons``: why each component is in its state; ``incidents``: what to list (default: the
    summary's unresolved incidents)."""
    e = html.escape
    reasons = reasons or {}
    indicator = data["status"]["indicator"]
    worst = next((k for k, (ind, _) in INDICATOR.items() if ind == indicator), "operational")
    rows = "".join(
        f'<li><span class="name">{e(c["name"])}</span>'
        f'<span class="state" style="color:{COLORS[c["status"]]}">{e(STATUS_LABELS[c["status"]])}</span>'
        + (f'<div class="reason">{e(reasons[c["id"]])}</div>' if reasons.get(c["id"]) else "")
        + "</li>"
        for c in data["components"]
    )
    listed = data["incidents"] if incidents is None else incidents
    items = "".join(
        f'<li id="incident-{e(i["id"])}"><b>{e(i["name"])}</b> <span class="tag">{e(i["status"])}</span> '
        f'<span class="tag">impact: {e(i["impact"])}</span><div class="when">since {e(i["created_at"][:16])} UTC'
        + (f' · resolved {e(i["resolved_at"][:16])} UTC' if i.get("resolved_at") else "")
        + "</div></li>"
        for i in listed
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
<h2>Incidents</h2><ul id="incidents">{items}</ul>
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


def create_app(plan: Any, store: Any, *, cache_seconds: float = 2.0, url: str | None = None) -> Any:
    """The ASGI app: ``/`` (HTML), ``/incidents/{id}`` (the incidents' shortlinks), and
    Statuspage's public ``/api/v2/summary.json``, ``/api/v2/status.json``,
    ``/api/v2/components.json``, ``/api/v2/incidents/unresolved.json``; ``/health``. Read-only and
    public: no token needed. ``url``: the page's public address (default: as the request came in)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    cache = _Cache(cache_seconds)

    def data(request: Request) -> dict[str, Any]:
        base = url or str(request.base_url).rstrip("/")
        return cache.get(lambda: {"summary": summary(plan, store, url=base),
                                  "reasons": {c.id: c.reason for c in component_states(plan, store)},
                                  "recent": recent_incidents(store)})

    # Sync endpoints: Starlette runs them in its thread pool, so store reads never block the loop.
    def page(request: Request) -> HTMLResponse:
        d = data(request)
        return HTMLResponse(render_html(d["summary"], reasons=d["reasons"], incidents=d["recent"]))

    def summary_json(request: Request) -> JSONResponse:
        return JSONResponse(data(request)["summary"])

    def status_json(request: Request) -> JSONResponse:
        return JSONResponse(status(data(request)["summary"]))

    def components_json(request: Request) -> JSONResponse:
        d = data(request)["summary"]
        return JSONResponse({"page": d["page"], "components": d["components"]})

    def unresolved_json(request: Request) -> JSONResponse:
        d = data(request)["summary"]
        return JSONResponse({"page": d["page"], "incidents": d["incidents"]})

    def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/", page),
            Route("/incidents/{incident_id}", page),
            Route("/api/v2/summary.json", summary_json),
            Route("/api/v2/status.json", status_json),
            Route("/api/v2/components.json", components_json),
            Route("/api/v2/incidents/unresolved.json", unresolved_json),
            Route("/health", health),
        ]
    )
