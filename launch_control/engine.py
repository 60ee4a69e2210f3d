"""The launch engine: the plan's canary ramp as a small state machine, recorded step by step.

    begin ──► enter step i (router.set_weight) ──► hold: every analysis interval
      ▲          observe → record samples → judge → record decision → incident on a SEV fail
      │            ├─ pass for the whole hold ────────────► [go/no-go] ──► step i+1 … 100% ─► complete
      │            ├─ fail at the failure limit / SEV-1 ──► rollback (rollback.emergency_rollback)
      │            └─ hold (no data, too little traffic, source down) ─► keep holding; pause at the limit
      └── resume after a crash: re-assert the recorded weight through the router, continue the step

Everything the engine decides is in the store: launch state (phase, step, weight, time observed
in the step, heartbeat), every weight change (audit ``engine.weight``), every sample and every
gate decision. The store is the engine's memory, so a new process resumes where a dead one
stopped; time the engine did not watch does not count towards a hold.

Pure enough to test without Prefect: the router, metric source, gate, clock and approver are
parameters. ``time_scale`` compresses holds and intervals for rehearsals (60 → a 30-minute hold
takes 30 s). The flows in ``flows/`` call ``begin``/``enter_step``/``hold_step``/... one task
each; ``run()`` is the same pipeline in-process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from launch_control import feasibility
from launch_control.errors import LaunchControlError, RouterError, UsageError
from launch_control.observations import Observation
from launch_control.store import utcnow

if TYPE_CHECKING:
    from launch_control.plan import CanaryStep, Plan
    from launch_control.rollback import RollbackResult
    from launch_control.store import Store

log = logging.getLogger(__name__)

# Phases written to launch_state.phase by the engine and the rollback.
ACTIVE_PHASES = ("ramping", "awaiting_approval", "rolling_back")
MIN_INTERVAL = 0.2  # seconds: a compressed interval below this measures nothing useful
ROUTER_ATTEMPTS = 3


class EngineBusy(LaunchControlError):
    """Another live engine is running this launch."""


class Clock:
    """Monotonic time and sleep; tests pass a fake one."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass
class RampResult:
    """How a ramp ended: ``completed``, ``rolled_back``, ``rollback_failed``, or ``rollback_needed``
    (an engine with ``auto_rollback=False`` leaves the rollback to its caller, e.g. a flow)."""

    outcome: str
    reason: str
    step: int | None
    weight: float
    rollback: RollbackResult | None = None

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


@dataclass
class _Hold:
    """Counters for one step's hold (reset when the step starts, kept across a pause)."""

    observed: float = 0.0
    intervals: int = 0
    passes: int = 0
    holds_in_row: int = 0
    last: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _default_gate(plan: Plan) -> Any:
    from launch_control.analysis import Gate  # the gate logic (helper C's module)

    return Gate(plan.analysis)


