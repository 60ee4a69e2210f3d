"""What an emergency rollback returns and how a recorded one reads: its stages, its result and
the TTR in words (``ttr_words``), for the rollback itself, --status, the report and the criteria.

Standard library only: this is on the emergency path (see launch_control.ramp.rollback).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)



@dataclass
class Stage:
    name: str
    ok: bool
    at: dt.datetime
    elapsed: float  # seconds since the trigger
    detail: str
    attempts: int = 1


@dataclass
class RollbackResult:
    ok: bool
    message: str
    trigger: str
    reason: str
    actor: str
    target_version: str
    started_at: dt.datetime
    rollback_id: int | None = None
    ttr_seconds: float | None = None
    stages: list[Stage] = field(default_factory=list)
    joined: bool = False  # another rollback of this launch was already running; this is its result

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)



def ttr_words(row: dict[str, Any]) -> str:
    """A recorded rollback in words: ``TTR 1.23 s`` when verified, else ``not verified after N s``."""
    if row.get("ok") and row.get("ttr_seconds") is not None:
        return f"TTR {row['ttr_seconds']:.2f} s"
    started, ended = row.get("started_at"), row.get("finished_at")
    if started is None or ended is None:
        return "not verified (still running, or stopped before it finished)"
    return f"not verified after {max(0.0, (ended - started).total_seconds()):.0f} s"


def after_s(result: RollbackResult) -> float:
    verify = result.stage("verify")
    return verify.elapsed if verify else 0.0
