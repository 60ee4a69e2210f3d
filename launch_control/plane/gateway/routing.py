"""The gateway's view of its routing state: the canary weight and the role -> version mapping,
read from ``shared.RoutingState`` (this process's, or shared memory across ``--workers N``) and
applied only when it changed (``_sync``: one 8-byte read when it did not), and the writes the
admin API makes (``set_weight``, ``point``).

A mixin of ``launch_control.plane.gateway.app.Gateway``, which sets the attributes declared here.
"""

from __future__ import annotations

import logging
from typing import Any

from launch_control.plane.gateway.forward import Target
from launch_control.plane.gateway.metrics import MetricSlots
from launch_control.plane.gateway.shared import RoutingState
from launch_control.plane.gateway.split import ROLES, threshold

log = logging.getLogger("launch_control.plane.gateway")  # the gateway's one logger, as before the split


class RoutingView:
    """Reads and writes of the routing state; the Gateway sets ``known``, ``timeout``, ``state``, ``metrics``."""

    known: dict[str, str]
    timeout: float
    state: RoutingState
    metrics: MetricSlots
    _seq: int
    _weight: float
    _threshold: int
    _versions: dict[str, str]
    _targets: tuple[Target, Target]

    def _sync(self) -> None:
        """Apply the shared state when it changed (one 8-byte read when it did not)."""
        if self.state.seq() == self._seq:
            return
        seq, weight, stable, canary = self.state.read()
        self._weight = weight
        self._threshold = threshold(weight)
        self._versions = {"stable": stable, "canary": canary}
        self._targets = (
            Target("stable", stable, self.known[stable], self.timeout),
            Target("canary", canary, self.known[canary], self.timeout),
        )
        self._seq = seq

    @property
    def canary_weight(self) -> float:
        self._sync()
        return self._weight

    @property
    def versions(self) -> dict[str, str]:
        self._sync()
        return dict(self._versions)

    def weights(self) -> dict[str, float]:
        weight = self.canary_weight
        return {"stable": round(100.0 - weight, 6), "canary": weight}

    def set_weight(self, canary_weight: float) -> None:
        previous = self.canary_weight
        self.state.write(canary_weight=float(canary_weight))
        self._sync()  # read back: the answer says what every worker now serves
        if previous != self._weight:
            log.info("canary weight %g%% -> %g%%", previous, self._weight)

    def point(self, body: dict[str, str]) -> None:
        before = self.versions
        self.state.write(versions=body)
        for role, version in self.versions.items():
            if before[role] != version:
                log.info("%s now served by %s (was %s)", role, version, before[role])

    def upstreams_view(self) -> dict[str, Any]:
        versions = self.versions
        view: dict[str, Any] = {role: {"version": versions[role], "url": self.known[versions[role]]} for role in ROLES}
        view["known"] = dict(self.known)
        return view

    @property
    def upstream_errors(self) -> dict[str, int]:
        return self.metrics.upstream_errors()
