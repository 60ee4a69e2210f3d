"""The status page's JSON against Atlassian Statuspage's documented example responses
(tests/incidents/fixtures/statuspage_*_example.json): every documented key is there with the
documented type, so existing Statuspage widgets and clients can read /api/v2/summary.json and
/api/v2/status.json."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx

from launch_control.respond.incidents import IncidentManager
from launch_control.respond.statuspage import create_app
from launch_control.web.servers import ServerThread

FIXTURES = Path(__file__).with_name("fixtures")


def example(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / f"statuspage_{name}_example.json").read_text())
    data.pop("_source")
    return data


def assert_same_shape(documented: Any, ours: Any, where: str = "$") -> None:
    """Every key of the documented example is in ours, recursively, with the same JSON type
    (a documented null allows any type: those fields are nullable)."""
    if documented is None:
        return
    if isinstance(documented, dict):
        assert isinstance(ours, dict), f"{where}: expected an object, got {ours!r}"
        missing = sorted(set(documented) - set(ours))
        assert not missing, f"{where}: missing {missing}"
        for key, value in documented.items():
            assert_same_shape(value, ours[key], f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(ours, list), f"{where}: expected a list, got {ours!r}"
        if documented:
            assert ours, f"{where}: expected at least one entry"
            for i, item in enumerate(ours):
                assert_same_shape(documented[0], item, f"{where}[{i}]")
    elif isinstance(documented, bool):
        assert isinstance(ours, bool), f"{where}: {ours!r} is not a boolean"
    elif isinstance(documented, (int, float)):
        assert isinstance(ours, (int, float)) and not isinstance(ours, bool), f"{where}: {ours!r} is not a number"
    else:
        assert isinstance(ours, type(documented)), f"{where}: {ours!r} is not a {type(documented).__name__}"


def test_the_shape_check_catches_a_missing_key():
    import pytest

    broken = example("summary")
    del broken["incidents"][0]["incident_updates"][0]["display_at"]
    with pytest.raises(AssertionError, match=r"incident_updates\[0\]: missing \['display_at'\]"):
        assert_same_shape(example("summary"), broken)


def iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_summary_and_status_have_the_documented_shape(plan, sqlite_store):
    manager = IncidentManager(plan, sqlite_store)
    gone = manager.report("canary:latency_p95", "SEV-3", "slow answers")
    manager.resolve(gone, "priya")
    live = manager.report("canary:error_rate", "SEV-2", "canary errors 11%")
    manager.acknowledge(live, "priya")
    with ServerThread(create_app(plan, sqlite_store, cache_seconds=0)) as server:
        data = httpx.get(server.url + "/api/v2/summary.json", timeout=5).json()
        status = httpx.get(server.url + "/api/v2/status.json", timeout=5).json()
        assert_same_shape(example("summary"), data)
        assert_same_shape(example("status"), status)
        assert set(status) == {"page", "status"}

        assert data["page"]["url"] == server.url and data["page"]["id"] == plan.name
        assert status["status"] == data["status"] == {"indicator": "major", "description": "Partial System Outage"}
        api = next(c for c in data["components"] if c["id"] == "api")
        assert api["status"] == "partial_outage" and api["position"] == 1
        assert [c["position"] for c in data["components"]] == list(range(1, len(data["components"]) + 1))
        assert iso(api["created_at"]) <= iso(api["updated_at"])

        (incident,) = data["incidents"]  # unresolved only: the resolved SEV-3 is not listed
        assert incident["id"] == str(live) and incident["status"] == "identified" and incident["impact"] == "major"
        assert incident["resolved_at"] is None and iso(incident["started_at"]) <= iso(incident["updated_at"])
        assert [u["status"] for u in incident["incident_updates"]] == ["identified", "investigating"]  # newest first
        assert all(u["incident_id"] == incident["id"] for u in incident["incident_updates"])
        assert "canary errors 11%" in incident["incident_updates"][-1]["body"]
        # the shortlink resolves to the page, which names the incident
        page = httpx.get(incident["shortlink"], timeout=5)
        assert page.status_code == 200 and "canary errors 11%" in page.text

        unresolved = httpx.get(server.url + "/api/v2/incidents/unresolved.json", timeout=5).json()
        assert [i["id"] for i in unresolved["incidents"]] == [str(live)]

        manager.resolve(live, "priya")
        data = httpx.get(server.url + "/api/v2/summary.json", timeout=5).json()
        assert data["incidents"] == [] and data["status"]["indicator"] == "none"
        assert "slow answers" in httpx.get(server.url + "/", timeout=5).text  # HTML keeps the last 24 h
