"""What the ramp engine is built from and how it records: its settings and adapters (router,
metric source, gate, notifier, incident manager) built on first use, and its output, timeline
stages, notifications and the leased state write every step goes through (``_write``).

A mixin of ``launch_control.ramp.engine.Engine``, which sets the attributes declared here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from launch_control.control import operations as ops
from launch_control.control.lease import EngineLease
from launch_control.control.state import LaunchState, Phase, check_transition
from launch_control.control.timeline import record_stage
from launch_control.ramp.engine_parts import RampResult, _Ended, ended_by_other
from launch_control.store.db import utcnow

if TYPE_CHECKING:
    from launch_control.plan.model import Plan
    from launch_control.plane.metrics.base import MetricSource
    from launch_control.plane.traffic.base import TrafficRouter
    from launch_control.ramp.analysis import Gate
    from launch_control.ramp.rollback import RollbackResult
    from launch_control.respond.incidents import IncidentManager
    from launch_control.respond.notify import Notifier
    from launch_control.store.db import Store

log = logging.getLogger("launch_control.ramp.engine")  # the engine's one logger, as before the split

MIN_INTERVAL = 0.2  # seconds: a compressed interval below this measures nothing useful


def default_gate(plan: Plan) -> Gate:
    from launch_control.ramp.analysis import Gate

    return Gate(plan.analysis)


class EngineServices:
    """The Engine's parts and records; the Engine's constructor sets every attribute below."""

    plan: Plan
    store: Store
    actor: str
    ctl: ops.Control
    lease: EngineLease
    out: Callable[[str], None]
    auto_rollback: bool
    _time_scale: float | None
    _min_interval: float | None
    _source: MetricSource | None
    _gate: Gate | None
    _incidents: IncidentManager | Literal[False] | None
    _notifier: Notifier | Literal[False] | None
    _incident_rollback: RampResult | None

    def roll_back(self, reason: str, *, trigger: str = "gate") -> RampResult:
        raise NotImplementedError  # the Engine's

    # --- parts built on first use ---------------------------------------------------------------------

    @property
    def time_scale(self) -> float:
        if self._time_scale is None:
            self._time_scale = self.store.launch_state().time_scale
        return self._time_scale

    @property
    def min_interval(self) -> float:
        if self._min_interval is None:
            self._min_interval = self.store.launch_state().min_interval or MIN_INTERVAL
        return max(MIN_INTERVAL, self._min_interval)

    @property
    def interval(self) -> float:
        return max(self.min_interval, self.plan.analysis.interval / self.time_scale)

    def hold_seconds(self, step: int) -> float:
        return self.plan.canary.steps[step].hold / self.time_scale

    @property
    def router(self) -> TrafficRouter:
        if self.ctl._router is None:
            from launch_control.plane.traffic import build_router

            self.ctl._router = build_router(
                self.plan.rollback.router, store=self.store, actor=self.actor, plan=self.plan
            )
        return self.ctl._router

    @property
    def source(self) -> MetricSource:
        if self._source is None:
            from launch_control.plane.metrics import build_source

            self._source = build_source(self.plan.analysis.metric_source)
        return self._source

    @property
    def gate(self) -> Gate:
        if self._gate is None:
            self._gate = default_gate(self.plan)
        return self._gate

    @property
    def notifier(self) -> Notifier | None:
        if self._notifier is None:
            try:
                from launch_control.respond.notify import Notifier

                self._notifier = Notifier(self.plan, self.store)
            except Exception as exc:  # not installed / misconfigured: the ramp goes on, said once
                log.warning("notifications unavailable: %s", exc)
                self._notifier = False
        return self._notifier or None

    @property
    def incidents(self) -> IncidentManager | None:
        if self._incidents is None:
            try:
                from launch_control.respond.incidents import IncidentManager

                self._incidents = IncidentManager(
                    self.plan, self.store, notifier=self.notifier,
                    rollback=self._request_rollback if self.auto_rollback else None,
                )  # fmt: skip
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

    def _say(self, line: str) -> None:
        with contextlib.suppress(Exception):
            self.out(line)

    def _timeline(self, step: int, status: str) -> None:
        weight = self.plan.canary.steps[step].weight
        detail = f"step {step + 1}: {weight:g}% ({self.actor})"
        record_stage(self.plan, self.store, "canary_step", status, detail, step=step)
        if weight >= 100:
            record_stage(self.plan, self.store, "full_rollout", status, detail)

    def _notify(self, kind: str, subject: str, text: str) -> None:
        notifier = self.notifier
        if notifier is not None:
            with contextlib.suppress(Exception):
                notifier.send(kind, subject, text)

    def _write(self, audit: tuple[str, dict[str, Any]] | None = None, *, release: bool = False,
               phase: Phase | None = None, restart: bool = False, **values: Any) -> LaunchState:  # fmt: skip
        """Persist through the lease: column fields by name, the rest into ``extra``. A phase change
        is checked against the transition table on the state read in the same compare-and-swap;
        a ramp someone else ended stops this engine (unless it is starting a new ramp), and a
        person's pause survives the engine's own move back to ramping."""
        columns = {"current_step", "canary_weight", "step_started_at", "launch_started_at", "paused"}

        def change(state: LaunchState) -> dict[str, Any]:
            fields = {k: values[k] for k in values if k in columns}
            if phase is not None:
                ended = None if restart else ended_by_other(state)
                if ended is not None:
                    raise _Ended(ended)
                new = Phase.PAUSED if phase == Phase.RAMPING and state.phase == Phase.PAUSED and not restart else phase
                check_transition(state.phase, new)
                fields.update(phase=new.value, paused=new == Phase.PAUSED)
            fields["extra_values"] = {k: v for k, v in values.items() if k not in columns}
            return fields

        full = (self.actor, audit[0], {**audit[1], "via": "engine"}) if audit else None
        return self.lease.write(change, audit=full, release=release)

    def _set_weight(self, weight: float, step: int | None, why: str) -> float | None:
        """Through the operations' router call (bounded retries), recorded as ``launch.set_traffic``."""
        _ = self.router  # built with this engine's store and actor
        served = ops.route(self.ctl, weight)
        self._write((ops.ACTIONS["set_traffic"], {"weight": weight, "step": step, "why": why, "served": served}),
                    canary_weight=weight, served={"weight": served, "at": utcnow().isoformat()})  # fmt: skip
        return served
