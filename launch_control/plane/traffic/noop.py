"""The ``noop`` traffic router: a dry run that changes no traffic and records every call.

Settings:
  initial  the canary weight it starts with (default 0)
  healthy  what ``healthy()`` answers (default true; false rehearses a router outage)

Context: ``store=`` (a ``Store``) also writes each weight change to the audit trail as
``router.noop.set_weight``, with ``actor=`` (default ``"router:noop"``).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from launch_control.plan.settings_types import SettingsModel, validate_settings
from launch_control.plane.traffic.base import check_percent


@dataclass(frozen=True)
class Call:
    at: dt.datetime
    method: str
    canary_percent: float | None


class NoopRouter:
    name = "noop"

    def __init__(self, initial: float = 0.0, *, healthy: bool = True, store: Any = None, actor: str = "router:noop"):
        self.weight = check_percent(initial)
        self.calls: list[Call] = []
        self._healthy = healthy
        self._store = store
        self._actor = actor
        self._lock = threading.Lock()

    def _record(self, method: str, value: float | None) -> None:
        with self._lock:
            self.calls.append(Call(dt.datetime.now(dt.UTC), method, value))

    def set_weight(self, canary_percent: float) -> None:
        value = check_percent(canary_percent)
        previous = self.weight
        self.weight = value
        self._record("set_weight", value)
        if self._store is not None:
            self._store.audit(self._actor, "router.noop.set_weight", canary=value, previous=previous, dry_run=True)

    def get_weight(self) -> float:
        self._record("get_weight", self.weight)
        return self.weight

    def healthy(self) -> bool:
        self._record("healthy", None)
        return self._healthy

    def weights_set(self) -> list[float]:
        """Every weight asked for, in order."""
        return [c.canary_percent for c in self.calls if c.method == "set_weight" and c.canary_percent is not None]



class Settings(SettingsModel):
    initial: float = Field(default=0.0, ge=0, le=100)
    healthy: bool = True


def build(settings: dict[str, Any], **context: Any) -> NoopRouter:
    validate_settings(Settings, settings, "noop router")
    return NoopRouter(
        float(settings.get("initial", 0.0)),
        healthy=bool(settings.get("healthy", True)),
        store=context.get("store"),
        actor=str(context.get("actor") or "router:noop"),
    )
