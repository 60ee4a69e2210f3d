"""The status page: component states (Operational / Degraded performance / Partial outage /
Major outage, as Atlassian Statuspage defines them) from incidents and degradation, served as JSON
and HTML by the ASGI app on loopback."""

from __future__ import annotations

import re

import httpx

from launch_control.respond.incidents import IncidentManager
from launch_control.respond.statuspage import component_states, create_app, summary
from launch_control.web.servers import ServerThread


def states(plan, store):
    return {c.id: (c.status, c.label) for c in component_states(plan, store)}


def test_component_states_follow_incidents(plan, store):
    manager = IncidentManager(plan, store)
    assert states(plan, store) == {"api": ("operational", "Operational"), "model": ("operational", "Operational")}
    assert summary(plan, store)["status"] == {"indicator": "none", "description": "All Systems Operational"}

    sev3 = manager.report("canary:latency_p95", "SEV-3", "p95 3.4 s")
    assert states(plan, store)["api"] == ("degraded_performance", "Degraded performance")
    assert summary(plan, store)["status"]["indicator"] == "minor"

    sev2 = manager.report("canary:error_rate", "SEV-2", "errors 11%")
    assert states(plan, store)["api"] == ("partial_outage", "Partial outage")
    assert summary(plan, store)["status"] == {"indicator": "major", "description": "Partial System Outage"}

    sev1 = manager.report("probe:availability", "SEV-1", "API unreachable")
    assert states(plan, store)["api"] == ("major_outage", "Major outage")
    assert summary(plan, store)["status"] == {"indicator": "critical", "description": "Major Service Outage"}
    assert states(plan, store)["model"] == ("operational", "Operational")

    for incident_id in (sev1, sev2, sev3):
        manager.resolve(incident_id, "priya")
    assert states(plan, store)["api"] == ("operational", "Operational")
    data = summary(plan, store)
    assert data["incidents"] == []  # Statuspage lists unresolved incidents only
    from launch_control.respond.statuspage import recent_incidents

    assert [i["status"] for i in recent_incidents(store)] == ["resolved"] * 3  # the HTML page keeps 24 h


def test_model_component_from_incident_and_degradation(plan, sqlite_store):
    from launch_control.protect.degrade import StoreBoard, clear_degraded, set_degraded

    board = StoreBoard(sqlite_store)
    set_degraded(board, "live model unavailable; simulated answers", source="breaker:model")
    model = next(c for c in component_states(plan, sqlite_store) if c.id == "model")
    assert model.status == "degraded_performance" and "simulated" in model.reason
    IncidentManager(plan, sqlite_store).report("model:errors", "SEV-2", "model 500s", component="model")
    model = next(c for c in component_states(plan, sqlite_store) if c.id == "model")
    assert model.status == "partial_outage"  # the worse of the two wins
    clear_degraded(board, source="breaker:model")


def test_served_as_json_and_html(plan, sqlite_store):
    manager = IncidentManager(plan, sqlite_store)
    incident_id = manager.report("canary:error_rate", "SEV-1", "error rate <b>31%</b>")
    with ServerThread(create_app(plan, sqlite_store, cache_seconds=0)) as server:
        data = httpx.get(server.url + "/api/v2/summary.json", timeout=5).json()
        assert data["status"]["indicator"] == "critical"
        api = next(c for c in data["components"] if c["id"] == "api")
        assert api["status"] == "major_outage"
        (incident,) = data["incidents"]
        assert incident["status"] == "investigating" and incident["impact"] == "critical"
        assert incident["id"] == str(incident_id) and [c["id"] for c in incident["components"]] == ["api"]
        assert httpx.get(server.url + "/api/v2/status.json", timeout=5).json()["status"]["indicator"] == "critical"

        page = httpx.get(server.url + "/", timeout=5)
        assert page.headers["content-type"].startswith("text/html")
        assert 'data-indicator="critical"' in page.text and "Major outage" in page.text
        assert "error rate &lt;b&gt;31%&lt;/b&gt;" in page.text  # escaped
        assert not re.search(r"(src|href)=", page.text)  # no external assets

        manager.acknowledge(incident_id, "priya")
        data = httpx.get(server.url + "/api/v2/summary.json", timeout=5).json()
        assert data["incidents"][0]["status"] == "identified"
        assert httpx.get(server.url + "/health", timeout=5).json() == {"ok": True}
