"""What the Controls page does, kept apart from its widgets: every action audited with who and why.

The canary ramp starts through Prefect (``run_deployment`` of ``flows.deployments``' canary-ramp
deployment, returning at once; override the name with ``LAUNCH_CONTROL_DEPLOYMENT_START_CANARY``).
Pause/resume, set traffic, promote and the gradual rollback run in this process through the engine
and the plan's router, so they work with Prefect down; the emergency rollback always calls
``launch_control.rollback.emergency_rollback`` directly.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from console.lib import prefect_ui
from launch_control.auth import User
from launch_control.plan import Plan
from launch_control.store import Store


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    details: dict[str, Any] | None = None


def deployment(plan: Plan, action: str = "start_canary") -> str:
    """``flow/deployment``: flows.deployments names the ramp's deployment after its timeline entry."""
    if configured := os.environ.get(f"LAUNCH_CONTROL_DEPLOYMENT_{action.upper()}"):
        return configured
    entry = next((e for e in plan.timeline.entries if e.action == "canary_ramp"), None)
    return f"canary-ramp/{entry.id if entry else 'canary-ramp'}"


def start_canary(plan: Plan, store: Store, user: User, reason: str) -> Outcome:
    """Start the canary ramp through Prefect, after the pre-launch checks; plain messages otherwise."""
    preflight = _optional("launch_control.preflight")
    blockers = preflight.preflight_blockers(plan, store) if preflight is not None else []
    if blockers:
        store.audit(user.actor, "console.start_canary", reason=reason, started=False, blockers=blockers)
        return Outcome(False, "Pre-launch checks block the start: " + "; ".join(blockers))
    parameters = {"plan_path": plan.source, "store_url": store.url}
    return start_flow(store, user, "start_canary", deployment(plan), reason, parameters)


def _optional(name: str) -> Any:
    from console.lib import optional

    return optional.load(name)


def start_flow(store: Store, user: User, action: str, name: str, reason: str, parameters: dict[str, Any]) -> Outcome:
    """Start Prefect deployment ``name``; a plain message when Prefect is unreachable."""
    health = prefect_ui.health()
    if not health.ok:
        store.audit(user.actor, f"console.{action}", reason=reason, started=False, error=health.message)
        return Outcome(False, f"{health.message}. The flow {name!r} was not started.")
    try:
        run_id = prefect_ui.run_deployment(name, parameters)
    except Exception as exc:  # unknown deployment, server error: the person needs the message
        store.audit(user.actor, f"console.{action}", reason=reason, started=False, error=str(exc))
        return Outcome(False, f"Prefect did not start {name!r}: {exc}")
    store.audit(user.actor, f"console.{action}", reason=reason, started=True, deployment=name, flow_run_id=run_id)
    link = prefect_ui.run_link(run_id)
    message = f"Started {name!r}: flow run {run_id}" + (f" ({link})" if link else "")
    return Outcome(True, message, {"flow_run_id": run_id})


def set_paused(plan: Plan, store: Store, user: User, paused: bool, reason: str) -> Outcome:
    # The same records as ``launch-control pause`` / ``resume``: the engine reads the flag.
    store.update_state(paused=paused)
    store.audit(user.actor, "engine.pause" if paused else "engine.unpause", reason=reason, source="console")
    if paused:
        return Outcome(True, f"Ramp paused by {user.actor}: it holds {store.state()['canary_weight']:g}% and its "
                             "hold stops counting until it is resumed.")
    return Outcome(True, f"Ramp resumed by {user.actor}: the gates judge again and the hold counts on.")


