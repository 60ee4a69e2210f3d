"""The launch engine: the plan's canary ramp, one reconciling pass per analysis interval.

    begin (take the lease) ──► enter step i ──► every interval:
        read the launch state ─► ended by someone (rollback, abort, promote)? ─► stop, say who and why
                               ─► a gradual rollback asked for?               ─► carry it out
                               ─► traffic moved / paused / resumed?          ─► adapt (re-assert the step)
        read the weight the router really serves ─► observe ─► judge ─► persist evidence + heartbeat
          ├─ green for the whole hold ─► [go/no-go] ─► step i+1 … 100% ─► complete
          ├─ fail at the failure limit / SEV-1 ─► rollback
          └─ hold (no data, too little traffic) ─► keep holding; pause at the inconclusive limit

Nothing a step accumulates lives only in memory: green time, intervals, streaks and the gate's
sequential evidence (``Gate.snapshot()``) are written with the state every interval, through the
lease (compare-and-swap on the revision), so a process that dies mid-step is continued by the
next with the same evidence, and two engines never both run a launch. Traffic changes go through
``launch_control.control.operations`` (one audit name, the same retries as a person's change).

Pure enough to test without Prefect: router, metric source, gate, clock and approver are
parameters; ``time_scale`` compresses holds and intervals for rehearsals.

The parts built on first use and the recording (output, timeline, notifications, the leased
state write) are the ``EngineServices`` mixin in ``launch_control.ramp.engine_services``; this
module is the pipeline, the go/no-go and the endings.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from launch_control.control import operations as ops
from launch_control.control.lease import EngineBusy, EngineLease, LeaseLost, pid_alive
from launch_control.control.state import Evidence, LaunchState, Phase
from launch_control.control.timeline import record_stage
from launch_control.errors import RouterError, UsageError
from launch_control.ramp import feasibility
from launch_control.ramp.engine_parts import (
    Approval,
    Clock,
    RampResult,
    StepResult,
    StoreApprover,
    _Ended,
    ended_by_other,
)
from launch_control.ramp.engine_services import MIN_INTERVAL, EngineServices
from launch_control.store.db import utcnow

if TYPE_CHECKING:
    from launch_control.plan.model import CanaryStep, Plan
    from launch_control.plane.deploy.base import Deployer
    from launch_control.plane.metrics.base import MetricSource
    from launch_control.plane.traffic.base import TrafficRouter
    from launch_control.ramp.analysis import Gate, Verdict
    from launch_control.ramp.observations import Observation
    from launch_control.ramp.rollback import RollbackResult
    from launch_control.respond.incidents import IncidentManager
    from launch_control.respond.notify import Notifier
    from launch_control.store.db import Store

log = logging.getLogger(__name__)

ACTIVE_PHASES = ("ramping", "paused", "awaiting_approval", "rolling_back")
WATCH_SLICE = 0.25  # seconds: how often a waiting engine looks whether someone ended the ramp

__all__ = ["MIN_INTERVAL", "Approval", "Clock", "Engine", "EngineBusy", "LeaseLost", "RampResult", "StepResult",
           "StoreApprover", "build_engine", "carry_out", "pid_alive"]  # fmt: skip


class Engine(EngineServices):
    """Runs one launch's canary ramp. One engine per launch at a time (the lease says so)."""

    def __init__(
        self,
        plan: Plan,
        store: Store,
        *,
        router: TrafficRouter | None = None,
        source: MetricSource | None = None,
        gate: Gate | None = None,
        time_scale: float | None = None,
        actor: str = "engine",
        clock: Clock | None = None,
        approver: Callable[[int, CanaryStep], Approval] | None = None,
        rollback: Callable[..., RollbackResult] | None = None,
        deployer: Deployer | None = None,
        incidents: IncidentManager | None = None,
        notifier: Notifier | None = None,
        out: Callable[[str], None] | None = None,
        auto_rollback: bool = True,
        min_interval: float | None = None,
    ):
        if time_scale is not None and time_scale <= 0:
            raise UsageError(f"time scale must be positive (got {time_scale:g}); 1 runs the plan at its real durations")
        self.plan, self.store, self.actor = plan, store, actor
        self.clock = clock or Clock()
        self._time_scale = time_scale
        self._source, self._gate = source, gate
        self._deployer = deployer
        self._rollback_fn = rollback
        self.approver = approver
        self._incidents: IncidentManager | Literal[False] | None = incidents  # False: could not be built
        self._notifier: Notifier | Literal[False] | None = notifier
        self.out = out or (lambda line: log.info("%s", line))
        self._incident_rollback: RampResult | None = None
        # False (the Prefect flows): a needed rollback ends with outcome "rollback_needed" and the
        # flow runs its rollback sub-flow instead.
        self.auto_rollback = auto_rollback
        # Compressing the interval as much as the holds leaves too few requests per interval at 1%;
        # rehearsals keep the interval at least this long (seconds).
        self._min_interval = min_interval
        self.ctl = ops.Control(plan, store, router=router, sleep=self.clock.sleep)
        self.who = ops.Actor(actor, "engine")
        self.lease = EngineLease(store, lambda: self.interval)

    # --- the pipeline ---------------------------------------------------------------------------------------

    def begin(self, *, restart: bool = False) -> int | RampResult:
        """Take the lease, then start a ramp or resume one: the step to run from, or how it ended.

        Resuming re-asserts the recorded weight through the router first, so the traffic plane and
        the record agree even if the crash came between the two.
        """
        state = self.lease.acquire()
        if state.request and state.request.get("kind") == "gradual_rollback":
            return self.gradual_rollback(str(state.request.get("reason") or ""), actor=state.request.get("by"))
        if state.phase == Phase.ROLLING_BACK:
            self._say("a rollback was interrupted; finishing it")
            return self.roll_back("finishing an interrupted rollback", trigger="resume")
        if state.ramping and state.current_step is not None and not restart:
            step = state.current_step
            self._set_weight(state.canary_weight, step, "resume")
            self.store.audit(self.actor, "engine.resume", step=step, weight=state.canary_weight,
                             green_seconds=state.evidence.green_seconds)  # fmt: skip
            self._say(f"resumed at step {step + 1} ({state.canary_weight:g}%), traffic re-asserted")
            return step
        if state.phase == Phase.COMPLETE and not restart:
            self.lease.release()
            return RampResult("completed", "the ramp already reached 100%", state.current_step, state.canary_weight)
        self._write(("engine.start", {"time_scale": self.time_scale, "restart": restart}), phase=Phase.RAMPING,
                    restart=True, current_step=None, step_started_at=None, launch_started_at=utcnow(),
                    time_scale=self.time_scale, min_interval=self.min_interval, evidence=Evidence(), observed=None,
                    ended=None, pause=None, approval=None, awaiting_approval=None, request=None,
                    step_weight=None)  # fmt: skip
        record_stage(self.plan, self.store, "canary_ramp", "running", f"started by {self.actor}")
        self._say(f"ramp started (time scale ×{self.time_scale:g}, analysis every {self.interval:.2f} s)")
        return 0

    def run(self, *, restart: bool = False) -> RampResult:
        """The whole ramp in this process: begin → for each step: [go/no-go] enter, hold → complete."""
        start = self.begin(restart=restart)
        if isinstance(start, RampResult):
            return start
        resumed = self.store.launch_state().current_step == start
        try:
            for i in range(start, len(self.plan.canary.steps)):
                fresh = not (resumed and i == start)
                if fresh and i > 0 and self.needs_approval(i):
                    answer = self.await_approval(i)
                    if not answer.approved:
                        return self.roll_back(f"no-go for step {i + 1} by {answer.by}: {answer.note}", trigger="no-go")
                if fresh:
                    failed = self.enter_step(i)
                    if failed is not None:
                        return failed
                result = self.hold_step(i)
                if result.final is not None:
                    return result.final
            return self.complete()
        except _Ended as ended:
            return self._stopped(ended.final)

    def _stopped(self, final: RampResult) -> RampResult:
        """Someone else ended the ramp: say so, record the step's timeline, give the lease up."""
        self._say(f"STOPPED: {final.reason}")
        if final.step is not None and final.outcome != "completed":
            self._timeline(final.step, "failed")
            record_stage(self.plan, self.store, "canary_ramp", "failed", final.reason)
        self.lease.release()
        return final

    def enter_step(self, step: int) -> RampResult | None:
        """Set the step's weight and record it; a router that will not take it → rollback."""
        weight = self.plan.canary.steps[step].weight
        try:
            _ = self.router
            served = ops.route(self.ctl, weight)
        except RouterError as exc:
            return self.roll_back(f"router failed to set {weight:g}% for step {step + 1}: {exc}", trigger="router")
        self._write((ops.ACTIONS["set_traffic"], {"weight": weight, "step": step, "why": "step", "served": served}),
                    phase=Phase.RAMPING, current_step=step, canary_weight=weight, step_started_at=utcnow(),
                    evidence=Evidence(step=step), served={"weight": served, "at": utcnow().isoformat()},
                    step_weight=None, observed=None)  # fmt: skip
        with contextlib.suppress(Exception):
            self.gate.reset()
        self._timeline(step, "running")
        steps, hold = len(self.plan.canary.steps), self.hold_seconds(step)
        self._say(f"step {step + 1}/{steps}: canary {weight:g}%, hold {hold:.1f} s")
        if note := feasibility.at_step_start(self.plan, self.store, step, self.time_scale):  # thin: issue 16
            self._say(note)
        return None

    def _resume_evidence(self, step: int) -> Evidence:
        saved = self.store.launch_state().evidence
        if saved.step != step:
            with contextlib.suppress(Exception):
                self.gate.reset()
            return Evidence(step=step)
        if saved.gate is not None and hasattr(self.gate, "restore"):
            self.gate.restore(saved.gate)
        else:
            with contextlib.suppress(Exception):
                self.gate.reset()
        return saved

    def hold_step(self, step: int) -> StepResult:
        """Judge every interval until the hold has been observed green, the gate fails, or someone
        else ends the ramp (then the final result says who and why)."""
        try:
            return self._hold(step)
        except _Ended as ended:
            final = self._stopped(ended.final)
            return StepResult("end", final.reason, 0, final)

    def _hold(self, step: int) -> StepResult:
        hold = self.hold_seconds(step)
        planned = self.plan.canary.steps[step].weight
        ev = self._resume_evidence(step)
        if hold <= 0 and planned >= 100:
            self._timeline(step, "done")
            return StepResult("advance", "full rollout: no hold", 0)
        limit = self.plan.analysis.inconclusive_limit
        _ = self.source  # built now: a scraping source takes its baseline here, not at the first tick
        green, intervals, passes, holds = ev.green_seconds, ev.intervals, ev.passes, ev.holds_in_row
        next_tick = self.clock.now() + self.interval
        while True:
            self._wait(next_tick)
            next_tick += self.interval
            state = self._reconcile(step)
            paused = state.paused
            served = ops.served_weight(self.ctl)
            judged = served if served is not None else state.canary_weight
            verdict, _obs = self._judge(step, judged, state=state, served=served)
            intervals += 1
            if self._incident_rollback is not None:  # the SEV-1 policy already rolled back
                final, self._incident_rollback = self._incident_rollback, None
                return StepResult("end", final.reason, intervals, final)
            if verdict.outcome == "fail" and getattr(verdict, "rollback", False):
                return StepResult("end", verdict.reason, intervals, self.roll_back(verdict.reason))
            if verdict.outcome == "pass":
                passes, holds = passes + 1, 0
            elif verdict.outcome == "hold" and not (getattr(verdict, "details", None) or {}).get("gathering"):
                # (gathering a pooled window from thin intervals is progress, not an inconclusive hold)
                holds += 1
                if holds == limit and not paused:
                    self.pause(f"{limit} inconclusive intervals in a row: {verdict.reason}", actor=self.actor)
                    paused = True
            if not paused and verdict.outcome == "pass":
                green += self.interval  # only green intervals count: "held 30 minutes with gates green"
            snapshot = self.gate.snapshot() if hasattr(self.gate, "snapshot") else None
            ev = Evidence(step, green, intervals, passes, int(getattr(self.gate, "failures", 0) or 0), holds,
                          verdict.outcome, snapshot)  # fmt: skip
            self._write(evidence=ev, served={"weight": served, "at": utcnow().isoformat()})
            ready = green >= hold or (getattr(verdict, "promote", False) and verdict.outcome == "pass")
            if not paused and ready and passes > 0 and verdict.outcome != "fail":
                self._timeline(step, "done")
                self.store.audit(self.actor, "engine.step_done", step=step, weight=judged, intervals=intervals)
                self._say(f"step {step + 1} ({judged:g}%) green after {intervals} intervals")
                return StepResult("advance", f"{judged:g}% held {green:.1f} s green", intervals)

    def _wait(self, until: float) -> None:
        """Sleep to the next tick; on the real clock in short slices, looking at the phase, so a
        rollback or abort by someone else ends this engine at once rather than at the next tick."""
        if type(self.clock) is not Clock:
            self.clock.sleep(until - self.clock.now())
            return
        while (left := until - self.clock.now()) > 0:
            self.clock.sleep(min(left, WATCH_SLICE))
            with contextlib.suppress(Exception):
                if ended_by_other(self.store.launch_state()) is not None:
                    return

    def _reconcile(self, step: int) -> LaunchState:
        """The start of every pass: read the state; someone else's end, request or change first."""
        state = self.store.launch_state()
        ended = ended_by_other(state)
        if ended is not None:
            raise _Ended(ended)
        if not self.lease.mine(state) and state.lease is not None:
            self.lease.refuse_if_busy(state)
        if state.request and state.request.get("kind") == "gradual_rollback":
            raise _Ended(self.gradual_rollback(str(state.request.get("reason") or ""), actor=state.request.get("by")))
        target = self.ctl.step_weight(state)
        if state.phase == Phase.RAMPING and target is not None and abs(state.canary_weight - target) > 1e-9:
            # resumed after someone moved traffic away from the step: the step's weight again
            self._say(f"resumed: traffic back to the step's {target:g}% (was {state.canary_weight:g}%)")
            self._set_weight(target, step, "reconcile")
            state = self.store.launch_state()
        return state

    def _judge(self, step: int, weight: float, *, state: LaunchState | None = None,
               served: float | None = None) -> tuple[Verdict, Observation]:  # fmt: skip
        from launch_control.ramp.engine_parts import judge_interval

        return judge_interval(self, step, weight, state=state, served=served)

    # --- go/no-go, pause, completion -------------------------------------------------------------------------

    def needs_approval(self, step: int) -> bool:
        chosen = self.plan.canary.steps[step].go_no_go
        return self.plan.canary.go_no_go if chosen is None else chosen

    def await_approval(self, step: int) -> Approval:
        weight = self.plan.canary.steps[step].weight
        waiting = {"step": step, "weight": weight, "since": utcnow().isoformat()}
        self._write(("engine.awaiting_approval", {"step": step, "weight": weight}), phase=Phase.AWAITING_APPROVAL,
                    awaiting_approval=waiting, approval=None)  # fmt: skip
        self._say(f"waiting for go/no-go on step {step + 1} ({weight:g}%): launch-control approve [--no-go]")
        self._notify("go_no_go", f"Go/no-go: canary to {weight:g}%?", "Approve with: launch-control approve")
        approver = self.approver or StoreApprover(self.store, self.clock, poll=min(1.0, self.interval),
                                                  heartbeat=self.heartbeat)  # fmt: skip
        answer = approver(step, self.plan.canary.steps[step])
        ended = ended_by_other(self.store.launch_state())
        if ended is not None:
            raise _Ended(ended)
        self._write(("engine.go" if answer.approved else "engine.no_go", {"step": step, "by": answer.by,
                     "note": answer.note}), phase=Phase.RAMPING, awaiting_approval=None)  # fmt: skip
        return answer

    def heartbeat(self) -> None:
        """Renew the lease's heartbeat (LeaseLost if another engine took the launch over)."""
        self._write()

    def note_waiting(self, **values: Any) -> None:
        """Add to the go/no-go being waited for (a flow records its run id, for approve to resume)."""
        waiting = {**(self.store.launch_state().awaiting_approval or {}), **values}
        self._write(awaiting_approval=waiting)

    def pause(self, reason: str, *, actor: str) -> None:
        ops.pause(self.ctl, ops.Actor(actor, "engine"), reason)
        self._say(f"PAUSED: {reason} (launch-control resume to continue)")
        self._notify("ramp_paused", "Canary ramp paused", reason)

    def complete(self) -> RampResult:
        version = self.plan.release.version
        state = self._write(("engine.complete", {"version": version}), release=True, phase=Phase.COMPLETE,
                            canary_weight=100.0, evidence=Evidence())  # fmt: skip
        record_stage(self.plan, self.store, "canary_ramp", "done", f"all steps green ({self.actor})")
        self._say(f"ramp complete: {version} serves 100% of traffic")
        self._notify("ramp_complete", f"{version} at 100%", "The canary ramp completed, all gates green.")
        return RampResult("completed", "all steps green", state.current_step, 100.0)

    def roll_back(self, reason: str, *, trigger: str = "gate") -> RampResult:
        """Emergency rollback (traffic first) through ``launch_control.ramp.rollback``."""
        state = self.store.launch_state()
        if not self.auto_rollback:
            self._say(f"rollback needed ({trigger}): {reason}")
            self.store.audit(self.actor, "engine.rollback_needed", reason=reason, trigger=trigger)
            return RampResult("rollback_needed", reason, state.current_step, state.canary_weight, trigger=trigger)
        self._say(f"ROLLING BACK ({trigger}): {reason}")
        if self._rollback_fn is not None:
            result = self._rollback_fn(reason=reason, trigger=trigger)
        else:
            from launch_control.ramp.rollback import emergency_rollback

            result = emergency_rollback(
                self.plan, self.store, reason=reason, actor=self.actor, trigger=trigger, router=self.ctl._router,
                deployer=self._deployer, out=self._say, notifier=self.notifier,
            )  # fmt: skip
        if state.current_step is not None:
            self._timeline(state.current_step, "failed")
        record_stage(self.plan, self.store, "canary_ramp", "failed", f"rolled back ({trigger}): {reason}")
        self.lease.release()
        outcome = "rolled_back" if result.ok else "rollback_failed"
        weight = 0.0 if result.ok else float("nan")
        return RampResult(outcome, reason, state.current_step, weight, result, trigger=trigger)

    def gradual_rollback(self, reason: str, *, actor: str | None = None) -> RampResult:
        """Step the canary down (plan.rollback.gradual_steps), watching each level; any fail → emergency."""
        from launch_control.ramp.engine_parts import gradual

        return gradual(self, reason, actor or self.actor)


def build_engine(plan: Plan, store: Store, *, time_scale: float | None = None, **kwargs: Any) -> Engine:
    """An engine with the plan's router, metric source and gate (built when first used)."""
    return Engine(plan, store, time_scale=time_scale, **kwargs)


def carry_out(ctl: ops.Control, actor: ops.Actor, *, time_scale: float | None = None, out: Any = None) -> RampResult:
    """Run what was asked of an engine when none runs (a gradual rollback requested through
    ``operations.gradual_rollback``) in this process, under the engine lease. It lives with the
    engine, not in the operations it acts through, so that operations never import the engine."""
    engine = Engine(ctl.plan, ctl.store, router=ctl._router, actor=actor.name, time_scale=time_scale, out=out)
    return engine.run()
