"""Parts of the launch engine kept out of its pipeline: results, the go/no-go wait, judging one
interval (on the weight the router really serves), the gradual rollback, and reading from the
launch state that someone else has ended the ramp.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from launch_control.control.state import LaunchState, Phase
from launch_control.errors import RouterError
from launch_control.ramp.observations import Observation
from launch_control.store.db import utcnow

if TYPE_CHECKING:
    from launch_control.plan.model import CanaryStep
    from launch_control.ramp.analysis import Verdict
    from launch_control.ramp.engine import Engine
    from launch_control.ramp.rollback import RollbackResult
    from launch_control.store.db import Store


class Clock:
    """Monotonic time and sleep; tests pass a fake one."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class _Ended(Exception):  # noqa: N818 — a signal inside the engine, not an error
    """Someone else ended the ramp (or this engine stopped mid-pass): unwind to the caller."""

    def __init__(self, final: RampResult):
        super().__init__(final.reason)
        self.final = final


@dataclass
class RampResult:
    """How a ramp ended: ``completed``, ``rolled_back``, ``rolling_back`` (someone else's rollback
    still running), ``rollback_failed``, ``aborted``, or ``rollback_needed`` (an engine with
    ``auto_rollback=False`` leaves the rollback to its caller, e.g. a flow)."""

    outcome: str
    reason: str
    step: int | None
    weight: float
    rollback: RollbackResult | None = None
    trigger: str | None = None  # what asked for the rollback (gate, no-go, router, incident, ...)

    @property
    def ok(self) -> bool:
        return self.outcome == "completed"


@dataclass
class StepResult:
    """How one step's hold ended: ``advance`` or a final ``RampResult`` (rollback, stop)."""

    outcome: str  # "advance" | "end"
    reason: str
    intervals: int = 0
    final: RampResult | None = None


@dataclass
class Approval:
    approved: bool
    by: str
    note: str = ""


def ended_by_other(state: LaunchState) -> RampResult | None:
    """The ramp was ended outside this engine (a rollback, an abort, a promotion): how, by whom."""
    by = state.ended_by or "someone"
    why = f": {state.ended_reason}" if state.ended_reason else ""
    step, weight = state.current_step, state.canary_weight
    words = {
        Phase.ROLLED_BACK: ("rolled_back", f"rolled back by {by}{why}"),
        Phase.ROLLING_BACK: ("rolling_back", f"being rolled back by {by}{why}"),
        Phase.ROLLBACK_FAILED: ("rollback_failed", f"rollback by {by} FAILED{why}"),
        Phase.ABORTED: ("aborted", f"aborted by {by}{why}"),
        Phase.COMPLETE: ("completed", f"promoted by {by}{why}"),
    }
    if state.phase not in words:
        return None
    outcome, reason = words[state.phase]
    return RampResult(outcome, reason, step, weight)


class StoreApprover:
    """Go/no-go through the store: waits for ``launch-control approve`` (operations.approve /
    no_go write the answer into the launch state; older ``launch.approve`` audit rows count too)."""

    def __init__(self, store: Store, clock: Clock | None = None, *, poll: float = 1.0, timeout: float | None = None,
                 heartbeat: Callable[[], Any] | None = None):  # fmt: skip
        self.store, self.clock, self.poll, self.timeout = store, clock or Clock(), poll, timeout
        self.heartbeat = heartbeat

    def __call__(self, step: int, canary_step: CanaryStep) -> Approval:
        since = utcnow()
        deadline = self.clock.now() + (self.timeout if self.timeout is not None else 3600.0)
        while self.clock.now() < deadline:
            state = self.store.launch_state()
            answer = state.extra.get("approval") or {}
            if answer and answer.get("step") in (None, step):
                return Approval(bool(answer.get("approved")), str(answer.get("by")), str(answer.get("note") or ""))
            if ended_by_other(state) is not None:
                return Approval(False, state.ended_by or "someone", "the ramp was ended while waiting")
            for event in self.store.events(since=since, limit=20):
                if event["action"] in ("launch.approve", "launch.no_go", "launch.reject"):
                    details = event.get("details") or {}
                    if details.get("step") not in (None, step):
                        continue
                    return Approval(event["action"] == "launch.approve", event["actor"], str(details.get("note", "")))
            if self.heartbeat is not None:
                self.heartbeat()
            self.clock.sleep(self.poll)
        return Approval(False, "timeout", "no go/no-go answer in time")


