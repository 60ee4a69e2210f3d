"""The launch operations that move traffic: set the canary's weight, promote to 100 %, and roll
back, gradually (carried out by the engine under its lease, or by
``launch_control.ramp.engine.carry_out``) or at once (``launch_control.ramp.rollback``).
Each reads the typed state, refuses what it does not allow and commits one audited change
(``launch_control.control.operation_parts``).
"""

from __future__ import annotations

from typing import Any

from launch_control.control.operation_parts import (
    ACTIONS,
    Actor,
    Control,
    OperationRefused,
    OpResult,
    check_or_refuse,
    commit,
    needs_reason,
    phase_change,
    route,
    utc_now,
    weight_arg,
)
from launch_control.control.state import LaunchState, Phase, engine_alive, extra_update
from launch_control.control.timeline import record_stage

# --- traffic -------------------------------------------------------------------------------------------------


def set_traffic(ctl: Control, actor: Actor, weight: float, reason: str, *, replace_step: bool = False) -> OpResult:
    """Send ``weight`` % to the canary. Mid-ramp, away from the step's weight, this pauses the ramp
    (and says so) unless ``replace_step``: then the step holds the new weight and the gates judge it."""
    weight = weight_arg(weight)
    before = ctl.state()
    if before.phase == Phase.ROLLING_BACK:
        raise OperationRefused("a rollback is running; traffic is its business until it ends (launch-control --status)")
    served = route(ctl, weight)
    paused_by_this: list[bool] = []

    def change(state: LaunchState) -> dict[str, Any]:
        fields: dict[str, Any] = {"canary_weight": weight}
        extra: dict[str, Any] = {"served": {"weight": served, "at": utc_now().isoformat()}}
        step_weight = ctl.step_weight(state)
        away = state.ramping and step_weight is not None and abs(step_weight - weight) > 1e-9
        if away and replace_step:
            extra["step_weight"] = {"step": state.current_step, "weight": weight, "by": actor.name}
        elif away and state.phase != Phase.PAUSED:
            fields.update(phase_change(state, Phase.PAUSED))
            why = f"traffic set to {weight:g}% by {actor} (step {(state.current_step or 0) + 1} holds {step_weight:g}%)"
            extra["pause"] = {"by": actor.name, "reason": why, "at": utc_now().isoformat()}
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
        ended = {"by": actor.name, "reason": reason or "promoted", "at": utc_now().isoformat()}
        extra = extra_update(state, served={"weight": served, "at": utc_now().isoformat()}, ended=ended, pause=None)
        return {**phase_change(state, Phase.COMPLETE), "canary_weight": 100.0, "extra": extra}

    commit(ctl, actor, ACTIONS["promote"], change, reason=reason)
    record_stage(ctl.plan, ctl.store, "full_rollout", "done", f"promoted by {actor}")
    return OpResult(True, ACTIONS["promote"], f"Promoted: {ctl.plan.release.version} serves 100% of traffic.")


# --- rollbacks -----------------------------------------------------------------------------------------------


def gradual_rollback(ctl: Control, actor: Actor, reason: str) -> OpResult:
    """Ask for a gradual rollback: the live engine carries it out under its lease within one
    interval; without one, the caller runs ``ramp.engine.carry_out(ctl, actor)`` (the CLI does so in-process)."""
    reason = needs_reason(reason, "roll back gradually")
    now = utc_now()

    def change(state: LaunchState) -> dict[str, Any]:
        if state.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK):
            raise OperationRefused(f"the launch is already {state.phase.value.replace('_', ' ')}")
        if state.canary_weight <= 0:
            raise OperationRefused("the canary gets no traffic; there is nothing to roll back gradually")
        request = {"kind": "gradual_rollback", "by": actor.name, "reason": reason, "at": now.isoformat()}
        return {"extra": extra_update(state, request=request)}

    state = commit(ctl, actor, ACTIONS["gradual_rollback"], change, reason=reason)
    alive = engine_alive(state, now)
    levels = [f"{w:g}%" for w in ctl.plan.rollback.gradual_steps if 0 < w < state.canary_weight]
    steps = " → ".join([*levels, "0%"])  # the engine's own list: the levels below today's weight, then 0%
    who = "the running engine carries it out" if alive else "no engine is running: carry it out here"
    return OpResult(True, ACTIONS["gradual_rollback"], f"gradual rollback requested ({steps}); {who}",
                    {"engine_alive": alive})  # fmt: skip


def emergency_rollback(ctl: Control, actor: Actor, reason: str, target_version: str | None = None) -> OpResult:
    """All traffic to stable now, verified (``launch_control.ramp.rollback``; audited there as
    ``rollback.start`` / ``rollback.finish``). A running engine ends within one interval."""
    import launch_control.ramp.rollback as rollback  # looked up at call time: tests replace the function

    reason = needs_reason(reason, "roll back")
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
