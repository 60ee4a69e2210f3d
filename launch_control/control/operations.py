"""The launch's operations, one copy each: the CLI, the console, the flows and the engine act only
through these functions.

Each operation reads the typed launch state (``launch_control.control.state``), refuses what the state
does not allow with a message a person can act on (``OperationRefused``), does its side effect
with the same bounded retries whoever calls it, and writes the state change and one audit event
with one name (``ACTIONS``) in one compare-and-swap on the state's revision. A running engine
re-reads the state every analysis interval, so whatever an operation changes (pause, traffic,
rollback, promote) is seen by it within one interval.

Nothing here imports prefect or streamlit: approving a Prefect flow's go/no-go goes through
``launch_control.control.seams`` at call time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from launch_control import retrying
from launch_control.control.state import (
    IllegalTransition,
    LaunchState,
    Phase,
    check_transition,
    engine_alive,
    extra_update,
)
from launch_control.control.timeline import record_stage
from launch_control.errors import LaunchControlError, RouterError, UsageError

if TYPE_CHECKING:
    from launch_control.plan.model import Plan
    from launch_control.plane.traffic.base import TrafficRouter
    from launch_control.store.db import Store

ROUTER_ATTEMPTS = 3
CAS_ATTEMPTS = 50

# operation → its one audit action name (the same from the CLI, the console, the flows, the engine).
ACTIONS: dict[str, str] = {
    "start_ramp": "launch.start",
    "pause": "launch.pause",
    "resume": "launch.resume",
    "approve": "launch.approve",
    "no_go": "launch.no_go",
    "set_traffic": "launch.set_traffic",
    "promote": "launch.promote",
    "gradual_rollback": "launch.gradual_rollback",
    "emergency_rollback": "rollback.start",  # written by launch_control.ramp.rollback (then rollback.finish)
    "ack_incident": "incident.acknowledge",  # written by the IncidentManager through the store
    "resolve_incident": "incident.resolve",
    "tick": "checklist.tick",  # written by the store
    "untick": "checklist.untick",
}


class OperationRefused(LaunchControlError):
    """An operation the launch's state (or its checks) does not allow now; says what to do."""


@dataclass(frozen=True)
class Actor:
    """Who acts, and through what (``cli``, ``console``, ``flow``, ``engine``)."""

    name: str
    via: str

    def __str__(self) -> str:
        return self.name


@dataclass
class OpResult:
    ok: bool
    action: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