def set_traffic(plan: Plan, store: Store, user: User, weight: float, reason: str, *,
                replace_step: bool = False) -> Outcome:
    """Send ``weight``% to the canary. Mid-ramp, away from the step's weight, the ramp pauses unless
    ``replace_step`` (then the weight becomes the step's): the engine must never fight the person."""
    from launch_control.traffic import build_router

    state = store.state()
    steps = plan.canary.steps
    step = state.get("current_step")
    ramping = state.get("phase") in ("ramping", "paused", "awaiting_approval")
    away = ramping and step is not None and 0 <= step < len(steps) and abs(steps[step].weight - weight) > 1e-9
    try:
        build_router(plan.rollback.router).set_weight(weight)
    except Exception as exc:  # RouterError / UsageError (no token): the message says what to do
        store.audit(user.actor, "console.set_traffic", weight=weight, reason=reason, ok=False, error=str(exc))
        return Outcome(False, f"Traffic not changed: {exc}")
    fields: dict[str, Any] = {"canary_weight": weight}
    if away and not replace_step:
        fields["paused"] = True
    store.update_state(**fields)
    store.audit(user.actor, "console.set_traffic", weight=weight, reason=reason, ok=True,
                replace_step=bool(replace_step and away), paused=bool(away and not replace_step))
    message = f"Canary now gets {weight:g}% of traffic."
    if away:
        message += (f" Step {step + 1}'s weight is now {weight:g}%; the ramp goes on from it." if replace_step
                    else f" The ramp is paused (step {step + 1} is {steps[step].weight:g}%): resume it to go on.")
    return Outcome(True, message)


def emergency_rollback(plan: Plan, store: Store, user: User, reason: str) -> Outcome:
    """All traffic to stable now, without Prefect; returns the TTR and the stages."""
    import launch_control.rollback as rollback  # looked up at call time: tests replace the function

    store.audit(user.actor, "console.emergency_rollback", reason=reason)
    result = rollback.emergency_rollback(plan, store, reason=reason, actor=user.actor, trigger="console")
    stages = [
        {"stage": s.name, "ok": s.ok, "after": f"{s.elapsed:.2f} s", "detail": s.detail}
        for s in getattr(result, "stages", []) or []
    ]
    ttr = getattr(result, "ttr_seconds", None)
    verify = next((s for s in getattr(result, "stages", []) or [] if getattr(s, "name", "") == "verify"), None)
    after = f" after {verify.elapsed:.0f} s" if verify is not None else ""
    headline = f"TTR {ttr:.2f} s" if ttr is not None and result.ok else f"not verified{after}"
    return Outcome(bool(result.ok), f"{headline} — {result.message}", {"ttr_seconds": ttr, "stages": stages})


def promote(plan: Plan, store: Store, user: User, reason: str) -> Outcome:
    """100% to the release now, recorded as the engine records a completed ramp."""
    from launch_control.engine import Engine

    outcome = set_traffic(plan, store, user, 100.0, reason)
    if not outcome.ok:
        return outcome
    Engine(plan, store, actor=user.actor).complete()
    store.audit(user.actor, "console.promote", reason=reason)
    return Outcome(True, f"Promoted: {plan.release.version} serves 100% of traffic.")


_gradual: dict[str, threading.Thread] = {}


def gradual_rollback(plan: Plan, store: Store, user: User, reason: str) -> Outcome:
    """Step the canary down (plan.rollback.gradual_steps) in a background thread of this process."""
    from launch_control.engine import Engine

    running = _gradual.get(store.launch_id)
    if running is not None and running.is_alive():
        return Outcome(False, "A gradual rollback is already running; follow it on the Overview page.")
    store.audit(user.actor, "console.gradual_rollback", reason=reason)
    engine = Engine(plan, store, actor=user.actor)
    thread = threading.Thread(target=engine.gradual_rollback, args=(reason,), kwargs={"actor": user.actor},
                              name=f"gradual-rollback:{store.launch_id}", daemon=True)
    _gradual[store.launch_id] = thread
    thread.start()
    steps = " → ".join(f"{w:g}%" for w in plan.rollback.gradual_steps)
    return Outcome(True, f"Gradual rollback started ({steps}, {plan.rollback.gradual_hold:g} s each, watched by "
                         "the gates; any failure turns into an emergency rollback).")
