"""The timeline is true: stages and ramp steps record running → done / failed when they happen,
whoever runs them (here the engine and the stage functions the CLI and the flows share)."""

from __future__ import annotations

from engine_helpers import FakeClock, ScriptedGate, ScriptedSource, Verdict

from launch_control.control import operations as ops
from launch_control.plane.traffic.noop import NoopRouter
from launch_control.ramp import stages
from launch_control.ramp.engine import Engine
from launch_control.ramp.rollback import RollbackResult
from launch_control.store.db import utcnow


def engine(plan, store, **kw):
    kw.setdefault("gate", ScriptedGate())
    return Engine(plan, store, router=NoopRouter(), source=ScriptedSource(), clock=FakeClock(), incidents=False,
                  notifier=False, **kw)  # fmt: skip


def history(store) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for event in store.timeline_events():
        seen.setdefault(event["entry_id"], []).append(event["status"])
    return seen


def test_a_completed_ramp_records_each_step_when_it_runs_and_ends(plan, sqlite_store):
    assert engine(plan, sqlite_store).run().outcome == "completed"
    seen = history(sqlite_store)
    assert seen["canary-1"] == ["running", "done"]  # the ramp entry: started, then all steps green
    assert seen["canary-5"] == ["running", "done"] and seen["canary-25"] == ["running", "done"]
    assert seen["full-rollout"][-1] == "done"


def test_a_rollback_marks_the_step_and_the_ramp_failed(plan, sqlite_store):
    def judge(n, _obs):
        return Verdict("fail", "errors 30% (SEV-1)", "SEV-1", rollback=True) if n > 30 else Verdict("pass", "ok")

    def rollback(*, reason, trigger):
        return RollbackResult(True, "rolled back", trigger, reason, "engine", "v2.9.0", utcnow(), ttr_seconds=0.1)

    result = engine(plan, sqlite_store, gate=ScriptedGate(judge), rollback=rollback).run()
    assert result.outcome == "rolled_back" and result.step == 1
    seen = history(sqlite_store)
    assert seen["canary-5"] == ["running", "failed"] and seen["canary-1"][-1] == "failed"
    assert "canary-25" not in seen


def test_stages_record_running_then_done_or_failed_with_who_ran_them(plan, sqlite_store):
    ctl = ops.Control(plan, sqlite_store)
    report = stages.preflight(ctl, ops.Actor("flow:launch_day", "flow"))  # the shipped plan's checks fail here
    events = [e for e in sqlite_store.timeline_events() if e["entry_id"] == "pre-launch-verification"]
    assert [e["status"] for e in events] == ["running", "done" if report.ok else "failed"]
    assert all("flow:launch_day" in e["detail"] for e in events)