class Control:
    """What the operations act on: the plan, the store, and the plan's router (built on first use)."""

    def __init__(self, plan: Plan, store: Store, *, router: TrafficRouter | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.plan, self.store = plan, store
        self._router = router
        self._incidents: Any = None
        self.sleep = sleep

    @property
    def router(self) -> TrafficRouter:
        if self._router is None:
            from launch_control.plane.traffic import build_router

            self._router = build_router(self.plan.rollback.router, store=self.store, plan=self.plan)
        return self._router

    @property
    def incidents(self) -> Any:
        """The plan's incident manager (notifies the severity's channels), built on first use."""
        if self._incidents is None:
            from launch_control.respond.incidents import production_manager

            self._incidents = production_manager(self.plan, self.store, actor="incident")
        return self._incidents

    def state(self) -> LaunchState:
        return self.store.launch_state()

    def step_weight(self, state: LaunchState) -> float | None:
        """The weight the current step holds (a confirmed replacement counts), None between steps."""
        step = state.current_step
        if step is None or not 0 <= step < len(self.plan.canary.steps):
            return None
        replaced = state.extra.get("step_weight") or {}
        if replaced.get("step") == step:
            return float(replaced["weight"])
        return float(self.plan.canary.steps[step].weight)


# --- shared parts ---------------------------------------------------------------------------------------


def commit(
    ctl: Control,
    actor: Actor,
    action: str,
    change: Callable[[LaunchState], dict[str, Any] | None],
    **details: Any,
) -> LaunchState:
    """Read the state, compute the change, write it with its audit row by compare-and-swap; on a
    lost race read again and compute again. ``change`` raises to refuse; returns None to write
    only the audit row."""
    for _ in range(CAS_ATTEMPTS):
        state = ctl.state()
        try:
            fields = change(state)
        except IllegalTransition as exc:
            raise OperationRefused(str(exc)) from exc
        audit = (actor.name, action, {**details, "via": actor.via})
        if fields is None:
            ctl.store.audit(audit[0], audit[1], **audit[2])
            return state
        written = ctl.store.compare_and_set(state.revision, audit=audit, **fields)
        if written is not None:
            return written
    raise OperationRefused(f"the launch state kept changing under {action}; try again")


def route(ctl: Control, weight: float) -> float | None:
    """Set the router's weight with bounded retries; returns the weight it then reports serving
    (None if it cannot say). Raises RouterError after the last attempt."""
    try:
        retrying.call(
            lambda _left: ctl.router.set_weight(weight), attempts=ROUTER_ATTEMPTS, base_delay=0.1, max_delay=0.4,
            total_timeout=float("inf"), retry_on=(RouterError,), sleep=ctl.sleep,
        )  # fmt: skip
    except retrying.RetryExhausted as exc:
        raise RouterError(
            f"the router did not take {weight:g}% after {ROUTER_ATTEMPTS} attempts: {exc.last}"
        ) from exc.last
    return served_weight(ctl)


def served_weight(ctl: Control) -> float | None:
    try:
        return float(ctl.router.get_weight())
    except Exception:  # a router that cannot report is not a failed change
        return None


def _phase(state: LaunchState, new: Phase) -> dict[str, Any]:
    check_transition(state.phase, new)
    return {"phase": new.value, "paused": new == Phase.PAUSED}


def _weight_arg(weight: Any) -> float:
    try:
        value = float(weight)
    except (TypeError, ValueError):
        raise UsageError(f"traffic must be a number of percent between 0 and 100 (got {weight!r})") from None
    if not 0.0 <= value <= 100.0:
        raise UsageError(f"traffic must be between 0 and 100 percent (got {value:g})")
    return value


def _needs_reason(reason: str, what: str) -> str:
    if not str(reason or "").strip():
        raise UsageError(f"give a reason to {what}: it goes into the audit trail")
    return str(reason).strip()


# --- starting, pausing, go/no-go --------------------------------------------------------------------------


def may_start(ctl: Control, *, force: bool = False, reason: str = "", run_missing: bool = True) -> list[str]:
    """May the canary start? The one answer: no live engine, no rollback running, preflight passed
    (or ``force`` with a reason). Returns the blockers a forced start overrides; refuses otherwise."""
    from launch_control.control.lease import EngineBusy, EngineLease
    from launch_control.ramp.preflight import preflight_blockers, run_preflight

    state = ctl.state()
    lease = state.lease
    if state.ramping and lease is not None:
        try:  # the lease's own test: a live heartbeat, and not a dead process on this host
            EngineLease(ctl.store, lambda: lease.interval or 0.0).refuse_if_busy(state)
        except EngineBusy:
            raise OperationRefused(
                f"a ramp is already running (engine pid {lease.pid} on {lease.host}); "
                "watch it with launch-control --monitor, or pause it with launch-control pause"
            ) from None
    if state.phase == Phase.ROLLING_BACK:
        raise OperationRefused("a rollback is running; wait for it to finish (launch-control --status)")
    if state.phase == Phase.ROLLBACK_FAILED:
        raise OperationRefused("the last rollback failed: follow the runbook, then run emergency-rollback again")
    store, plan = ctl.store, ctl.plan
    blockers = preflight_blockers(plan, store)
    if run_missing and any("has not run" in b for b in blockers):
        from launch_control.ramp.stages import run_stage

        run_stage(ctl, Actor("preflight", "engine"), "preflight", lambda: run_preflight(plan, store))
        blockers = preflight_blockers(plan, store)
    if blockers and not force:
        raise OperationRefused(
            "preflight failed, the canary does not start:\n  " + "\n  ".join(blockers)
            + '\nfix these and run launch-control preflight, or force: --start-canary --force --reason "why"'
        )  # fmt: skip
    if blockers and not str(reason or "").strip():
        raise UsageError('--force needs --reason "why" (it goes into the audit trail)')
    return blockers


def start_ramp(ctl: Control, actor: Actor, *, force: bool = False, reason: str = "") -> OpResult:
    """``may_start``, then the audited start (``launch.start``); the caller runs the engine or flow."""
    blockers = may_start(ctl, force=force, reason=reason)
    commit(ctl, actor, ACTIONS["start_ramp"], lambda _s: None, forced=bool(blockers), blockers=blockers, reason=reason)
    words = f" despite a failed preflight (forced by {actor}: {reason})" if blockers else ""
    return OpResult(True, ACTIONS["start_ramp"], f"canary ramp may start{words}", {"blockers": blockers})


def pause(ctl: Control, actor: Actor, reason: str) -> OpResult:
    """Hold the current weight: the gates keep judging, green time stops accruing."""
    reason = str(reason or "").strip() or f"paused by {actor}"

    def change(state: LaunchState) -> dict[str, Any]:
        if state.phase not in (Phase.RAMPING, Phase.PAUSED, Phase.AWAITING_APPROVAL):
            check_transition(state.phase, Phase.PAUSED)  # raises with what to do
        pause_info = {"by": actor.name, "reason": reason, "at": _now().isoformat()}
        return {**_phase(state, Phase.PAUSED), "extra": extra_update(state, pause=pause_info)}

    state = commit(ctl, actor, ACTIONS["pause"], change, reason=reason)
    return OpResult(True, ACTIONS["pause"], f"ramp paused at {state.canary_weight:g}%: the weight stays, gates keep "
                    "judging, the hold clock stops (launch-control resume)", {"weight": state.canary_weight})


def resume(ctl: Control, actor: Actor, reason: str = "") -> OpResult:
    """Continue a paused ramp; a running engine puts the step's weight back if traffic was moved."""

    def change(state: LaunchState) -> dict[str, Any]:
        if state.phase != Phase.PAUSED:
            raise OperationRefused(f"the ramp is not paused (it is {state.phase.value}); nothing to resume")
        return {**_phase(state, Phase.RAMPING), "extra": extra_update(state, pause=None)}

    commit(ctl, actor, ACTIONS["resume"], change, reason=reason)
    return OpResult(True, ACTIONS["resume"], "ramp resumed")


def _answer(ctl: Control, actor: Actor, approved: bool, note: str) -> OpResult:
    action = ACTIONS["approve" if approved else "no_go"]
    waiting: dict[str, Any] = {}

    def change(state: LaunchState) -> dict[str, Any]:
        if state.phase != Phase.AWAITING_APPROVAL or not state.awaiting_approval:
            raise OperationRefused("nothing is waiting for a go/no-go (launch-control --status shows the ramp)")
        waiting.update(state.awaiting_approval)
        answer = {"step": waiting.get("step"), "approved": approved, "by": actor.name, "note": note}
        return {"extra": extra_update(state, approval=answer)}

    commit(ctl, actor, action, change, step=None, note=note)
    if waiting.get("flow_run_id"):
        from launch_control.control import seams

        seams.resume_flow_run(str(waiting["flow_run_id"]), {"approved": approved, "by": actor.name, "note": note})
    step = waiting.get("step")
    number = int(step) + 1 if step is not None else "?"
    word = "GO" if approved else "NO-GO"
    return OpResult(True, action, f"{word} for step {number} ({waiting.get('weight', '?')}%) by {actor}", waiting)


def approve(ctl: Control, actor: Actor, note: str = "") -> OpResult:
    return _answer(ctl, actor, True, note)


def no_go(ctl: Control, actor: Actor, note: str) -> OpResult:
    return _answer(ctl, actor, False, note)


# --- traffic -------------------------------------------------------------------------------------------------


def set_traffic(ctl: Control, actor: Actor, weight: float, reason: str, *, replace_step: bool = False) -> OpResult:
    """Send ``weight`` % to the canary. Mid-ramp, away from the step's weight, this pauses the ramp
    (and says so) unless ``replace_step``: then the step holds the new weight and the gates judge it."""
    weight = _weight_arg(weight)
    before = ctl.state()
    if before.phase == Phase.ROLLING_BACK:
        raise OperationRefused("a rollback is running; traffic is its business until it ends (launch-control --status)")
    served = route(ctl, weight)
    paused_by_this: list[bool] = []

    def change(state: LaunchState) -> dict[str, Any]:
        fields: dict[str, Any] = {"canary_weight": weight}
        extra: dict[str, Any] = {"served": {"weight": served, "at": _now().isoformat()}}
        step_weight = ctl.step_weight(state)
        away = state.ramping and step_weight is not None and abs(step_weight - weight) > 1e-9
        if away and replace_step:
            extra["step_weight"] = {"step": state.current_step, "weight": weight, "by": actor.name}
        elif away and state.phase != Phase.PAUSED:
            fields.update(_phase(state, Phase.PAUSED))
            why = f"traffic set to {weight:g}% by {actor} (step {(state.current_step or 0) + 1} holds {step_weight:g}%)"
            extra["pause"] = {"by": actor.name, "reason": why, "at": _now().isoformat()}
            paused_by_this.append(True)
        fields["extra"] = extra_update(state, **extra)
        return fields

    state = commit(ctl, actor, ACTIONS["set_traffic"], change, weight=weight, previous=before.canary_weight,
                   reason=reason, replace_step=replace_step, served=served)  # fmt: skip
    message = f"canary {ctl.plan.release.version}: {weight:g}% (was {before.canary_weight:g}%)"
    if paused_by_this:
        step = (state.current_step or 0) + 1
        message += f"; the ramp is PAUSED because step {step} holds {ctl.step_weight(state):g}% "
        message += "(resume to go back to the step's weight, or set traffic with replace-step to make it the step's)"
    elif replace_step and state.ramping:
        message += f"; step {(state.current_step or 0) + 1} now holds {weight:g}%"
    details = {"weight": weight, "served": served, "paused": bool(paused_by_this),
               "step_weight": ctl.step_weight(state)}  # fmt: skip
    return OpResult(True, ACTIONS["set_traffic"], message, details)


def promote(ctl: Control, actor: Actor, reason: str) -> OpResult:
    """100% to the release now; the ramp is complete (a running engine sees it and ends)."""
    state = ctl.state()
    check_or_refuse(state, Phase.COMPLETE)
    served = route(ctl, 100.0)

    def change(state: LaunchState) -> dict[str, Any]:
        ended = {"by": actor.name, "reason": reason or "promoted", "at": _now().isoformat()}
        extra = extra_update(state, served={"weight": served, "at": _now().isoformat()}, ended=ended, pause=None)
        return {**_phase(state, Phase.COMPLETE), "canary_weight": 100.0, "extra": extra}

    commit(ctl, actor, ACTIONS["promote"], change, reason=reason)
    record_stage(ctl.plan, ctl.store, "full_rollout", "done", f"promoted by {actor}")
    return OpResult(True, ACTIONS["promote"], f"Promoted: {ctl.plan.release.version} serves 100% of traffic.")


def check_or_refuse(state: LaunchState, new: Phase) -> None:
    try:
        check_transition(state.phase, new)
    except IllegalTransition as exc:
        raise OperationRefused(str(exc)) from exc


# --- rollbacks -----------------------------------------------------------------------------------------------


def gradual_rollback(ctl: Control, actor: Actor, reason: str) -> OpResult:
    """Ask for a gradual rollback: the live engine carries it out under its lease within one
    interval; without one, the caller runs ``carry_out(ctl, actor)`` (the CLI does so in-process)."""
    reason = _needs_reason(reason, "roll back gradually")
    now = _now()

    def change(state: LaunchState) -> dict[str, Any]:
        if state.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK):
            raise OperationRefused(f"the launch is already {state.phase.value.replace('_', ' ')}")
        if state.canary_weight <= 0:
            raise OperationRefused("the canary gets no traffic; there is nothing to roll back gradually")
        request = {"kind": "gradual_rollback", "by": actor.name, "reason": reason, "at": now.isoformat()}
        return {"extra": extra_update(state, request=request)}

    state = commit(ctl, actor, ACTIONS["gradual_rollback"], change, reason=reason)
    alive = engine_alive(state, now)
    steps = " → ".join(f"{w:g}%" for w in ctl.plan.rollback.gradual_steps if w < state.canary_weight)
    who = "the running engine carries it out" if alive else "no engine is running: carry it out here"
    return OpResult(True, ACTIONS["gradual_rollback"], f"gradual rollback requested ({steps} → 0%); {who}",
                    {"engine_alive": alive})  # fmt: skip


