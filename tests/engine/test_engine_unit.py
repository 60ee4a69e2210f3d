"""The engine's state machine with fakes of our own protocols (clock, gate, metric source) and
the real noop router and store: ramp, rollback decision, resume, pause, go/no-go, gradual."""

from __future__ import annotations

import os

import pytest
from engine_helpers import FakeClock, ScriptedGate, ScriptedSource, Verdict

from launch_control.plane.traffic.noop import NoopRouter
from launch_control.ramp.engine import Approval, Engine, EngineBusy, StoreApprover
from launch_control.ramp.rollback import RollbackResult
from launch_control.store.db import utcnow


class Crash(BaseException):
    """Stands in for the process dying mid-interval."""


def fake_rollback(calls: list[dict]):
    def rollback(*, reason: str, trigger: str) -> RollbackResult:
        calls.append({"reason": reason, "trigger": trigger})
        return RollbackResult(True, "rolled back", trigger, reason, "engine", "v2.9.0", utcnow(), ttr_seconds=0.1)

    return rollback


def make(plan, store, **kw):
    kw.setdefault("router", NoopRouter())
    kw.setdefault("source", ScriptedSource())
    kw.setdefault("gate", ScriptedGate())
    kw.setdefault("clock", FakeClock())
    kw.setdefault("incidents", False)
    kw.setdefault("notifier", False)
    return Engine(plan, store, **kw)


def test_healthy_ramp_reaches_100_and_records_everything(plan, sqlite_store):
    engine = make(plan, sqlite_store)
    result = engine.run()
    assert result.outcome == "completed"
    assert engine.router.weights_set() == [1, 5, 25, 100]
    state = sqlite_store.state()
    assert state["phase"] == "complete" and state["canary_weight"] == 100
    # 30 min, 1 h, 2 h holds at a 1-minute interval: every interval judged and recorded.
    decisions = sqlite_store.decisions()
    assert [d["step"] for d in decisions].count(0) == 30
    assert [d["step"] for d in decisions].count(2) == 120
    assert all(d["verdict"] == "pass" for d in decisions)
    assert len(sqlite_store.samples(metrics=["requests"], version="canary")) == len(decisions)
    weights = [e["details"]["weight"] for e in sqlite_store.events(action="launch.set_traffic")][::-1]
    assert weights == [1, 5, 25, 100]
    done = {e["entry_id"] for e in sqlite_store.timeline_events() if e["status"] == "done"}
    assert {"canary-1", "canary-5", "canary-25", "full-rollout"} <= done


def test_time_scale_compresses_holds_and_intervals(plan, sqlite_store):
    clock = FakeClock()
    engine = make(plan, sqlite_store, clock=clock, time_scale=60)
    assert engine.interval == 1.0 and engine.hold_seconds(0) == 30.0
    engine.run()
    assert clock.t == pytest.approx((30 + 60 + 120) * 1.0)
    assert sqlite_store.state()["extra"]["time_scale"] == 60


def test_failing_gate_at_the_limit_rolls_back(plan, sqlite_store):
    calls: list[dict] = []

    def judge(n, obs):
        if obs.canary.errors >= 30:
            return Verdict("fail", "canary error rate 30.0% > 20% (SEV-1)", "SEV-1", rollback=n >= 33)
        return Verdict("pass", "ok")

    source = ScriptedSource(lambda n: 30 if n > 31 else 0)  # fault in step 2 (5%)
    engine = make(plan, sqlite_store, source=source, gate=ScriptedGate(judge), rollback=fake_rollback(calls))
    result = engine.run()
    assert result.outcome == "rolled_back" and result.step == 1
    assert calls == [{"reason": "canary error rate 30.0% > 20% (SEV-1)", "trigger": "gate"}]
    verdicts = [d["verdict"] for d in sqlite_store.decisions()]
    assert verdicts[-2:] == ["fail", "fail"] and len(verdicts) == 33
    assert engine.router.weights_set() == [1, 5]


def test_hold_and_single_fail_do_not_advance_a_step(plan, sqlite_store):
    # Step 1 needs 30 green minutes: holds (no traffic) and a lone fail under the failure limit
    # do not count towards it; the step keeps holding until 30 intervals have passed.
    script = ["hold"] * 5 + ["pass"] * 29 + ["fail"] + ["pass"] * 2

    def judge(n, _obs):
        outcome = script[n - 1] if n <= len(script) else "pass"
        return Verdict(outcome, f"interval {n}: {outcome}", "SEV-3" if outcome == "fail" else None)

    engine = make(plan, sqlite_store, gate=ScriptedGate(judge))
    engine.begin()
    engine.enter_step(0)
    step = engine.hold_step(0)
    assert step.outcome == "advance"
    assert step.intervals == 36  # 5 holds + 1 fail + 30 passes
    assert sqlite_store.state()["current_step"] == 0


def test_incident_reported_on_a_failing_verdict_and_sev1_policy_rolls_back(plan, sqlite_store):
    calls: list[dict] = []

    class Incidents:
        def __init__(self):
            self.reports = []
            self.engine = None

        def report(self, cause, severity, summary, actor="auto"):
            self.reports.append((cause, severity, summary, actor))
            self.engine._request_rollback(f"{severity} policy: {summary}")
            return 1

    incidents = Incidents()
    failing = Verdict("fail", "error rate 25% > 20%", "SEV-1", details={"metric": "error_rate"})
    gate = ScriptedGate(lambda n, _o: failing)
    engine = make(plan, sqlite_store, gate=gate, incidents=incidents, rollback=fake_rollback(calls))
    incidents.engine = engine
    result = engine.run()
    assert incidents.reports == [("canary:error_rate", "SEV-1", "error rate 25% > 20%", "engine")]
    assert result.outcome == "rolled_back"
    assert calls == [{"reason": "SEV-1 policy: error rate 25% > 20%", "trigger": "incident"}]


