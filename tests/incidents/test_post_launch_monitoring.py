"""Post-launch monitoring runs (observe → record → classify → incidents → sweep), phases, the
status check at the timeline's times, and the Prefect deployments for the three phases."""

from __future__ import annotations

import datetime as dt

import pytest

from launch_control.ramp.observations import Observation, VersionWindow
from launch_control.respond import monitoring
from launch_control.respond.incidents import IncidentManager
from launch_control.respond.notify import Notifier, RetryPolicy
from launch_control.store.db import utcnow

H = dt.timedelta(hours=1)


class ScriptedSource:
    """A MetricSource (the project's own protocol) that returns prepared observations in order."""

    name = "scripted"

    def __init__(self, *observations: Observation):
        self.observations = list(observations)
        self.intervals: list[float] = []

    def observe(self, interval: float) -> Observation:
        self.intervals.append(interval)
        return self.observations.pop(0)

    def is_online(self) -> bool:
        return True


def window(requests=500, errors=0, p95=0.2, **kw):
    return VersionWindow(requests=requests, errors=errors, latency_avg=p95 / 2, latency_p95=p95, **kw)


def obs(canary=None, stable=None, error=None):
    return Observation(at=utcnow(), interval=300, canary=canary, stable=stable, error=error)


def test_breach_opens_incident_with_the_plan_sev_and_quiet_resolves_it(plan, sqlite_store):
    source = ScriptedSource(
        obs(canary=window(errors=60, p95=3.5), stable=window()),  # 12% errors → SEV-2, p95 3.5 s → SEV-3
        obs(canary=window(errors=2), stable=window()),
    )
    manager = IncidentManager(plan, sqlite_store)
    start = utcnow()
    run = monitoring.run_once(plan, sqlite_store, source=source, manager=manager, now=start)
    assert run.phase == "intensive" and source.intervals == [300]  # the intensive phase's 5 minutes
    assert {b.metric: b.severity for b in run.breaches} == {"error_rate": "SEV-2", "latency_p95": "SEV-3"}
    assert run.verdict == "failing" and run.samples > 0
    incidents = {i["cause"]: i for i in sqlite_store.incidents(status="active")}
    assert incidents["post-launch:error_rate"]["severity"] == "SEV-2"
    assert "error_rate 12.00% on canary" in incidents["post-launch:error_rate"]["summary"]
    assert incidents["post-launch:latency_p95"]["severity"] == "SEV-3"
    assert {s.metric for s in sqlite_store.samples(version="canary")} >= {"error_rate", "latency_p95", "requests"}

    later = start + dt.timedelta(minutes=20)  # quiet for longer than auto_resolve_after (15 min)
    run = monitoring.run_once(plan, sqlite_store, source=source, manager=manager, now=later)
    assert run.verdict == "ok" and run.breaches == []
    assert sorted(d["action"] for d in run.swept) == ["resolve", "resolve"]
    assert sqlite_store.incidents(status="active") == []
    assert sqlite_store.events(action="monitoring.run")[0]["details"]["verdict"] == "ok"


def test_low_traffic_is_not_judged_and_a_blind_source_is_an_incident(plan, sqlite_store):
    source = ScriptedSource(
        obs(canary=window(requests=5, errors=4)),  # 80% of 5 requests: too little traffic to judge
        obs(error="metric source down: connection refused"),
    )
    manager = IncidentManager(plan, sqlite_store)
    run = monitoring.run_once(plan, sqlite_store, source=source, manager=manager)
    assert run.breaches == [] and sqlite_store.incidents() == []
    run = monitoring.run_once(plan, sqlite_store, source=source, manager=manager)
    assert run.verdict == "blind"
    (incident,) = sqlite_store.incidents()
    assert incident["cause"] == "post-launch:metric-source" and incident["severity"] == "SEV-3"
    assert "connection refused" in incident["summary"]


def test_availability_below_limit_is_sev1(plan, sqlite_store):
    calls = []
    manager = IncidentManager(plan, sqlite_store, rollback=calls.append)
    source = ScriptedSource(obs(canary=window(availability=0.2)))
    run = monitoring.run_once(plan, sqlite_store, source=source, manager=manager)
    assert [(b.metric, b.severity) for b in run.breaches] == [("availability", "SEV-1")]
    assert len(calls) == 1  # SEV-1 policy: immediate rollback


def test_phases_follow_the_plan(plan, sqlite_store):
    assert monitoring.current_phase(plan, sqlite_store) is None  # not begun
    start = monitoring.begin(sqlite_store, utcnow() - 30 * H)
    assert monitoring.begin(sqlite_store) == start  # idempotent
    names = {h: getattr(monitoring.current_phase(plan, sqlite_store, start + h * H), "name", None)
             for h in (0, 23.9, 24, 47, 48, 71.9, 72)}
    assert names == {0: "intensive", 23.9: "intensive", 24: "extended", 47: "extended", 48: "stabilization",
                     71.9: "stabilization", 72: None}
    assert monitoring.finished(plan, sqlite_store, start + 72 * H)


