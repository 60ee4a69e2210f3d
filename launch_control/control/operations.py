"""The launch's operations, one copy each: the CLI, the console, the flows and the engine act only
through these functions.

Each operation reads the typed launch state (``launch_control.control.state``), refuses what the state
does not allow with a message a person can act on (``OperationRefused``), does its side effect
with the same bounded retries whoever calls it, and writes the state change and one audit event
with one name (``ACTIONS``) in one compare-and-swap on the state's revision. A running engine
re-reads the state every analysis interval, so whatever an operation changes (pause, traffic,
rollback, promote) is seen by it within one interval.

The shared parts (``Actor``, ``Control``, ``OpResult``, ``OperationRefused``, ``ACTIONS``, ``commit``,
``route``) live in ``launch_control.control.operation_parts``, the traffic and rollback operations
in ``launch_control.control.traffic``; this module holds starting, pausing, go/no-go, incidents and
the checklist, and every operation's name stays importable from here (callers use ``ops.<name>``).

Nothing here imports prefect or streamlit: approving a Prefect flow's go/no-go goes through
``launch_control.control.seams`` at call time.
"""

from __future__ import annotations

from typing import Any

# Re-exported: callers import every operation and its parts from launch_control.control.operations.
from launch_control.control.operation_parts import (
    ACTIONS,
    CAS_ATTEMPTS,
    ROUTER_ATTEMPTS,
    Actor,
    Control,
    OperationRefused,
    OpResult,
    check_or_refuse,
    commit,
    phase_change,
    route,
    served_weight,
    utc_now,
)
from launch_control.control.state import LaunchState, Phase, check_transition, extra_update
from launch_control.control.traffic import emergency_rollback, gradual_rollback, promote, set_traffic
from launch_control.errors import UsageError

__all__ = [
    "ACTIONS", "CAS_ATTEMPTS", "ROUTER_ATTEMPTS", "Actor", "Control", "OpResult", "OperationRefused", "ack_incident",
    "approve", "check_or_refuse", "commit", "emergency_rollback", "gradual_rollback", "may_start",
    "no_go", "pause", "promote", "resolve_incident", "resume", "route", "served_weight", "set_traffic",
    "start_ramp", "tick", "untick",
]  # fmt: skip


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
        pause_info = {"by": actor.name, "reason": reason, "at": utc_now().isoformat()}
        return {**phase_change(state, Phase.PAUSED), "extra": extra_update(state, pause=pause_info)}

    state = commit(ctl, actor, ACTIONS["pause"], change, reason=reason)
    return OpResult(True, ACTIONS["pause"], f"ramp paused at {state.canary_weight:g}%: the weight stays, gates keep "
                    "judging, the hold clock stops (launch-control resume)", {"weight": state.canary_weight})


def resume(ctl: Control, actor: Actor, reason: str = "") -> OpResult:
    """Continue a paused ramp; a running engine puts the step's weight back if traffic was moved."""

    def change(state: LaunchState) -> dict[str, Any]:
        if state.phase != Phase.PAUSED:
            raise OperationRefused(f"the ramp is not paused (it is {state.phase.value}); nothing to resume")
        return {**phase_change(state, Phase.RAMPING), "extra": extra_update(state, pause=None)}

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
