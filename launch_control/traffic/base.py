"""The traffic-router interface: the one thing the engine and rollback need from a traffic plane.

Weights are the canary's share of traffic in percent (0–100); stable gets the rest. Adapters
raise ``RouterError`` (never a vendor exception) and must be idempotent: setting the weight it
already has is a success.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class TrafficRouter(Protocol):
    name: str

    def set_weight(self, canary_percent: float) -> None:
        """Send ``canary_percent`` of traffic to the canary from the next request on."""

    def get_weight(self) -> float:
        """The canary's current share in percent, as the traffic plane reports it."""

    def healthy(self) -> bool:
        """Whether the traffic plane answers (for status pages and pre-flight checks)."""
