"""What every launch operation shares: who acts (``Actor``), what they act on (``Control``: plan,
store, router), what comes back (``OpResult``), the refusal (``OperationRefused``), the one audit
name per operation (``ACTIONS``) and the one compare-and-swap write (``commit``), plus the router
call with bounded retries (``route``). The operations themselves are in
``launch_control.control.operations`` and ``launch_control.control.traffic``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from launch_control import retrying
from launch_control.control.state import IllegalTransition, LaunchState, Phase, check_transition
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


def phase_change(state: LaunchState, new: Phase) -> dict[str, Any]:
    check_transition(state.phase, new)
    return {"phase": new.value, "paused": new == Phase.PAUSED}


def weight_arg(weight: Any) -> float:
    try:
        value = float(weight)
    except (TypeError, ValueError):
        raise UsageError(f"traffic must be a number of percent between 0 and 100 (got {weight!r})") from None
    if not 0.0 <= value <= 100.0:
        raise UsageError(f"traffic must be between 0 and 100 percent (got {value:g})")
    return value


def needs_reason(reason: str, what: str) -> str:
    if not str(reason or "").strip():
        raise UsageError(f"give a reason to {what}: it goes into the audit trail")
    return str(reason).strip()


def check_or_refuse(state: LaunchState, new: Phase) -> None:
    try:
        check_transition(state.phase, new)
    except IllegalTransition as exc:
        raise OperationRefused(str(exc)) from exc


def utc_now() -> Any:
    from launch_control.store.db import utcnow

    return utcnow()
