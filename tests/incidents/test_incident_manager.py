"""IncidentManager: one incident per cause, severity escalation, SEV-1 rollback once, auto-resolve
after the quiet period, on-call escalation when unacknowledged, response-time tracking, and the
messages each audience receives."""

from __future__ import annotations

import datetime as dt

import pytest

from launch_control.errors import UsageError
from launch_control.respond.incidents import IncidentManager, normalise_severity, response_times
from launch_control.respond.notify import Notifier, RetryPolicy

MIN = dt.timedelta(minutes=1)


def test_one_incident_per_cause(plan, store):
    manager = IncidentManager(plan, store)
    first = manager.report("canary:error_rate", "SEV-3", "error rate 6%")
    seen = store.incident(first)["last_seen_at"]
    again = manager.report("canary:error_rate", "sev3", "error rate 7%")
    other = manager.report("canary:latency_p95", "SEV-3", "p95 3.5 s")
    assert again == first and other != first
    assert len(store.incidents(status="active")) == 2
    incident = store.incident(first)
    assert incident["details"]["reports"] == 2 and incident["last_seen_at"] > seen
    assert incident["summary"] == "error rate 6%"  # a repeat at the same severity only touches it
    # once resolved, the same cause opens a new incident
    manager.resolve(first, "priya")
    assert manager.report("canary:error_rate", "SEV-3", "back again") not in (first, other)


def test_severity_rise_escalates_and_sev1_rolls_back_once(plan, sqlite_store):
    calls = []
    manager = IncidentManager(plan, sqlite_store, rollback=lambda reason: calls.append(reason))
    incident_id = manager.report("canary:error_rate", "SEV-3", "error rate 6%")
    assert calls == []
    assert manager.report("canary:error_rate", "SEV-2", "error rate 12%") == incident_id
    assert calls == []  # SEV-2's policy has no rollback
    assert manager.report("canary:error_rate", "SEV-1", "error rate 25%") == incident_id
    assert manager.report("canary:error_rate", "SEV-1", "error rate 30%") == incident_id
    assert manager.report("canary:error_rate", "SEV-3", "error rate 6%") == incident_id
    incident = sqlite_store.incident(incident_id)
    assert incident["severity"] == "SEV-1"  # never downgraded by a milder report
    assert [h["severity"] for h in incident["details"]["history"]] == ["SEV-3", "SEV-2", "SEV-1"]
    assert calls == [f"SEV-1 incident #{incident_id}: error rate 25%"]
    assert incident["details"]["rollback"]["ok"] is True
    actions = [e["action"] for e in sqlite_store.events(limit=None)]
    assert actions.count("incident.escalate") == 2 and actions.count("incident.open") == 1


def test_failing_rollback_is_recorded_not_raised(plan, sqlite_store):
    def broken(reason):
        raise RuntimeError("router unreachable")

    incident_id = IncidentManager(plan, sqlite_store, rollback=broken).report("probe:availability", "SEV-1", "down")
    rollback = sqlite_store.incident(incident_id)["details"]["rollback"]
    assert rollback["ok"] is False and "router unreachable" in rollback["error"]


def test_auto_resolve_after_quiet_period(plan, store):
    manager = IncidentManager(plan, store)
    auto = manager.report("post-launch:latency_p95", "SEV-3", "p95 3.4 s")
    manual = manager.report("manual:billing", "SEV-3", "billing page slow", actor="priya", auto_resolve=False)
    seen = store.incident(auto)["last_seen_at"]
    quiet = plan.incident_response.auto_resolve_after
    assert quiet == 900
    assert manager.sweep(seen + dt.timedelta(seconds=quiet - 1)) == []
    done = manager.sweep(seen + dt.timedelta(seconds=quiet + 1))
    assert [d["incident"] for d in done if d["action"] == "resolve"] == [auto]
    resolved = store.incident(auto)
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "auto"
    assert "quiet for 15m" in resolved["details"]["note"]
    assert store.incident(manual)["status"] != "resolved"


def test_unacknowledged_incident_escalates_along_the_on_call_ladder(plan, sqlite_store):
    manager = IncidentManager(plan, sqlite_store)
    incident_id = manager.report("manual:outage", "SEV-1", "API down", actor="priya", auto_resolve=False)
    opened = sqlite_store.incident(incident_id)["opened_at"]
    assert manager.sweep(opened + 4 * MIN) == []
    assert manager.sweep(opened + 5 * MIN) == [{"incident": incident_id, "action": "page", "to": "secondary"}]
    assert manager.sweep(opened + 6 * MIN) == []
    # a late sweep still walks the ladder one rung at a time: nobody is skipped
    assert manager.sweep(opened + 40 * MIN)[0]["to"] == "engineering-lead"
    assert manager.sweep(opened + 40 * MIN)[0]["to"] == "cto"
    assert manager.sweep(opened + 60 * MIN) == []
    assert sqlite_store.incident(incident_id)["escalated_to"] == "cto"


def test_acknowledged_incident_does_not_escalate_and_ladder_starts_at_the_sev_target(plan, sqlite_store):
    manager = IncidentManager(plan, sqlite_store)
    sev2 = manager.report("manual:a", "SEV-2", "slow", actor="p", auto_resolve=False)
    sev1 = manager.report("manual:b", "SEV-1", "down", actor="p", auto_resolve=False)
    manager.acknowledge(sev1, "priya")
    opened = sqlite_store.incident(sev2)["opened_at"]
    assert manager.sweep(opened + 14 * MIN) == []  # SEV-2 target is 15 min; SEV-1 is acknowledged
    assert manager.sweep(opened + 15 * MIN) == [{"incident": sev2, "action": "page", "to": "secondary"}]
    assert sqlite_store.incident(sev1)["escalated_to"] is None


