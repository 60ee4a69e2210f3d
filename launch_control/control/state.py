"""The launch's state, typed: phases and their legal transitions, what a step has accumulated, the
engine's lease, and the few pure questions every front end asks of it (time left, engine alive).

One row of ``launch_state`` (``store.Store.state()``) becomes a ``LaunchState`` with
``LaunchState.from_row(row)``; the JSON ``extra`` column stays the storage for the parts that
have no column of their own (lease, evidence, time scale, served weight), but nobody reads it
untyped any more: ``LaunchState`` is the one reader, ``extra_update`` the one writer's helper.

Pure on purpose (standard library only): the emergency path, ``--status``, the console and the
report import it without SQLAlchemy, pydantic or httpx.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from launch_control.errors import LaunchControlError

HEARTBEAT_FLOOR = 5.0  # seconds: an engine is alive if it beat within max(3 intervals, this)


class Phase(StrEnum):  # a str: rows, JSON and comparisons with plain strings work as before
    PLANNED = "planned"
    RAMPING = "ramping"
    PAUSED = "paused"
    AWAITING_APPROVAL = "awaiting_approval"
    COMPLETE = "complete"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    ABORTED = "aborted"


# The ramp is in progress in these phases (an engine should be working on it).
RAMP_PHASES = frozenset({Phase.RAMPING, Phase.PAUSED, Phase.AWAITING_APPROVAL})
# The ramp has ended in these: the engine stops, time left is gone.
ENDED_PHASES = frozenset({Phase.COMPLETE, Phase.ROLLED_BACK, Phase.ROLLBACK_FAILED, Phase.ABORTED})

_P = Phase
# old phase → phases it may move to. Staying in the same phase is always allowed (idempotent
# writes); any phase may move to rolling_back (a rollback is never refused for the state's sake).
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    _P.PLANNED: frozenset({_P.RAMPING, _P.COMPLETE, _P.ABORTED}),
    _P.RAMPING: frozenset({_P.PAUSED, _P.AWAITING_APPROVAL, _P.COMPLETE, _P.ABORTED}),
    _P.PAUSED: frozenset({_P.RAMPING, _P.COMPLETE, _P.ABORTED}),
    _P.AWAITING_APPROVAL: frozenset({_P.RAMPING, _P.PAUSED, _P.COMPLETE, _P.ABORTED}),
    _P.COMPLETE: frozenset({_P.RAMPING, _P.PLANNED}),
    _P.ROLLING_BACK: frozenset({_P.ROLLED_BACK, _P.ROLLBACK_FAILED}),
    _P.ROLLED_BACK: frozenset({_P.RAMPING, _P.PLANNED}),
    _P.ROLLBACK_FAILED: frozenset({_P.ROLLED_BACK, _P.PLANNED}),
    _P.ABORTED: frozenset({_P.RAMPING, _P.PLANNED}),
}

_WHAT_TO_DO: dict[Phase, str] = {
    _P.PLANNED: "start the ramp first: launch-control --start-canary",
    _P.COMPLETE: "the ramp is complete; start a new one with launch-control --start-canary",
    _P.ROLLING_BACK: "a rollback is running; wait for it (launch-control --status)",
    _P.ROLLED_BACK: "the launch was rolled back; start a new ramp with launch-control --start-canary",
    _P.ROLLBACK_FAILED: "the rollback failed: follow the runbook, then run emergency-rollback again",
    _P.ABORTED: "the ramp was aborted; start a new one with launch-control --start-canary",
    _P.PAUSED: "the ramp is paused; resume it with launch-control resume",
    _P.AWAITING_APPROVAL: "the ramp waits for go/no-go: launch-control approve [--no-go]",
    _P.RAMPING: "the ramp is running; pause it first with launch-control pause",
}


class IllegalTransition(LaunchControlError):
    """A change the launch's phase does not allow; the message says what to do instead."""


def as_phase(value: str | Phase) -> Phase:
    try:
        return Phase(value)
    except ValueError:
        known = ", ".join(p.value for p in Phase)
        raise IllegalTransition(f"unknown launch phase {value!r} (known: {known})") from None


def can_transition(old: str | Phase, new: str | Phase) -> bool:
    old, new = as_phase(old), as_phase(new)
    return old == new or new == Phase.ROLLING_BACK or new in TRANSITIONS[old]


def check_transition(old: str | Phase, new: str | Phase) -> None:
    """Refuse a phase change the table does not allow, saying what the person can do instead."""
    if not can_transition(old, new):
        o, n = as_phase(old), as_phase(new)
        raise IllegalTransition(f"the launch cannot go from {o.value} to {n.value}: {_WHAT_TO_DO[o]}")