def carry_out(ctl: Control, actor: Actor, *, time_scale: float | None = None, out: Any = None) -> Any:
    """Run a requested gradual rollback in this process, under the engine lease."""
    from launch_control.ramp.engine import Engine

    engine = Engine(ctl.plan, ctl.store, router=ctl._router, actor=actor.name, time_scale=time_scale, out=out)
    return engine.run()


def emergency_rollback(ctl: Control, actor: Actor, reason: str, target_version: str | None = None) -> OpResult:
    """All traffic to stable now, verified (``launch_control.ramp.rollback``; audited there as
    ``rollback.start`` / ``rollback.finish``). A running engine ends within one interval."""
    import launch_control.ramp.rollback as rollback  # looked up at call time: tests replace the function

    reason = _needs_reason(reason, "roll back")
    trigger = {"cli": "manual"}.get(actor.via, actor.via)
    result = rollback.emergency_rollback(ctl.plan, ctl.store, reason=reason, actor=actor.name, trigger=trigger,
                                         target_version=target_version, router=ctl._router)  # fmt: skip
    stages = [
        {"stage": s.name, "ok": s.ok, "after": f"{s.elapsed:.2f} s", "detail": s.detail}
        for s in getattr(result, "stages", []) or []
    ]
    ttr = getattr(result, "ttr_seconds", None)
    return OpResult(bool(result.ok), ACTIONS["emergency_rollback"], result.message,
                    {"ttr_seconds": ttr, "stages": stages, "result": result})  # fmt: skip