def test_flow_logic_skips_outside_its_phase(plan, sqlite_store):
    from launch_control.flows.post_launch import run_phase

    manager = IncidentManager(plan, sqlite_store)
    assert "has not begun" in run_phase(plan, sqlite_store, "extended", manager=manager)["skipped"]
    start = utcnow()
    result = run_phase(plan, sqlite_store, "intensive", now=start, manager=manager,
                       source=ScriptedSource(obs(canary=window())))
    assert result["phase"] == "intensive" and result["verdict"] == "ok"
    skipped = run_phase(plan, sqlite_store, "extended", now=start + H, manager=manager)["skipped"]
    assert "not in phase extended" in skipped
    assert "over" in run_phase(plan, sqlite_store, "stabilization", now=start + 73 * H, manager=manager)["skipped"]
    from launch_control.errors import UsageError

    with pytest.raises(UsageError, match="unknown post-launch phase 'weekly'"):
        run_phase(plan, sqlite_store, "weekly")


def test_status_check_posts_and_marks_the_timeline(plan, sqlite_store, wired_env, receiver):
    manager = IncidentManager(plan, sqlite_store)
    monitoring.run_once(plan, sqlite_store, manager=manager,
                        source=ScriptedSource(obs(canary=window(requests=1200, errors=5, p95=0.21))))
    notifier = Notifier(plan, sqlite_store, retry=RetryPolicy(2, 0.01, 0.05, 2.0))
    result = monitoring.post_status_check(plan, sqlite_store, notifier=notifier, entry_id="status-1800")
    assert notifier.flush(10)
    assert result["verdict"] == "ok" and result["requests"] == 1200
    (slack,) = receiver.wait_for("/slack")  # status checks go to the routine (SEV-3) channel
    payload = slack.json()
    assert payload["blocks"][0]["text"]["text"] == "PromptForge v3.0.0 status check — Status check (ok)"
    assert "1200 requests, error rate 0.42%" in payload["text"]
    assert receiver.at("/pager") == []
    (event,) = [e for e in sqlite_store.timeline_events() if e["entry_id"] == "status-1800"]
    assert event["status"] == "done" and "ok" in event["detail"]


def test_deployments_for_three_phases_and_status_checks(plan):
    from launch_control.flows.post_launch import post_launch_deployments, schedules

    specs = schedules(plan, dt.date(2025, 6, 12))
    assert {k: v["interval"] for k, v in specs.items() if "interval" in v} == {
        "post-launch-intensive": 300, "post-launch-extended": 900, "post-launch-stabilization": 3600}
    anchor = specs["post-launch-extended"]["anchor"]
    assert (anchor.isoformat(), str(anchor.tzinfo)) == ("2025-06-13T14:00:00-07:00", "America/Los_Angeles")
    crons = {k: v["cron"] for k, v in specs.items() if "cron" in v}
    assert crons == {"status-check-status-1600": "0 16 12 6 *", "status-check-status-1800": "0 18 12 6 *",
                     "status-check-status-2000": "0 20 12 6 *", "status-check-status-2200": "0 22 12 6 *",
                     "status-check-status-0000": "0 0 13 6 *"}
    deployments = post_launch_deployments(plan, launch_date=dt.date(2025, 6, 12))
    assert len(deployments) == 8
    intensive = next(d for d in deployments if d.name == "post-launch-intensive")
    assert intensive.parameters == {"phase": "intensive", "plan_path": plan.source}
    assert intensive.schedules[0].schedule.interval == dt.timedelta(minutes=5)
    check = next(d for d in deployments if d.name == "status-check-status-0000")
    assert check.schedules[0].schedule.cron == "0 0 13 6 *"
    assert check.schedules[0].schedule.timezone == "America/Los_Angeles"


def test_a_null_window_the_gate_holds_on_opens_no_incident(plan, sqlite_store):
    # 2 errors in 31 requests (6.5 % > the 5 % SEV-3 limit) is small-sample noise for a 1 % service:
    # the ramp's gate holds on it ("not yet significant"); monitoring uses the same breach logic.
    from launch_control.ramp.analysis import Gate

    noisy = obs(canary=window(requests=31, errors=2), stable=window(requests=3000, errors=30))
    verdict = Gate(plan.analysis).judge(noisy)
    assert verdict.outcome == "hold" and "not yet significant" in verdict.reason
    manager = IncidentManager(plan, sqlite_store)
    source = ScriptedSource(noisy, noisy, obs(canary=window(requests=300, errors=75), stable=window(3000, 30)))
    for _ in range(2):
        run = monitoring.run_once(plan, sqlite_store, source=source, manager=manager)
        assert run.breaches == [] and run.verdict == "ok"
    assert sqlite_store.incidents() == []
    # A credible breach (75 of 300, 25 %) still opens one, with the plan's severity.
    run = monitoring.run_once(plan, sqlite_store, source=source, manager=manager)
    assert {b.metric: b.severity for b in run.breaches} == {"error_rate": "SEV-1"}
    assert [i["cause"] for i in sqlite_store.incidents(status="active")] == ["post-launch:error_rate"]
