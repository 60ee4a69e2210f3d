"""What a metric source reports for one analysis interval, per version — the gates' input.

A ``VersionWindow`` is one version's numbers over the interval; an ``Observation`` pairs stable
and canary (either may be ``None`` when that version had no data) or says why there is nothing
(``error``: the source is down). "No data" is never a silent zero: ``requests == 0`` means the
source answered and saw no traffic; ``None`` fields mean "not measured".

Versions are named by role in samples and here: ``"stable"`` and ``"canary"``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from launch_control.plan.metrics import SAMPLE_METRICS

ROLES = ("stable", "canary")

# The latency histogram is stored too, one sample per bound named ``latency_le_<bound>`` (value:
# requests at or under it), so a backtest can replay the latency sequential test. Only the bounds
# where the interval's counts change are written — from the last empty bound to the first full
# one; the rest are implied (0 below, every request above): ~10-20 rows, not 52.
BUCKET_PREFIX = "latency_le_"


def bucket_samples(buckets: list[tuple[float, float]]) -> dict[str, float]:
    """{"latency_le_0.47": 12.0, …}: the informative part of a cumulative histogram (bounds round-trip exactly)."""
    finite = [(float(b), float(c)) for b, c in buckets if b != float("inf")]
    if not buckets or not finite:
        return {}
    total = float(buckets[-1][1])
    first = max((i for i, (_, c) in enumerate(finite) if c <= 0), default=0)
    last = min((i for i, (_, c) in enumerate(finite) if c >= total), default=len(finite) - 1)
    return {f"{BUCKET_PREFIX}{b!r}": c for b, c in finite[first : last + 1]}


def buckets_from_samples(
    values: dict[float, float], total: float, bounds: list[float]
) -> list[tuple[float, float]]:
    """A cumulative histogram over ``bounds`` from stored ``bucket_samples`` (bound → count)."""
    if not values:
        return []
    low, high = min(values), max(values)
    out = [(b, values.get(b, 0.0 if b < low else total if b > high else float("nan"))) for b in bounds]
    return [(b, c) for b, c in out if c == c] + [(float("inf"), total)]


@dataclass
class VersionWindow:
    """One version's traffic over one interval. Latencies in seconds, ratios as fractions."""

    requests: int = 0
    errors: int = 0  # 5xx answers and upstream failures
    rate_limited: int = 0  # 429 answers (not errors: the limiter working)
    latency_avg: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None
    latency_p99: float | None = None
    # Cumulative histogram of this interval's latencies: [(upper bound seconds, count ≤ bound)],
    # ending with (inf, requests). Lets sequential tests compare distributions, not just means.
    latency_buckets: list[tuple[float, float]] = field(default_factory=list)
    cpu: float | None = None
    memory: float | None = None
    availability: float | None = None  # share of health probes that answered healthy

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def metric(self, name: str) -> float | None:
        """A gate metric by its plan name (``error_rate``, ``latency_p95``, ``cpu``...)."""
        if name == "error_rate":
            return self.error_rate
        return getattr(self, name, None)


@dataclass
class Observation:
    """Both versions over one interval ending at ``at``, or the reason there is nothing."""

    at: dt.datetime
    interval: float
    stable: VersionWindow | None = None
    canary: VersionWindow | None = None
    error: str | None = None  # the metric source is down / failed: its message
    source: str = ""
    # The canary's share of traffic over the interval, percent, as the engine served it (None when
    # not known: a bare gate). It tells the gate how many canary requests stable's traffic implies.
    weight: float | None = None

    def window(self, role: str) -> VersionWindow | None:
        return self.stable if role == "stable" else self.canary if role == "canary" else None

    def samples(self, *, histograms: bool = True) -> list[dict[str, Any]]:
        """Rows for ``Store.record_samples``: every measured number of every version.

        ``histograms=False`` leaves out the latency histogram rows (post-launch monitoring every
        10 s for 72 h: the backtest replays the ramp, which records them).
        """
        rows: list[dict[str, Any]] = []
        for role in ROLES:
            window = self.window(role)
            if window is None:
                continue
            values: dict[str, float | None] = {name: window.metric(name) for name in SAMPLE_METRICS}
            values["request_rate"] = window.requests / self.interval if self.interval else None
            if histograms:
                values.update(bucket_samples(window.latency_buckets))
            rows += [
                {"at": self.at, "version": role, "metric": k, "value": float(v)}
                for k, v in values.items()
                if v is not None
            ]
        return rows

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data
