"""What the Controls page does, kept apart from its widgets: every action audited with who and why.

Every action is a call to ``launch_control.control.operations`` — the same functions, audit names and
retries as the CLI and the flows. The canary ramp starts through Prefect (``run_deployment`` of
``launch_control.flows.deployments``' canary-ramp deployment, returning at once; override the name with
``LAUNCH_CONTROL_DEPLOYMENT_START_CANARY``) after ``operations.may_start``. Pause/resume, set
traffic, promote and both rollbacks work with Prefect down. A gradual rollback is carried out by
the live engine under its lease; with none running, by a ``launch-control carry-out`` process
started from here (never a thread of the console).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from launch_control.console.lib import prefect_ui

from launch_control.control import operations as ops
from launch_control.errors import LaunchControlError
from launch_control.plan.model import Plan
from launch_control.store.db import Store
from launch_control.web.auth import User


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


def _act(user: User) -> ops.Actor:
    return ops.Actor(user.actor, "console")


def _run(body: Any, failed: str) -> Outcome:
    """An operation's result as an Outcome; a refusal or an adapter error is said on the page."""
    try:
        result = body()
    except LaunchControlError as exc:
        return Outcome(False, f"{failed}: {exc}")
    return Outcome(bool(result.ok), result.message, dict(result.details or {}))


def start_canary(plan: Plan, store: Store, user: User, reason: str) -> Outcome:
    """Start the canary ramp through Prefect, after the one "may the canary start?" check."""
    ctl = ops.Control(plan, store)
    try:
        ops.may_start(ctl, reason=reason, run_missing=False)
    except LaunchControlError as exc:
        text = str(exc).replace("preflight failed, the canary does not start:", "").strip()
        return Outcome(False, "Pre-launch checks block the start: " + "; ".join(t.strip() for t in text.splitlines()))
    health = prefect_ui.health()
    name = deployment(plan)
    if not health.ok:
        return Outcome(False, f"{health.message}. The flow {name!r} was not started.")
    outcome = _run(lambda: ops.start_ramp(ctl, _act(user), reason=reason), "The ramp may not start")
    if not outcome.ok:
        return outcome
    return start_flow(store, user, "start_canary", name, reason, {"plan_path": plan.source, "store_url": store.url})


def start_flow(store: Store, user: User, action: str, name: str, reason: str, parameters: dict[str, Any]) -> Outcome:
    """Start Prefect deployment ``name``; a plain message when Prefect is unreachable."""
    health = prefect_ui.health()
    if not health.ok:
        return Outcome(False, f"{health.message}. The flow {name!r} was not started.")
    try:
        run_id = prefect_ui.run_deployment(name, parameters)
    except Exception as exc:  # unknown deployment, server error: the person needs the message
        return Outcome(False, f"Prefect did not start {name!r}: {exc}")
    link = prefect_ui.run_link(run_id)
    message = f"Started {name!r}: flow run {run_id}" + (f" ({link})" if link else "")
    return Outcome(True, message, {"flow_run_id": run_id})


def set_paused(plan: Plan, store: Store, user: User, paused: bool, reason: str) -> Outcome:
    ctl = ops.Control(plan, store)
    if paused:
        outcome = _run(lambda: ops.pause(ctl, _act(user), reason), "Not paused")
        if outcome.ok:
            return Outcome(True, f"Ramp paused by {user.actor}: it holds {store.state()['canary_weight']:g}% and its "
                                 "hold stops counting until it is resumed.", outcome.details)
        return outcome
    outcome = _run(lambda: ops.resume(ctl, _act(user), reason), "Not resumed")
    if outcome.ok:
        return Outcome(True, f"Ramp resumed by {user.actor}: the gates judge again and the hold counts on.")
    return outcome


def set_traffic(plan: Plan, store: Store, user: User, weight: float, reason: str, *, replace_step: bool = False
                ) -> Outcome:  # fmt: skip
    """Mid-ramp, away from the step's weight, this pauses the ramp unless ``replace_step`` (said)."""
    outcome = _run(lambda: ops.set_traffic(ops.Control(plan, store), _act(user), weight, reason,
                                           replace_step=replace_step), "Traffic not changed")  # fmt: skip
    if not outcome.ok:
        return outcome
    details = outcome.details or {}
    message = f"Canary now gets {weight:g}% of traffic."
    state = store.state()
    step = state.get("current_step")
    if details.get("paused"):
        message += f" The ramp is paused (step {step + 1} is {details.get('step_weight', 0):g}%): resume it to go on."
    elif replace_step and step is not None and state.get("phase") in ("ramping", "paused", "awaiting_approval"):
        message += f" Step {step + 1}'s weight is now {weight:g}%; the ramp goes on from it."
    return Outcome(True, message, details)


def emergency_rollback(plan: Plan, store: Store, user: User, reason: str) -> Outcome:
    """All traffic to stable now, without Prefect; returns the TTR and the stages."""
    outcome = _run(lambda: ops.emergency_rollback(ops.Control(plan, store), _act(user), reason), "Rollback refused")
    details = outcome.details or {}
    ttr = details.get("ttr_seconds")
    if "stages" not in details:
        return outcome
    verify = next((s for s in details["stages"] if s["stage"] == "verify"), None)
    after = f" after {verify['after']}" if verify is not None else ""
    headline = f"TTR {ttr:.2f} s" if ttr is not None and outcome.ok else f"not verified{after}"
    return Outcome(outcome.ok, f"{headline} — {outcome.message}", {"ttr_seconds": ttr, "stages": details["stages"]})


def promote(plan: Plan, store: Store, user: User, reason: str) -> Outcome:
    """100% to the release now; the ramp is complete (a running engine sees it and stops)."""
    return _run(lambda: ops.promote(ops.Control(plan, store), _act(user), reason), "Not promoted")


def gradual_rollback(plan: Plan, store: Store, user: User, reason: str) -> Outcome:
    """Ask for a gradual rollback; without a live engine, start a process that carries it out."""
    outcome = _run(lambda: ops.gradual_rollback(ops.Control(plan, store), _act(user), reason), "Not started")
    if not outcome.ok or (outcome.details or {}).get("engine_alive"):
        return outcome
    command = [sys.executable, "-m", "launch_control.cli", "--actor", user.actor, "carry-out"]
    if plan.source:
        command[3:3] = ["--plan", str(plan.source)]
    env = {**os.environ, "LAUNCH_CONTROL_DATABASE_URL": store.url}
    subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    steps = " → ".join(f"{w:g}%" for w in plan.rollback.gradual_steps)
    return Outcome(True, f"Gradual rollback started ({steps}, {plan.rollback.gradual_hold:g} s each, watched by "
                         "the gates; any failure turns into an emergency rollback).", outcome.details)


def ack_incident(plan: Plan, store: Store, user: User, incident_id: int, note: str = "") -> Outcome:
    return _run(lambda: ops.ack_incident(ops.Control(plan, store), _act(user), incident_id, note), "Not acknowledged")


def resolve_incident(plan: Plan, store: Store, user: User, incident_id: int, note: str = "") -> Outcome:
    return _run(lambda: ops.resolve_incident(ops.Control(plan, store), _act(user), incident_id, note), "Not resolved")


def tick(plan: Plan, store: Store, user: User, item_id: str, ticked: bool, note: str = "from the console") -> Outcome:
    ctl = ops.Control(plan, store)
    if ticked:
        return _run(lambda: ops.tick(ctl, _act(user), item_id, note), "Not ticked")
    return _run(lambda: ops.untick(ctl, _act(user), item_id, note), "Not unticked")
