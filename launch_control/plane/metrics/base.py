"""The metric-source interface: per-version numbers for the last analysis interval.

Two methods, as in Flagger's provider interface. ``observe`` never raises for a source that is
down: it returns an ``Observation`` with ``error`` set, so the gate can say "hold: metric source
down" instead of crashing. No data is a distinct result, never a silent zero.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from launch_control.ramp.observations import Observation


@runtime_checkable
class MetricSource(Protocol):
    name: str

    def observe(self, interval: float) -> Observation:
        """Stable and canary over the last ``interval`` seconds (or since the previous call)."""

    def is_online(self) -> bool:
        """Whether the source answers at all."""