def test_killed_engine_resumes_at_the_recorded_step_and_reasserts_traffic(plan, sqlite_store):
    def crash_in_step_3(n, _obs):
        if n == 30 + 60 + 10:
            raise Crash()
        return Verdict("pass", "ok")

    first = make(plan, sqlite_store, gate=ScriptedGate(crash_in_step_3))
    with pytest.raises(Crash):
        first.run()
    state = sqlite_store.state()
    assert state["current_step"] == 2 and state["canary_weight"] == 25
    assert state["extra"]["evidence"]["green_seconds"] == pytest.approx(9 * 60)

    router = NoopRouter(initial=0)  # the traffic plane lost its state too
    second = make(plan, sqlite_store, router=router, gate=ScriptedGate())
    result = second.run()
    assert result.outcome == "completed"
    assert router.weights_set() == [25, 100]  # re-asserted first, never back to 1%
    # Only the unobserved rest of the 2 h hold: 120 - 9 intervals.
    assert len([d for d in sqlite_store.decisions() if d["step"] == 2]) == 9 + 111
    assert sqlite_store.count_events("engine.resume") == 1


def test_a_live_engine_holds_the_lease(plan, sqlite_store):
    engine = make(plan, sqlite_store)
    engine.begin()
    sqlite_store.update_state(
        extra={
            **sqlite_store.state()["extra"],
            "engine": {"pid": os.getppid(), "host": os.uname().nodename, "at": utcnow().isoformat()},
        }
    )
    with pytest.raises(EngineBusy, match="is running this launch"):
        make(plan, sqlite_store).begin()


def test_pause_after_inconclusive_limit_and_resume(plan, sqlite_store):
    clock = FakeClock()
    gate = ScriptedGate(
        lambda n, _o: Verdict("hold", "not enough traffic (3 < 20 requests)") if n <= 12 else Verdict("pass", "ok")
    )
    engine = make(plan, sqlite_store, clock=clock, gate=gate)

    def resume_later(t):
        if sqlite_store.state()["paused"] and t > 20 * 60:
            from launch_control.control import operations as ops

            ops.resume(ops.Control(plan, sqlite_store), ops.Actor("lead", "cli"), "enough traffic now")

    clock.on_sleep = resume_later
    engine.begin()
    engine.enter_step(0)
    engine.hold_step(0)
    assert sqlite_store.count_events("launch.pause") == 1
    # paused from interval 10 to ~20: the 30 green minutes are counted only while not paused.
    assert gate.calls > 40


def test_no_go_rolls_back_and_go_advances(plan, sqlite_store):
    from engine_helpers import plan_with

    gated = plan_with(plan, canary={**plan.canary.model_dump(mode="json"), "go_no_go": True})
    calls: list[dict] = []
    answers = iter([Approval(True, "priya"), Approval(False, "dana", "error budget spent")])
    engine = make(gated, sqlite_store, approver=lambda i, s: next(answers), rollback=fake_rollback(calls))
    result = engine.run()
    assert result.outcome == "rolled_back" and result.step == 1
    assert calls[0]["trigger"] == "no-go" and "error budget spent" in calls[0]["reason"]
    assert sqlite_store.count_events("engine.go") == 1 and sqlite_store.count_events("engine.no_go") == 1


def test_store_approver_sees_launch_control_approve(sqlite_store):
    clock = FakeClock()
    clock.on_sleep = lambda t: t > 3 and sqlite_store.audit("lead", "launch.approve", step=2, note="go")
    answer = StoreApprover(sqlite_store, clock, poll=1.0, timeout=60)(2, None)
    assert answer == Approval(True, "lead", "go")
    timeout = StoreApprover(sqlite_store, FakeClock(), poll=1.0, timeout=5)(3, None)
    assert not timeout.approved and timeout.by == "timeout"


def test_gradual_rollback_steps_down_then_rolls_back(plan, sqlite_store):
    calls: list[dict] = []
    router = NoopRouter(initial=25)
    engine = make(plan, sqlite_store, router=router, rollback=fake_rollback(calls))
    sqlite_store.update_state(phase="ramping", current_step=2, canary_weight=25)
    result = engine.gradual_rollback("latency creeping up")
    assert router.weights_set() == [5]  # 25 → 5, then the rollback takes it to 0
    assert result.outcome == "rolled_back" and calls[0]["trigger"] == "gradual"
    assert len(sqlite_store.decisions()) == 1  # watched 1 interval (gradual_hold 1m) at 5%


def test_router_that_never_answers_leads_to_rollback(plan, sqlite_store):
    from launch_control.errors import RouterError

    class DeadRouter(NoopRouter):
        def set_weight(self, canary_percent):
            raise RouterError("gateway admin API unreachable")

    calls: list[dict] = []
    result = make(plan, sqlite_store, router=DeadRouter(), rollback=fake_rollback(calls)).run()
    assert result.outcome == "rolled_back" and calls[0]["trigger"] == "router"
    assert "unreachable" in calls[0]["reason"]


def test_bad_time_scale_is_a_usage_error(plan, sqlite_store):
    from launch_control.errors import UsageError

    with pytest.raises(UsageError, match="time scale must be positive"):
        Engine(plan, sqlite_store, time_scale=0)