# --- incidents and the checklist -------------------------------------------------------------------------------


def ack_incident(ctl: Control, actor: Actor, incident_id: int, note: str = "") -> OpResult:
    """Someone owns it now (stops escalation); the incident's channels hear of it."""
    incident = ctl.incidents.acknowledge(int(incident_id), actor.name)
    return OpResult(True, ACTIONS["ack_incident"], f"incident #{incident_id} acknowledged by {actor}", incident)


def resolve_incident(ctl: Control, actor: Actor, incident_id: int, note: str) -> OpResult:
    incident = ctl.incidents.resolve(int(incident_id), actor.name, note)
    return OpResult(True, ACTIONS["resolve_incident"], f"incident #{incident_id} resolved by {actor}", incident)


def _checklist_item(ctl: Control, item_id: str) -> None:
    if ctl.plan.checklist.get(item_id) is None:
        known = [item.id for _, item in ctl.plan.checklist.items()]
        raise UsageError(f"no checklist item {item_id!r} in the plan (known: {', '.join(known) or 'none'})")


def tick(ctl: Control, actor: Actor, item_id: str, note: str = "") -> OpResult:
    _checklist_item(ctl, item_id)
    ctl.store.tick(item_id, actor.name, ticked=True, note=note or f"ticked via {actor.via}")
    return OpResult(True, ACTIONS["tick"], f"{item_id} ticked by {actor}")


def untick(ctl: Control, actor: Actor, item_id: str, note: str = "") -> OpResult:
    _checklist_item(ctl, item_id)
    ctl.store.tick(item_id, actor.name, ticked=False, note=note or f"unticked via {actor.via}")
    return OpResult(True, ACTIONS["untick"], f"{item_id} unticked by {actor}")


def _now() -> Any:
    from launch_control.store.db import utcnow

    return utcnow()