def judge_interval(
    engine: Engine, step: int, weight: float, *, state: LaunchState | None = None, served: float | None = None
) -> tuple[Verdict, Observation]:
    """Observe one interval, judge it, record samples and the decision at the weight really served."""
    try:
        obs = engine.source.observe(engine.interval)
    except Exception as exc:  # the contract says never raise; a broken adapter must not stop the ramp
        obs = Observation(at=utcnow(), interval=engine.interval, error=f"metric source failed: {exc}")
    if obs.weight is None:
        obs.weight = weight  # the share really served: how many canary requests stable's traffic implies
    if obs.error is None:
        with contextlib.suppress(Exception):
            engine.store.record_samples(obs.samples())
    verdict = engine.gate.judge(obs)
    details = dict(getattr(verdict, "details", None) or {})
    if obs.canary is not None:
        details.setdefault("canary_requests", obs.canary.requests)
        details.setdefault("canary_errors", obs.canary.errors)
    if obs.stable is not None:
        details.setdefault("stable_requests", obs.stable.requests)
        details.setdefault("stable_errors", obs.stable.errors)
    if obs.error:
        details.setdefault("source_error", obs.error)
    reason = verdict.reason
    if state is not None:
        target = engine.ctl.step_weight(state)
        details.update(served_weight=served, recorded_weight=state.canary_weight, step_weight=target)
        if target is not None and abs(weight - target) > 1e-9:
            reason += f" (judged at the {weight:g}% really served; step {step + 1} holds {target:g}%)"
        if state.paused:
            reason += " [paused: green time does not count]"
    engine.store.record_decision(
        verdict.outcome, reason, step=step, weight=weight, severity=verdict.severity, details=details
    )
    mark = {"pass": "✓", "hold": "…", "fail": "✗"}.get(verdict.outcome, "?")
    engine._say(f"  {mark} {weight:g}% {verdict.outcome}: {reason}")
    if verdict.outcome == "fail" and verdict.severity:
        manager = engine.incidents
        if manager is not None:
            metric = details.get("metric") or details.get("failed_metric") or "gate"
            with contextlib.suppress(Exception):
                manager.report(f"canary:{metric}", verdict.severity, verdict.reason, actor=engine.actor)
    return verdict, obs


def gradual(engine: Engine, reason: str, actor: str) -> RampResult:
    """Step the canary down (plan.rollback.gradual_steps), watching each level under the engine's
    lease; any fail, or a router that will not move, → the emergency rollback. At 0% the
    deployment is rolled back and health verified like an emergency rollback."""
    plan = engine.plan
    state = engine.store.launch_state()
    current = state.canary_weight
    levels = [w for w in plan.rollback.gradual_steps if 0 < w < current]
    if actor != engine.actor:
        reason = f"{reason} (gradual rollback asked for by {actor})"
    engine._write(request=None, gradual={"by": actor, "reason": reason, "levels": levels, "from": current})
    engine._say(f"gradual rollback from {current:g}%: {' → '.join(f'{w:g}%' for w in [*levels, 0.0])}")
    hold = plan.rollback.gradual_hold / engine.time_scale
    step = state.current_step or 0
    _ = engine.source  # built now (the baseline scrape), so the first watched interval has data
    try:
        for level in levels:
            try:
                engine._set_weight(level, state.current_step, "gradual_rollback")
            except RouterError as exc:
                return engine.roll_back(f"{reason}; router failed during gradual rollback: {exc}", trigger="gradual")
            watched = 0.0
            next_tick = engine.clock.now() + engine.interval
            while watched < hold:
                engine.clock.sleep(next_tick - engine.clock.now())
                next_tick += engine.interval
                ended = ended_by_other(engine.store.launch_state())
                if ended is not None:
                    raise _Ended(ended)
                verdict, _ = judge_interval(engine, step, level)
                watched += engine.interval
                engine._write()  # heartbeat
                if engine._incident_rollback is not None:
                    final, engine._incident_rollback = engine._incident_rollback, None
                    return final
                if verdict.outcome == "fail":
                    return engine.roll_back(f"{reason}; gate failed at {level:g}%: {verdict.reason}", trigger="gradual")
    except _Ended as stopped:
        return engine._stopped(stopped.final)
    return engine.roll_back(reason, trigger="gradual")