def _time(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _float(value: Any, default: float | None = None) -> float | None:
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class Lease:
    """Which engine owns the launch: taken and renewed by compare-and-swap on the row's revision."""

    token: str
    pid: int
    host: str
    at: dt.datetime | None  # last heartbeat (UTC)
    interval: float | None = None  # the engine's analysis interval, to judge the heartbeat's age

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Lease | None:
        if not data:
            return None
        return cls(
            token=str(data.get("token") or f"pid:{data.get('pid')}"),
            pid=int(data.get("pid") or 0),
            host=str(data.get("host") or ""),
            at=_time(data.get("at")),
            interval=_float(data.get("interval")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "pid": self.pid,
            "host": self.host,
            "at": self.at.isoformat() if self.at else None,
            "interval": self.interval,
        }


@dataclass(frozen=True)
class Evidence:
    """What the current step has accumulated; persisted each interval so a resumed engine continues."""

    step: int | None = None
    green_seconds: float = 0.0  # time observed with the gates green (counts towards the hold)
    intervals: int = 0
    passes: int = 0
    failure_streak: int = 0
    holds_in_row: int = 0
    last: str | None = None
    gate: dict[str, Any] | None = None  # Gate.snapshot()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, legacy_observed: Any = None) -> Evidence:
        data = data or {}
        return cls(
            step=data.get("step"),
            green_seconds=_float(data.get("green_seconds"), _float(legacy_observed, 0.0)) or 0.0,
            intervals=int(data.get("intervals") or 0),
            passes=int(data.get("passes") or 0),
            failure_streak=int(data.get("failure_streak") or 0),
            holds_in_row=int(data.get("holds_in_row") or 0),
            last=data.get("last"),
            gate=dict(data["gate"]) if isinstance(data.get("gate"), Mapping) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Served:
    """The weight the router reported serving at the engine's last check, next to the recorded one."""

    weight: float | None
    at: dt.datetime | None
    error: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Served | None:
        if not data:
            return None
        return cls(_float(data.get("weight")), _time(data.get("at")), str(data.get("error") or ""))

    def to_dict(self) -> dict[str, Any]:
        return {"weight": self.weight, "at": self.at.isoformat() if self.at else None, "error": self.error}


@dataclass(frozen=True)
class LaunchState:
    """One launch's state, typed. Build it with ``from_row``; write changes through the store."""

    launch_id: str
    phase: Phase
    current_step: int | None
    canary_weight: float
    revision: int
    step_started_at: dt.datetime | None = None
    launch_started_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    frozen: bool = False
    degraded: bool = False
    time_scale: float = 1.0
    min_interval: float | None = None
    lease: Lease | None = None
    evidence: Evidence = field(default_factory=Evidence)
    served: Served | None = None
    awaiting_approval: dict[str, Any] | None = None
    paused_by: str | None = None
    paused_reason: str = ""
    ended_by: str | None = None  # who ended the ramp (rollback, abort), for "rolled back by X: why"
    ended_reason: str = ""
    request: dict[str, Any] | None = None  # an operation the engine should carry out (gradual rollback)
    extra: dict[str, Any] = field(default_factory=dict)  # the raw column, for writers that merge into it

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LaunchState:
        extra = dict(row.get("extra") or {})
        phase = as_phase(row.get("phase") or "planned")
        if phase == Phase.RAMPING and row.get("paused"):
            phase = Phase.PAUSED  # rows written before "paused" was a phase of its own
        pause = extra.get("pause") or {}
        ended = extra.get("ended") or {}
        return cls(
            launch_id=str(row.get("launch_id") or "default"),
            phase=phase,
            current_step=row.get("current_step"),
            canary_weight=float(row.get("canary_weight") or 0.0),
            revision=int(row.get("revision") or 0),
            step_started_at=_time(row.get("step_started_at")),
            launch_started_at=_time(row.get("launch_started_at")),
            updated_at=_time(row.get("updated_at")),
            frozen=bool(row.get("frozen")),
            degraded=bool(row.get("degraded")),
            time_scale=_float(extra.get("time_scale"), 1.0) or 1.0,
            min_interval=_float(extra.get("min_interval")),
            lease=Lease.from_dict(extra.get("engine")),
            evidence=Evidence.from_dict(extra.get("evidence"), extra.get("observed")),
            served=Served.from_dict(extra.get("served")),
            awaiting_approval=extra.get("awaiting_approval") or None,
            paused_by=pause.get("by"),
            paused_reason=str(pause.get("reason") or ""),
            ended_by=ended.get("by"),
            ended_reason=str(ended.get("reason") or ""),
            request=extra.get("request") or None,
            extra=extra,
        )

    @property
    def paused(self) -> bool:
        return self.phase == Phase.PAUSED

    @property
    def ramping(self) -> bool:
        """The ramp is in progress (running, paused or waiting for go/no-go)."""
        return self.phase in RAMP_PHASES

    @property
    def ended(self) -> bool:
        return self.phase in ENDED_PHASES

    def served_mismatch(self, tolerance: float = 0.01) -> bool:
        """The router's last reported weight differs from the recorded one."""
        if self.served is None or self.served.weight is None:
            return False
        return abs(self.served.weight - self.canary_weight) > tolerance


def extra_update(state: LaunchState, **values: Any) -> dict[str, Any]:
    """The ``extra`` column with typed values merged in (``None`` removes a key)."""
    merged = dict(state.extra)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        elif hasattr(value, "to_dict"):
            merged[key] = value.to_dict()
        else:
            merged[key] = value
    return merged


# --- the pure questions ------------------------------------------------------------------------------


def scaled_hold(state: LaunchState, hold: float) -> float:
    """A step's hold as the engine runs it (compressed by the recorded time scale)."""
    return hold / (state.time_scale or 1.0)


def time_left(state: LaunchState, hold_seconds: float) -> float | None:
    """Seconds of green time still needed in the current step's hold, the one figure for it.

    Green time (intervals the gates judged green while not paused) against the hold: frozen while
    paused, since no green time accrues then; None when there is no hold to count (no step, a
    step without a hold) or the ramp is no longer in progress (complete, rolled back, aborted).
    """
    if not state.ramping or state.current_step is None or not hold_seconds or hold_seconds <= 0:
        return None
    green = state.evidence.green_seconds if state.evidence.step in (None, state.current_step) else 0.0
    return max(0.0, float(hold_seconds) - green)


def heartbeat_age(state: LaunchState, now: dt.datetime) -> float | None:
    """Seconds since the owning engine's last heartbeat; None when no engine holds the lease."""
    if state.lease is None or state.lease.at is None:
        return None
    return max(0.0, (now - state.lease.at).total_seconds())


def engine_alive(state: LaunchState, now: dt.datetime, interval: float | None = None) -> bool:
    """An engine holds the lease and beat within three of its intervals (at least HEARTBEAT_FLOOR s)."""
    age = heartbeat_age(state, now)
    if age is None:
        return False
    every = interval if interval is not None else (state.lease.interval if state.lease else None)
    return age <= max(3 * (every or 0.0), HEARTBEAT_FLOOR)


def phase_words(state: LaunchState) -> str:
    """The phase in plain words, with who ended or paused the ramp when that is known."""
    weight = f"{state.canary_weight:g}%"
    by = f" by {state.ended_by}" if state.ended_by else ""
    why = f": {state.ended_reason}" if state.ended_reason else ""
    words = {
        Phase.PLANNED: "planned, the ramp has not started",
        Phase.RAMPING: f"ramping, canary at {weight}",
        Phase.PAUSED: f"paused at {weight}"
        + (f" by {state.paused_by}" if state.paused_by else "")
        + (f": {state.paused_reason}" if state.paused_reason else ""),
        Phase.AWAITING_APPROVAL: f"waiting for go/no-go, canary at {weight}",
        Phase.COMPLETE: f"complete, canary at {weight}",
        Phase.ROLLING_BACK: f"rolling back{by}{why}",
        Phase.ROLLED_BACK: f"rolled back{by}{why}",
        Phase.ROLLBACK_FAILED: f"rollback failed{by}{why}: act by hand (runbook)",
        Phase.ABORTED: f"aborted{by}{why}",
    }
    return words[state.phase]


def step_hold(state: LaunchState, holds: list[float] | tuple[float, ...]) -> float:
    """The current step's hold as the engine runs it (scaled), 0 when there is no step; ``holds``
    are the plan's ``[s.hold for s in plan.canary.steps]``."""
    step = state.current_step
    if step is None or not 0 <= step < len(holds):
        return 0.0
    return scaled_hold(state, float(holds[step] or 0.0))


def engine_words(state: LaunchState, now: dt.datetime) -> str:
    """Whether an engine is working on the launch, in words (for --status, --monitor, the console)."""
    age = heartbeat_age(state, now)
    lease = state.lease
    if lease is None or age is None:
        return "no live engine"
    where = f"pid {lease.pid} on {lease.host}"
    if engine_alive(state, now):
        return f"engine alive ({where}, heartbeat {age:.1f} s ago)"
    return f"no live engine (last heartbeat {age:.0f} s ago from {where})"


def served_words(state: LaunchState) -> str | None:
    """A warning when the router last reported serving another weight than the recorded one."""
    if not state.served_mismatch() or state.served is None or state.served.weight is None:
        return None
    return (f"the router serves {state.served.weight:g}% to the canary but {state.canary_weight:g}% is recorded: "
            "check the traffic plane (launch-control --traffic N sets it again)")