def test_response_times_against_targets(plan, sqlite_store):
    manager = IncidentManager(plan, sqlite_store)
    incident_id = manager.report("manual:x", "SEV-1", "down", actor="p", auto_resolve=False)
    opened = sqlite_store.incident(incident_id)["opened_at"]
    # acknowledged 7 minutes in (target 5), resolved at 20
    sqlite_store.update_incident(incident_id, "p", "acknowledge", status="acknowledged",
                                 acknowledged_at=opened + 7 * MIN, acknowledged_by="p")
    manager.resolve(incident_id, "p", at=opened + 20 * MIN)
    t = response_times(plan, sqlite_store.incident(incident_id))
    assert t.target == 300 and t.time_to_acknowledge == 420 and t.time_to_resolve == 1200 and t.duration == 1200
    assert t.acknowledge_met is False and t.resolve_met is False
    quick = manager.report("manual:y", "SEV-3", "slow", actor="p", auto_resolve=False)
    manager.acknowledge(quick, "p")
    t = response_times(plan, sqlite_store.incident(quick))
    assert t.target == 3600 and t.acknowledge_met is True and t.time_to_resolve is None and t.resolve_met is None
    # not acknowledged and past the target: already missed
    late = manager.report("manual:z", "SEV-2", "errors", actor="p", auto_resolve=False)
    opened = sqlite_store.incident(late)["opened_at"]
    assert response_times(plan, sqlite_store.incident(late), now=opened + 16 * MIN).acknowledge_met is False


def test_bad_input_is_a_usage_error(plan, sqlite_store):
    manager = IncidentManager(plan, sqlite_store)
    with pytest.raises(UsageError, match="unknown severity 'SEV-9'; use SEV-1"):
        manager.report("x", "SEV-9", "y")
    with pytest.raises(UsageError, match="no incident #42"):
        manager.acknowledge(42, "p")
    incident_id = manager.report("x", "SEV-3", "y")
    manager.resolve(incident_id, "p")
    with pytest.raises(UsageError, match="already resolved"):
        manager.acknowledge(incident_id, "p")
    assert [normalise_severity(v) for v in ("sev1", "SEV2", "SEV-3", 1)] == ["SEV-1", "SEV-2", "SEV-3", "SEV-1"]


def test_each_audience_gets_its_template(plan, sqlite_store, wired_env, receiver, smtp):
    notifier = Notifier(plan, sqlite_store, retry=RetryPolicy(2, 0.01, 0.05, 2.0))
    manager = IncidentManager(plan, sqlite_store, notifier, rollback=lambda reason: None)
    incident_id = manager.report("canary:error_rate", "SEV-1", "error rate 27% on canary")
    manager.acknowledge(incident_id, "priya")
    manager.resolve(incident_id, "priya", "rolled back to v2.9.0")
    assert notifier.flush(10)

    slack = [r.json() for r in receiver.wait_for("/slack", 3)]
    assert slack[0]["blocks"][0]["text"]["text"].startswith("[SEV-1] PromptForge v3.0.0 — error rate 27% on canary")
    assert "immediate rollback to v2.9.0" in slack[0]["text"] and "Priya Raman" in slack[0]["text"]
    assert "acknowledged by priya" in slack[1]["text"]
    assert slack[2]["text"].startswith("✅ All clear") and "rolled back to v2.9.0" in slack[2]["text"]

    status = [r.json() for r in receiver.wait_for("/status", 3)]  # audience: public
    assert status[0]["subject"] == "Investigating: PromptForge outage"
    assert status[1]["subject"] == "Identified: PromptForge outage"
    assert status[2]["subject"] == "Resolved: PromptForge outage"
    assert "Priya" not in " ".join(s["text"] for s in status)  # no internal names in public text

    pager = receiver.wait_for("/pager", 3)
    assert [p.json()["kind"] for p in pager] == ["incident.open", "incident.ack", "incident.resolve"]

    mails = smtp.wait_for(2)  # customers hear of the open and the resolution, not the ack
    subjects = [m["Subject"] for _, m in mails]
    assert subjects == ["PromptForge service notice: SEV-1 — error rate 27% on canary",
                        "[Resolved] PromptForge service notice: SEV-1 — error rate 27% on canary"]
    assert "returning the service to the previous version (v2.9.0)" in mails[0][1].get_content()
    rows = sqlite_store.notifications(incident_id=incident_id)
    assert len(rows) == 3 + 3 + 3 + 2 and all(r["ok"] for r in rows)


def test_broken_template_still_notifies_in_plain_text(plan, sqlite_store, receiver, monkeypatch, tmp_path):
    import shutil

    from incident_helpers import plan_with

    folder = tmp_path / "templates"
    shutil.copytree(plan.resolve(plan.templates), folder)
    (folder / "war-room.md.j2").write_text("Subject: {{ incident.nonexistent_field }}\nx\n")
    monkeypatch.setenv("LAUNCH_CONTROL_SLACK_WEBHOOK", receiver.url + "/slack")
    p = plan_with(plan, templates=str(folder))
    notifier = Notifier(p, sqlite_store, retry=RetryPolicy(1, 0.01, 0.01, 2.0))
    IncidentManager(p, sqlite_store, notifier).report("x", "SEV-3", "slow answers")
    (request,) = receiver.wait_for("/slack")
    assert "slow answers" in request.json()["text"] and "could not be rendered" in request.json()["text"]
    (event,) = sqlite_store.events(action="notify.template_error")
    assert "incident.nonexistent_field" in event["details"]["error"]
