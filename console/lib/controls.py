"""What the Controls page does, kept apart from its widgets: every action audited with who and why.

Flows start through Prefect (``run_deployment``, returning at once) — deployment names below,
overridable with ``LAUNCH_CONTROL_DEPLOYMENT_<ACTION>``. Actions with an in-process path
(pause/resume, set traffic, emergency rollback) work with Prefect down; the emergency rollback
always calls ``launch_control.rollback.emergency_rollback`` directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from console.lib import prefect_ui
from launch_control.auth import User
from launch_control.plan import Plan
from launch_control.store import Store

DEPLOYMENTS = {
    "start_canary": "canary-ramp/canary-ramp",
    "promote": "full-rollout/full-rollout",
    "gradual_rollback": "gradual-rollback/gradual-rollback",
}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    details: dict[str, Any] | None = None


def deployment(action: str) -> str:
    return os.environ.get(f"LAUNCH_CONTROL_DEPLOYMENT_{action.upper()}", DEPLOYMENTS[action])


def start_flow(store: Store, user: User, action: str, reason: str, parameters: dict[str, Any]) -> Outcome:
    """Start the action's Prefect deployment; a plain message when Prefect is unreachable."""
    health = prefect_ui.health()
    name = deployment(action)
    if not health.ok:
        store.audit(user.actor, f"console.{action}", reason=reason, started=False, error=health.message)
        return Outcome(False, f"{health.message}. The flow {name!r} was not started.")
    try:
        run_id = prefect_ui.run_deployment(name, {**parameters, "reason": reason, "actor": user.actor})
    except Exception as exc:  # unknown deployment, server error: the person needs the message
        store.audit(user.actor, f"console.{action}", reason=reason, started=False, error=str(exc))
        return Outcome(False, f"Prefect did not start {name!r}: {exc}")
    store.audit(user.actor, f"console.{action}", reason=reason, started=True, deployment=name, flow_run_id=run_id,
                **parameters)
    link = prefect_ui.run_link(run_id)
    message = f"Started {name!r}: flow run {run_id}" + (f" ({link})" if link else "")
    return Outcome(True, message, {"flow_run_id": run_id})


def set_paused(store: Store, user: User, paused: bool, reason: str) -> Outcome:
    # The same records as ``launch-control pause`` / ``resume``: the engine reads the flag.
    store.update_state(paused=paused)
    store.audit(user.actor, "engine.pause" if paused else "engine.unpause", reason=reason, source="console")
    return Outcome(True, "Ramp paused: it holds its current weight." if paused else "Ramp resumed.")


def set_traffic(plan: Plan, store: Store, user: User, weight: float, reason: str) -> Outcome:
    from launch_control.traffic import build_router

    try:
        build_router(plan.rollback.router).set_weight(weight)
    except Exception as exc:  # RouterError / UsageError (no token): the message says what to do
        store.audit(user.actor, "console.set_traffic", weight=weight, reason=reason, ok=False, error=str(exc))
        return Outcome(False, f"Traffic not changed: {exc}")
    store.update_state(canary_weight=weight)
    store.audit(user.actor, "console.set_traffic", weight=weight, reason=reason, ok=True)
    return Outcome(True, f"Canary now gets {weight:g}% of traffic.")


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
    headline = f"TTR {ttr:.2f} s" if ttr is not None else "no verified TTR"
    return Outcome(bool(result.ok), f"{headline} — {result.message}", {"ttr_seconds": ttr, "stages": stages})