class Engine:
    """Runs one launch's canary ramp. One engine per launch at a time (a heartbeat lease says so)."""

    def __init__(
        self,
        plan: Plan,
        store: Store,
        *,
        router: Any = None,
        source: Any = None,
        gate: Any = None,
        time_scale: float | None = None,
        actor: str = "engine",
        clock: Clock | None = None,
        approver: Callable[[int, CanaryStep], Approval] | None = None,
        rollback: Callable[..., RollbackResult] | None = None,
        deployer: Any = None,
        incidents: Any = None,
        notifier: Any = None,
        out: Callable[[str], None] | None = None,
        auto_rollback: bool = True,
        min_interval: float | None = None,
    ):
        if time_scale is not None and time_scale <= 0:
            raise UsageError(f"time scale must be positive (got {time_scale:g}); 1 runs the plan at its real durations")
        self.plan, self.store, self.actor = plan, store, actor
        self.clock = clock or Clock()
        self._time_scale = time_scale
        self._router, self._source, self._gate = router, source, gate
        self._deployer = deployer
        self._rollback_fn = rollback
        self._approver = approver
        self._incidents = incidents
        self._notifier = notifier
        self.out = out or (lambda line: log.info("%s", line))
        self._incident_rollback: RampResult | None = None
        # False (the Prefect flows): a needed rollback ends the step with outcome
        # "rollback_needed" and the flow runs its rollback sub-flow instead.
        self.auto_rollback = auto_rollback
        # Compressing the interval as much as the holds leaves too few requests per interval at 1%
        # for the gate to judge; rehearsals keep the interval at least this long (seconds).
        self._min_interval = min_interval

    # --- parts built on first use ---------------------------------------------------------------------

    @property
    def time_scale(self) -> float:
        if self._time_scale is None:
            recorded = self.store.state()["extra"].get("time_scale")
            self._time_scale = float(recorded or 1.0)
        return self._time_scale

    @property
    def min_interval(self) -> float:
        if self._min_interval is None:
            recorded = self.store.state()["extra"].get("min_interval")
            self._min_interval = float(recorded or MIN_INTERVAL)
        return max(MIN_INTERVAL, self._min_interval)

    @property
    def interval(self) -> float:
        return max(self.min_interval, self.plan.analysis.interval / self.time_scale)

    def hold_seconds(self, step: int) -> float:
        return self.plan.canary.steps[step].hold / self.time_scale

    @property
    def router(self) -> Any:
        if self._router is None:
            from launch_control.traffic import build_router

            self._router = build_router(self.plan.rollback.router, store=self.store, actor=self.actor)
        return self._router

    @property
    def source(self) -> Any:
        if self._source is None:
            from launch_control.metrics import build_source

            self._source = build_source(self.plan.analysis.metric_source)
        return self._source

    @property
    def gate(self) -> Any:
        if self._gate is None:
            self._gate = _default_gate(self.plan)
        return self._gate

    @property
    def notifier(self) -> Any:
        if self._notifier is None:
            try:
                from launch_control.notify import Notifier  # type: ignore[attr-defined]

                self._notifier = Notifier(self.plan, self.store)
            except Exception as exc:  # not installed / misconfigured: the ramp goes on, said once
                log.warning("notifications unavailable: %s", exc)
                self._notifier = False
        return self._notifier or None

    @property
    def incidents(self) -> Any:
        if self._incidents is None:
            try:
                from launch_control.incidents import IncidentManager  # type: ignore[import-not-found]

                self._incidents = IncidentManager(
                    self.plan,
                    self.store,
                    notifier=self.notifier,
                    rollback=self._request_rollback if self.auto_rollback else None,
                )
            except Exception as exc:
                log.warning("incident management unavailable: %s", exc)
                self._incidents = False
        return self._incidents or None

    def _request_rollback(self, reason: str, *_args: Any, **_kwargs: Any) -> RollbackResult:
        """Given to the IncidentManager: its SEV-1 policy rolls back now; the hold loop ends with it."""
        self._incident_rollback = self.roll_back(reason or "incident policy asked for a rollback", trigger="incident")
        assert self._incident_rollback.rollback is not None
        return self._incident_rollback.rollback

    # --- recording ----------------------------------------------------------------------------------------

    def _extra(self, **values: Any) -> dict[str, Any]:
        state = self.store.state()
        extra = {**(state.get("extra") or {}), **values}
        return self.store.update_state(extra=extra)

    def _heartbeat(self, **values: Any) -> None:
        lease = {"pid": os.getpid(), "host": socket.gethostname(), "at": utcnow().isoformat()}
        self._extra(engine=lease, **values)

    def _say(self, line: str) -> None:
        with contextlib.suppress(Exception):
            self.out(line)

    def _timeline(self, step: int, status: str) -> None:
        weight = self.plan.canary.steps[step].weight
        for entry in self.plan.timeline.entries:
            matches = (
                (entry.action == "canary_step" and entry.step == step)
                or (entry.action == "canary_ramp" and step == 0)
                or (entry.action == "full_rollout" and weight >= 100)
            )
            if matches:
                with contextlib.suppress(Exception):
                    self.store.record_timeline(entry.id, status, detail=f"step {step + 1}: {weight:g}%")

    def _notify(self, kind: str, subject: str, text: str) -> None:
        notifier = self.notifier
        if notifier is not None:
            with contextlib.suppress(Exception):
                notifier.send(kind, subject, text)

    # --- the lease: one live engine per launch --------------------------------------------------------------

    def _check_lease(self) -> None:
        lease = (self.store.state().get("extra") or {}).get("engine")
        if not lease or lease.get("pid") == os.getpid():
            return
        same_host = lease.get("host") == socket.gethostname()
        if same_host and not _pid_alive(int(lease.get("pid", 0))):
            return  # it died (crash, SIGKILL): take over
        import datetime as dt

        try:
            age = (utcnow() - dt.datetime.fromisoformat(lease["at"])).total_seconds()
        except (KeyError, ValueError, TypeError):
            return
        if age < max(3 * self.interval, 5.0):
            raise EngineBusy(
                f"an engine (pid {lease.get('pid')} on {lease.get('host')}) is running this launch "
                f"(heartbeat {age:.1f} s ago); watch it with launch-control --monitor or stop it first"
            )

    # --- the pipeline ---------------------------------------------------------------------------------------

    def begin(self, *, restart: bool = False) -> int | RampResult:
        """Start a ramp, or resume one: returns the step to run from, or how it already ended.

        Resuming re-asserts the recorded weight through the router before anything else, so the
        traffic plane and the record agree even if the crash came between the two.
        """
        self._check_lease()
        state = self.store.state()
        phase, step = state["phase"], state["current_step"]
        if phase == "rolling_back":
            self._say("a rollback was interrupted; finishing it")
            return self.roll_back("finishing an interrupted rollback", trigger="resume")
        if phase in ("ramping", "awaiting_approval") and step is not None and not restart:
            weight = float(state["canary_weight"])
            self._set_weight(weight, step, "resume")
            self._heartbeat()
            self.store.audit(self.actor, "engine.resume", step=step, weight=weight)
            self._say(f"resumed at step {step + 1} ({weight:g}%), traffic re-asserted")
            return step
        if phase == "complete" and not restart:
            return RampResult("completed", "the ramp already reached 100%", step, float(state["canary_weight"]))
        self.store.update_state(
            phase="ramping",
            current_step=None,
            step_started_at=None,
            launch_started_at=utcnow(),
            paused=False,
            extra={
                **(state.get("extra") or {}),
                "time_scale": self.time_scale,
                "min_interval": self.min_interval,
                "observed": 0.0,
            },
        )
        self._heartbeat()
        self.store.audit(self.actor, "engine.start", time_scale=self.time_scale, restart=restart)
        self._say(f"ramp started (time scale ×{self.time_scale:g}, analysis every {self.interval:.2f} s)")
        return 0

    def run(self, *, restart: bool = False) -> RampResult:
        """The whole ramp in this process: begin → for each step: [go/no-go] enter, hold → complete."""
        start = self.begin(restart=restart)
        if isinstance(start, RampResult):
            return start
        resumed = self.store.state()["current_step"] == start
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

    def enter_step(self, step: int) -> RampResult | None:
        """Set the step's weight and record it; a router that will not take it → rollback."""
        weight = self.plan.canary.steps[step].weight
        try:
            self._set_weight(weight, step, "step")
        except RouterError as exc:
            return self.roll_back(f"router failed to set {weight:g}% for step {step + 1}: {exc}", trigger="router")
        self.store.update_state(current_step=step, canary_weight=weight, step_started_at=utcnow(), phase="ramping")
        self._heartbeat(observed=0.0)
        self._timeline(step, "running")
        hold = self.hold_seconds(step)
        self._say(f"step {step + 1}/{len(self.plan.canary.steps)}: canary {weight:g}%, hold {hold:.1f} s")
        if note := feasibility.at_step_start(self.plan, self.store, step, self.time_scale):  # thin: issue 16
            self._say(note)
        return None

    def _set_weight(self, weight: float, step: int | None, why: str) -> None:
        last: Exception | None = None
        for attempt in range(ROUTER_ATTEMPTS):
            try:
                self.router.set_weight(weight)
                break
            except RouterError as exc:
                last = exc
                self.clock.sleep(0.1 * 2**attempt)
        else:
            raise RouterError(str(last)) from last
        self.store.audit(self.actor, "engine.weight", step=step, weight=weight, why=why)

    def hold_step(self, step: int) -> StepResult:
        """Judge every analysis interval until the hold has been observed green, or the gate fails."""
        hold = self.hold_seconds(step)
        weight = self.plan.canary.steps[step].weight
        state = self.store.state()
        counters = _Hold(observed=float((state.get("extra") or {}).get("observed") or 0.0))
        with contextlib.suppress(Exception):
            self.gate.reset()
        if hold <= 0 and weight >= 100:
            self._timeline(step, "done")
            return StepResult("advance", "full rollout: no hold", 0)
        limit = self.plan.analysis.inconclusive_limit
        _ = self.source  # built now: a scraping source takes its baseline here, not at the first tick
        next_tick = self.clock.now() + self.interval
        while True:
            self.clock.sleep(next_tick - self.clock.now())
            next_tick += self.interval
            verdict, obs = self._judge(step, weight)
            counters.intervals += 1
            paused = bool(self.store.state()["paused"])
            if self._incident_rollback is not None:  # the SEV-1 policy already rolled back
                final, self._incident_rollback = self._incident_rollback, None
                return StepResult("end", final.reason, counters.intervals, final)
            if verdict.outcome == "fail" and getattr(verdict, "rollback", False):
                return StepResult("end", verdict.reason, counters.intervals, self.roll_back(verdict.reason))
            if verdict.outcome == "pass":
                counters.passes += 1
                counters.holds_in_row = 0
            elif verdict.outcome == "hold" and not (getattr(verdict, "details", None) or {}).get("gathering"):
                # (gathering a pooled window from thin intervals is progress, not an inconclusive hold)
                counters.holds_in_row += 1
                if counters.holds_in_row == limit and not paused:
                    self.pause(f"{limit} inconclusive intervals in a row: {verdict.reason}", actor=self.actor)
                    paused = True
            counters.last = verdict.outcome
            if not paused and verdict.outcome == "pass":
                # Only green intervals count towards the hold: "held 30 minutes with gates green".
                counters.observed += self.interval
            self._heartbeat(observed=counters.observed)
            ready = counters.observed >= hold or (getattr(verdict, "promote", False) and verdict.outcome == "pass")
            if not paused and ready and counters.passes > 0 and counters.last != "fail":
                self._timeline(step, "done")
                self.store.audit(self.actor, "engine.step_done", step=step, weight=weight, intervals=counters.intervals)
                self._say(f"step {step + 1} ({weight:g}%) green after {counters.intervals} intervals")
                return StepResult("advance", f"{weight:g}% held {counters.observed:.1f} s green", counters.intervals)

    def _judge(self, step: int, weight: float) -> tuple[Any, Observation]:
        try:
            obs = self.source.observe(self.interval)
        except Exception as exc:  # the contract says never raise; a broken adapter must not stop the ramp
            obs = Observation(at=utcnow(), interval=self.interval, error=f"metric source failed: {exc}")
        if obs.error is None:
            with contextlib.suppress(Exception):
                self.store.record_samples(obs.samples())
        verdict = self.gate.judge(obs)
        details = dict(getattr(verdict, "details", None) or {})
        if obs.canary is not None:
            details.setdefault("canary_requests", obs.canary.requests)
            details.setdefault("canary_errors", obs.canary.errors)
        if obs.stable is not None:
            details.setdefault("stable_requests", obs.stable.requests)
            details.setdefault("stable_errors", obs.stable.errors)
        if obs.error:
            details.setdefault("source_error", obs.error)
        self.store.record_decision(
            verdict.outcome, verdict.reason, step=step, weight=weight, severity=verdict.severity, details=details
        )
        mark = {"pass": "✓", "hold": "…", "fail": "✗"}.get(verdict.outcome, "?")
        self._say(f"  {mark} {weight:g}% {verdict.outcome}: {verdict.reason}")
        if verdict.outcome == "fail" and verdict.severity:
            manager = self.incidents
            if manager is not None:
                metric = details.get("metric") or details.get("failed_metric") or "gate"
                with contextlib.suppress(Exception):
                    manager.report(f"canary:{metric}", verdict.severity, verdict.reason, actor=self.actor)
        return verdict, obs

    # --- go/no-go, pause, completion -------------------------------------------------------------------------

    def needs_approval(self, step: int) -> bool:
        chosen = self.plan.canary.steps[step].go_no_go
        return self.plan.canary.go_no_go if chosen is None else chosen

    def await_approval(self, step: int) -> Approval:
        weight = self.plan.canary.steps[step].weight
        self.store.update_state(phase="awaiting_approval")
        self._extra(awaiting_approval={"step": step, "weight": weight, "since": utcnow().isoformat()})
        self.store.audit(self.actor, "engine.awaiting_approval", step=step, weight=weight)
        self._say(f"waiting for go/no-go on step {step + 1} ({weight:g}%): launch-control approve [--no-go]")
        self._notify("go_no_go", f"Go/no-go: canary to {weight:g}%?", "Approve with: launch-control approve")
        approver = self._approver or StoreApprover(self.store, self.clock, poll=min(1.0, self.interval))
        answer = approver(step, self.plan.canary.steps[step])
        self._extra(awaiting_approval=None)
        self.store.update_state(phase="ramping")
        self.store.audit(answer.by, "engine.go" if answer.approved else "engine.no_go", step=step, note=answer.note)
        return answer

    def pause(self, reason: str, *, actor: str) -> None:
        self.store.update_state(paused=True)
        self.store.audit(actor, "engine.pause", reason=reason)
        self._say(f"PAUSED: {reason} (launch-control resume to continue)")
        self._notify("ramp_paused", "Canary ramp paused", reason)

    def complete(self) -> RampResult:
        self.store.update_state(phase="complete", canary_weight=100.0)
        self._extra(engine=None, observed=0.0)
        self.store.audit(self.actor, "engine.complete", version=self.plan.release.version)
        self._say(f"ramp complete: {self.plan.release.version} serves 100% of traffic")
        version = self.plan.release.version
        self._notify("ramp_complete", f"{version} at 100%", "The canary ramp completed, all gates green.")
        state = self.store.state()
        return RampResult("completed", "all steps green", state["current_step"], 100.0)

    def roll_back(self, reason: str, *, trigger: str = "gate") -> RampResult:
        """Emergency rollback (traffic first) through ``launch_control.rollback``."""
        state = self.store.state()
        if not self.auto_rollback:
            self._say(f"rollback needed ({trigger}): {reason}")
            self.store.audit(self.actor, "engine.rollback_needed", reason=reason, trigger=trigger)
            return RampResult("rollback_needed", reason, state["current_step"], float(state["canary_weight"]))
        self._say(f"ROLLING BACK ({trigger}): {reason}")
        if self._rollback_fn is not None:
            result = self._rollback_fn(reason=reason, trigger=trigger)
        else:
            from launch_control.rollback import emergency_rollback

            result = emergency_rollback(
                self.plan,
                self.store,
                reason=reason,
                actor=self.actor,
                trigger=trigger,
                router=self._router,
                deployer=self._deployer,
                out=self._say,
                notifier=self.notifier,
            )
        with contextlib.suppress(Exception):
            self._extra(engine=None)
        outcome = "rolled_back" if result.ok else "rollback_failed"
        return RampResult(outcome, reason, state["current_step"], 0.0 if result.ok else float("nan"), result)

    def gradual_rollback(self, reason: str, *, actor: str | None = None) -> RampResult:
        """Step the canary down (plan.rollback.gradual_steps), watching each level; any fail → emergency.

        At 0% the deployment is rolled back and health verified like an emergency rollback.
        """
        actor = actor or self.actor
        state = self.store.state()
        current = float(state["canary_weight"])
        levels = [w for w in self.plan.rollback.gradual_steps if w < current and w > 0]
        self.store.audit(actor, "engine.gradual_rollback", reason=reason, levels=levels, start=current)
        self._say(f"gradual rollback from {current:g}%: {' → '.join(f'{w:g}%' for w in levels + [0.0])}")
        hold = self.plan.rollback.gradual_hold / self.time_scale
        for level in levels:
            try:
                self._set_weight(level, state["current_step"], "gradual_rollback")
            except RouterError as exc:
                return self.roll_back(f"{reason}; router failed during gradual rollback: {exc}", trigger="gradual")
            self.store.update_state(canary_weight=level)
            watched = 0.0
            next_tick = self.clock.now() + self.interval
            while watched < hold:
                self.clock.sleep(next_tick - self.clock.now())
                next_tick += self.interval
                verdict, _ = self._judge(state["current_step"] or 0, level)
                watched += self.interval
                if self._incident_rollback is not None:
                    final, self._incident_rollback = self._incident_rollback, None
                    return final
                if verdict.outcome == "fail":
                    return self.roll_back(f"{reason}; gate failed at {level:g}%: {verdict.reason}", trigger="gradual")
        return self.roll_back(reason, trigger="gradual")


