"""Pooling thin intervals: consecutive intervals merged until the canary has ``min_requests``.

When a step's intervals are individually too thin to judge (at 1 % of 100 req/s with 1-second
rehearsal intervals the canary sees ~1 request each; a real service at 5 req/s sees 3 a minute),
the gate does not hold on each of them. It merges consecutive intervals into one *pooled window*
— requests, errors and latency histograms added, the other metrics taken from the latest
interval — and judges that window exactly as it judges a full interval once it holds
``min_requests`` canary requests. The pooled windows do not overlap, so a failure limit of 2
still means two independent windows, and compare-to-stable's significance is per window as
before. Between two pooled windows, thin intervals are green when the last pooled window passed
(the step's evidence so far shows no breach and no significant harm) and the sequential test —
which counts every request — has not failed.

Pure logic, no I/O; JSON-safe snapshots so a resumed engine continues with the same evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from launch_control.plan.metrics import COUNTS, LATENCY_METRICS, QUANTILES, SHARES
from launch_control.ramp.observations import VersionWindow

# A run of intervals without a canary request stays pooled evidence while the canary requests that
# run should have brought are fewer than log(10,000) ≈ 9.2: while 0 of them has at least a 1 in
# 10,000 chance (Poisson). Rarer silence is a routing fault, "no data". Per run, not per interval:
# a step of hundreds of thin intervals has hundreds of chances for a long run by luck.
SILENCE_NATS = math.log(10_000.0)


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile over a cumulative histogram (linear inside the bucket)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_b, prev_c = 0.0, 0.0
    for b, c in buckets:
        if c >= rank:
            if math.isinf(b):
                return prev_b
            return prev_b + (b - prev_b) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 0.0)
        prev_b, prev_c = b, c
    return prev_b


def _add_buckets(a: list, b: list) -> list[tuple[float, float]]:
    """Sum of two cumulative histograms with the same bounds ([] when either is missing or they differ)."""
    if not a:
        return [(float(x), float(c)) for x, c in b]
    if not b:
        return [(float(x), float(c)) for x, c in a]
    if len(a) != len(b) or any(float(x) != float(y) for (x, _), (y, _) in zip(a, b, strict=True)):
        return []
    return [(float(x), float(ca) + float(cb)) for (x, ca), (_, cb) in zip(a, b, strict=True)]


def merge(pooled: VersionWindow | None, new: VersionWindow | None) -> VersionWindow | None:
    """One window for two consecutive intervals of the same version."""
    if new is None:
        return pooled
    if pooled is None:
        return VersionWindow(**{k: getattr(new, k) for k in VersionWindow.__dataclass_fields__})
    out = VersionWindow(**{k: getattr(pooled, k) for k in VersionWindow.__dataclass_fields__})
    for name in COUNTS:  # counts add up
        setattr(out, name, getattr(pooled, name) + getattr(new, name))
    for name in SHARES:  # a reading: the latest one stands
        if getattr(new, name) is not None:
            setattr(out, name, getattr(new, name))
    total = out.requests
    # Latencies: weighted by requests; quantiles from the summed histogram when there is one.
    for name in LATENCY_METRICS:
        a, b = getattr(pooled, name), getattr(new, name)
        if a is None or pooled.requests <= 0:
            setattr(out, name, b if b is not None else a)
        elif b is not None and new.requests > 0 and total > 0:
            setattr(out, name, (a * pooled.requests + b * new.requests) / total)
    if pooled.latency_buckets or new.latency_buckets:
        out.latency_buckets = _add_buckets(pooled.latency_buckets, new.latency_buckets)
        if out.latency_buckets:
            for name, q in QUANTILES.items():
                value = histogram_quantile(q, out.latency_buckets)
                if value is not None:
                    setattr(out, name, value)
    return out


def window_to_dict(window: VersionWindow | None) -> dict[str, Any] | None:
    """JSON-safe (the +Inf bound becomes the string "inf")."""
    if window is None:
        return None
    data = {k: getattr(window, k) for k in VersionWindow.__dataclass_fields__}
    data["latency_buckets"] = [["inf" if math.isinf(float(b)) else float(b), c] for b, c in window.latency_buckets]
    return data


def window_from_dict(data: dict[str, Any] | None) -> VersionWindow | None:
    if data is None:
        return None
    data = dict(data)
    data["latency_buckets"] = [(float(b), c) for b, c in data.get("latency_buckets") or []]
    return VersionWindow(**{k: v for k, v in data.items() if k in VersionWindow.__dataclass_fields__})


@dataclass
class Pool:
    """The thin intervals since the last judged window, and what the last judged window said."""

    canary: VersionWindow | None = None
    stable: VersionWindow | None = None
    intervals: int = 0  # intervals merged into the pending window
    last_outcome: str | None = None  # "pass" | "hold" | "fail" of the last judged window of the step
    last_reason: str = ""
    last_requests: int = 0  # canary requests in the last judged window
    last_intervals: int = 0  # intervals it pooled
    quiet: int = 0  # consecutive intervals without a canary request
    quiet_stable: int = 0  # stable requests over those intervals
    seen: int = 0  # canary requests this step (every interval), for "is a silent interval unremarkable?"
    looked: int = 0  # intervals with an answer from the source this step
    windows: int = 0  # windows judged this step
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, canary_requests: int, stable_requests: int) -> None:
        """One more interval answered by the source: the step's canary rate and the silent run."""
        if canary_requests > 0:
            self.quiet, self.quiet_stable = 0, 0
        else:
            self.quiet, self.quiet_stable = self.quiet + 1, self.quiet_stable + stable_requests
        self.seen += canary_requests
        self.looked += 1

    def expected_in_silence(self, weight: float | None) -> float:
        """Canary requests the current silent run should have brought: stable's requests in it times
        weight / (100 - weight) when the weight served is known, else the step's own canary rate so
        far times the run's length (with neither, nothing says the canary may be this quiet)."""
        if weight is not None and 0 < weight < 100:
            return self.quiet_stable * weight / (100.0 - weight)
        if self.seen > 0:
            return self.quiet * self.seen / self.looked
        return math.inf

    def silence_is_unremarkable(self, weight: float | None) -> bool:
        """Whether the current run of intervals without canary requests is what thin traffic makes
        likely (at ~1 canary request per interval a third are empty; at 30 one is a routing fault)."""
        return self.expected_in_silence(weight) < SILENCE_NATS

    @property
    def pending(self) -> int:
        return self.canary.requests if self.canary is not None else 0

    def add(self, canary: VersionWindow | None, stable: VersionWindow | None) -> None:
        self.canary = merge(self.canary, canary)
        self.stable = merge(self.stable, stable)
        self.intervals += 1

    def take(self) -> tuple[VersionWindow | None, VersionWindow | None, int]:
        """The pending window (to judge), emptied."""
        out = (self.canary, self.stable, self.intervals)
        self.canary, self.stable, self.intervals = None, None, 0
        return out

    def judged(self, outcome: str, reason: str, requests: int, intervals: int) -> None:
        self.last_outcome, self.last_reason = outcome, reason
        self.last_requests, self.last_intervals = requests, intervals
        self.windows += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "canary": window_to_dict(self.canary), "stable": window_to_dict(self.stable),
            "intervals": self.intervals, "last_outcome": self.last_outcome, "last_reason": self.last_reason,
            "last_requests": self.last_requests, "last_intervals": self.last_intervals, "quiet": self.quiet,
            "quiet_stable": self.quiet_stable, "seen": self.seen, "looked": self.looked, "windows": self.windows,
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Pool:
        pool = cls()
        for key, value in data.items():
            if key in ("canary", "stable"):
                value = window_from_dict(value)
            if hasattr(pool, key):
                setattr(pool, key, value)
        return pool
