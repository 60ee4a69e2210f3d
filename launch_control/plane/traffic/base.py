"""The traffic-router interface: the one thing the engine and rollback need from a traffic plane.

Weights are the canary's share of traffic in percent (0–100); stable gets the rest. Adapters
raise ``RouterError`` (never a vendor exception) and must be idempotent: setting the weight it
already has is a success.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

from launch_control.errors import UsageError


@runtime_checkable
class TrafficRouter(Protocol):
    name: str

    def set_weight(self, canary_percent: float) -> None:
        """Send ``canary_percent`` of traffic to the canary from the next request on."""

    def get_weight(self) -> float:
        """The canary's current share in percent, as the traffic plane reports it."""

    def healthy(self) -> bool:
        """Whether the traffic plane answers (for status pages and pre-flight checks)."""


def check_percent(canary_percent: float) -> float:
    """A canary weight as a float in 0–100, or a ``UsageError`` saying what is wrong."""
    try:
        value = float(canary_percent)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"canary weight must be a number of percent, not {canary_percent!r}") from exc
    if math.isnan(value) or not 0.0 <= value <= 100.0:
        raise UsageError(f"canary weight must be between 0 and 100 percent, not {canary_percent!r}")
    return value