class StoreApprover:
    """Go/no-go through the store: waits for ``launch-control approve`` (audit ``launch.approve``)."""

    def __init__(self, store: Store, clock: Clock | None = None, *, poll: float = 1.0, timeout: float | None = None):
        self.store, self.clock, self.poll, self.timeout = store, clock or Clock(), poll, timeout

    def __call__(self, step: int, canary_step: Any) -> Approval:
        since = utcnow()
        deadline = self.clock.now() + (self.timeout if self.timeout is not None else 3600.0)
        while self.clock.now() < deadline:
            for event in self.store.events(since=since, limit=20):
                if event["action"] in ("launch.approve", "launch.reject"):
                    details = event.get("details") or {}
                    if details.get("step") not in (None, step):
                        continue
                    return Approval(event["action"] == "launch.approve", event["actor"], str(details.get("note", "")))
            self.clock.sleep(self.poll)
        return Approval(False, "timeout", "no go/no-go answer in time")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped) still answers kill(0); /proc says whether it is one.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as handle:
        if handle.read().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def build_engine(plan: Plan, store: Store, *, time_scale: float | None = None, **kwargs: Any) -> Engine:
    """An engine with the plan's router, metric source and gate (built when first used)."""
    return Engine(plan, store, time_scale=time_scale, **kwargs)
