"""The Statuspage (Atlassian) adapter against canned responses in the shape of its REST API docs
(developer.statuspage.io), served on loopback: incident create/update, component update, auth."""

from __future__ import annotations

from incident_helpers import plan_with

from launch_control.respond.incidents import IncidentManager
from launch_control.respond.notify import Notifier, RetryPolicy

PAGE = "kctbh9vrtdwd"
COMPONENT = "8kbf7d35c070"
INCIDENT = "p31zjtct2jer"

# Canned bodies as in the API docs' examples (trimmed to the fields that matter here).
CREATED_INCIDENT = {
    "id": INCIDENT, "components": [{"id": COMPONENT, "page_id": PAGE, "name": "API", "status": "major_outage"}],
    "created_at": "2025-06-12T21:14:03Z", "impact": "critical", "impact_override": "critical",
    "incident_updates": [{"id": "upd1", "status": "investigating", "body": "...", "incident_id": INCIDENT}],
    "name": "Elevated errors", "page_id": PAGE, "resolved_at": None, "shortlink": "http://stspg.io/p31zjtc",
    "status": "investigating", "updated_at": "2025-06-12T21:14:03Z",
}
UPDATED_COMPONENT = {
    "id": COMPONENT, "page_id": PAGE, "group_id": None, "created_at": "2025-01-01T00:00:00Z",
    "updated_at": "2025-06-12T21:30:00Z", "group": False, "name": "API", "description": None, "position": 1,
    "status": "degraded_performance", "showcase": True, "only_show_if_degraded": False,
    "automation_email": "component+x@notifications.statuspage.io", "start_date": "2025-01-01",
}


def statuspage_plan(plan, receiver):
    channel = {"name": "statuspage", "type": "statuspage", "api_key_env": "TEST_SP_KEY", "page_id": PAGE,
               "base_url_env": "TEST_SP_BASE", "components": {"api": COMPONENT}}
    severities = {sev: {**policy.model_dump(mode="json"), "notify": ["statuspage"], "rollback": False}
                  for sev, policy in plan.incident_response.severities.items()}
    return plan_with(
        plan,
        notifications={"channels": [channel]},
        incident_response={"auto_resolve_after": "15m", "severities": severities},
        rollback={**plan.rollback.model_dump(mode="json"), "notify": []},
    )


def test_incident_lifecycle_on_statuspage(plan, sqlite_store, receiver, monkeypatch):
    monkeypatch.setenv("TEST_SP_KEY", "key-123")
    monkeypatch.setenv("TEST_SP_BASE", receiver.url)
    receiver.answer(f"/v1/pages/{PAGE}/incidents", (201, CREATED_INCIDENT, 0))
    receiver.answer(f"/v1/pages/{PAGE}/incidents/{INCIDENT}", (200, {**CREATED_INCIDENT, "status": "resolved"}, 0))
    p = statuspage_plan(plan, receiver)
    notifier = Notifier(p, sqlite_store, retry=RetryPolicy(2, 0.01, 0.05, 2.0))
    manager = IncidentManager(p, sqlite_store, notifier)

    incident_id = manager.report("post-launch:error_rate", "SEV-1", "error rate 31% on canary")
    (create,) = receiver.wait_for(f"/v1/pages/{PAGE}/incidents")
    assert create.method == "POST" and create.headers["authorization"] == "OAuth key-123"
    body = create.json()["incident"]
    assert body["status"] == "investigating" and body["impact_override"] == "critical"
    assert body["component_ids"] == [COMPONENT] and body["components"] == {COMPONENT: "major_outage"}
    assert body["deliver_notifications"] is True and "PromptForge" in body["body"]
    assert notifier.flush(5)
    assert sqlite_store.get_status(f"statuspage:statuspage:{incident_id}") == INCIDENT

    manager.acknowledge(incident_id, "priya")
    manager.resolve(incident_id, "priya", "rolled back")
    updates = receiver.wait_for(f"/v1/pages/{PAGE}/incidents/{INCIDENT}", 2)
    assert [u.method for u in updates] == ["PATCH", "PATCH"]
    identified, resolved = (u.json()["incident"] for u in updates)
    assert identified["status"] == "identified" and "name" not in identified
    assert resolved["status"] == "resolved" and resolved["components"] == {COMPONENT: "operational"}
    assert "impact_override" not in resolved
    assert notifier.flush(5)
    assert all(r["ok"] for r in sqlite_store.notifications())


def test_status_check_updates_component(plan, sqlite_store, receiver, monkeypatch):
    monkeypatch.setenv("TEST_SP_KEY", "key-123")
    monkeypatch.setenv("TEST_SP_BASE", receiver.url)
    path = f"/v1/pages/{PAGE}/components/{COMPONENT}"
    receiver.answer(path, (200, UPDATED_COMPONENT, 0))
    p = statuspage_plan(plan, receiver)
    result = Notifier(p, sqlite_store).send_sync(
        "status_check", "status", "text", context={"components": {"api": "degraded_performance", "model": "x"}}
    )["statuspage"]
    assert result.ok
    (request,) = receiver.at(path)
    assert request.method == "PATCH" and request.json() == {"component": {"status": "degraded_performance"}}


def test_rejected_api_key_is_a_recorded_failure_without_retries(plan, sqlite_store, receiver, monkeypatch):
    monkeypatch.setenv("TEST_SP_KEY", "wrong")
    monkeypatch.setenv("TEST_SP_BASE", receiver.url)
    receiver.answer(f"/v1/pages/{PAGE}/incidents", (401, {"error": "Could not authenticate"}, 0))
    p = statuspage_plan(plan, receiver)
    notifier = Notifier(p, sqlite_store, retry=RetryPolicy(3, 0.01, 0.05, 2.0))
    IncidentManager(p, sqlite_store, notifier).report("gate:latency_p95", "SEV-2", "p95 6 s")
    assert notifier.flush(5)
    (row,) = sqlite_store.notifications()
    assert not row["ok"] and row["attempts"] == 1 and "HTTP 401" in row["error"]
    assert len(receiver.at(f"/v1/pages/{PAGE}/incidents")) == 1
