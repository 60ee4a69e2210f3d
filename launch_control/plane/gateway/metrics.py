"""The gateway's own metrics: plain counters in a flat int64 array, rendered as Prometheus text on scrape.

Why not prometheus_client on the hot path: a labelled ``inc()`` and ``observe()`` take a lock and
a label lookup each (~3 µs per request measured here, see docs/traffic-plane.md), and its
multiprocess mode writes one file per metric per process. Here a request costs two array
increments, one bisect and one float add, no lock: each worker writes only its own slot of a
shared ``mmap`` (an anonymous one with one worker), and ``/metrics`` sums every slot. A worker
that is restarted keeps adding to its slot, so counters never go backwards.

Same names, labels and histogram bounds as before (``LATENCY_BUCKETS``); the text matches what
prometheus_client renders (label order, float formatting), minus the optional ``_created`` lines.
"""

from __future__ import annotations

import mmap
from bisect import bisect_left
from collections.abc import Sequence

from prometheus_client.utils import floatToGoString

from launch_control.plan.metrics import DURATION, REQUESTS_TOTAL

ROLES = ("stable", "canary")
ROUTE_NAMES = ("/api/gpt-test", "/api/run/*", "/api/analytics", "/api/status", "other")
ROUTE_INDEX = {name: i for i, name in enumerate(ROUTE_NAMES)}
STATUS_LOW, STATUS_SPAN = 100, 900  # every three-digit status has a counter of its own

# E24 preferred numbers (~10 % apart) from 1 ms to 10 s, then 15, 20, 30 s: see app.py for why.
_E24 = (1.0, 1.1, 1.2, 1.3, 1.5, 1.6, 1.8, 2.0, 2.2, 2.4, 2.7, 3.0, 3.3, 3.6, 3.9, 4.3, 4.7, 5.1, 5.6, 6.2, 6.8,
        7.5, 8.2, 9.1)
LATENCY_BUCKETS = (
    *(round(m * 10.0**e, 4) for e in (-3, -2, -1, 0) for m in _E24),
    10.0,
    15.0,
    20.0,
    30.0,
)
_NB = len(LATENCY_BUCKETS) + 1  # plus the +Inf bucket

# Offsets (in int64 slots) inside one worker's slot.
_REQ = 0
_REQ_N = len(ROLES) * len(ROUTE_NAMES) * STATUS_SPAN
_HIST = _REQ + _REQ_N
_ERR = _HIST + len(ROLES) * _NB
_SUM = _ERR + len(ROLES)  # float64 sums, one per role (same 8-byte slots, read as doubles)
SLOT_WORDS = _SUM + len(ROLES)
SLOT_BYTES = SLOT_WORDS * 8

HELP = {
    "requests": "Proxied requests by version role, route template and status",
    "duration": "Time to answer a proxied request, by version role",
    "errors": "Upstream failures (refused, reset, timeout) by version role",
    "weight": "The canary's share of traffic in percent",
}


class MetricSlots:
    """``workers`` slots of counters in one buffer; this process writes slot ``index``."""

    def __init__(self, buffer: mmap.mmap, workers: int, index: int):
        if len(buffer) < workers * SLOT_BYTES:
            raise ValueError(f"metrics buffer holds {len(buffer)} bytes, {workers} workers need {workers * SLOT_BYTES}")
        self._buffer = buffer
        self.workers = workers
        view = memoryview(buffer)
        self._slots = [view[i * SLOT_BYTES : (i + 1) * SLOT_BYTES] for i in range(workers)]
        mine = self._slots[index]
        self.counts = mine[: _SUM * 8].cast("q")
        self.sums = mine[_SUM * 8 :].cast("d")

    @classmethod
    def private(cls) -> MetricSlots:
        """One slot in this process's memory (a single worker)."""
        return cls(mmap.mmap(-1, SLOT_BYTES), 1, 0)

    # --- the hot path ---------------------------------------------------------------------------

    def record(self, role_index: int, route_index: int, status: int, seconds: float) -> None:
        counts = self.counts
        offset = status - STATUS_LOW
        if not 0 <= offset < STATUS_SPAN:
            offset = 502 - STATUS_LOW  # not an HTTP status: the client saw a broken answer
        counts[_REQ + (role_index * len(ROUTE_NAMES) + route_index) * STATUS_SPAN + offset] += 1
        counts[_HIST + role_index * _NB + bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sums[role_index] += seconds

    def upstream_failed(self, role_index: int) -> None:
        self.counts[_ERR + role_index] += 1

    # --- reading ----------------------------------------------------------------------------------

    def totals(self) -> tuple[list[int], list[float]]:
        """(counts, sums) summed over every worker's slot."""
        counts = [0] * _SUM
        sums = [0.0] * len(ROLES)
        for slot in self._slots:
            counts = [a + b for a, b in zip(counts, slot[: _SUM * 8].cast("q").tolist(), strict=True)]
            sums = [a + b for a, b in zip(sums, slot[_SUM * 8 :].cast("d").tolist(), strict=True)]
        return counts, sums

    def upstream_errors(self) -> dict[str, int]:
        counts, _ = self.totals()
        return {role: counts[_ERR + i] for i, role in enumerate(ROLES)}

    def render(self, canary_weight: float) -> bytes:
        counts, sums = self.totals()
        return render(counts, sums, canary_weight).encode()


def render(counts: Sequence[int], sums: Sequence[float], canary_weight: float) -> str:
    """Prometheus text exposition (version 0.0.4) of summed counters."""
    f = floatToGoString
    out = [
        f"# HELP {REQUESTS_TOTAL} {HELP['requests']}",
        f"# TYPE {REQUESTS_TOTAL} counter",
    ]
    for r, role in enumerate(ROLES):
        for u, route in enumerate(ROUTE_NAMES):
            base = _REQ + (r * len(ROUTE_NAMES) + u) * STATUS_SPAN
            for offset in range(STATUS_SPAN):
                if value := counts[base + offset]:
                    status = offset + STATUS_LOW
                    labels = f'version="{role}",route="{route}",status="{status}"'
                    out.append(f"{REQUESTS_TOTAL}{{{labels}}} {f(value)}")
    name = DURATION
    out += [f"# HELP {name} {HELP['duration']}", f"# TYPE {name} histogram"]
    for r, role in enumerate(ROLES):
        running = 0
        base = _HIST + r * _NB
        for i, bound in enumerate((*LATENCY_BUCKETS, float("inf"))):
            running += counts[base + i]
            out.append(f'{name}_bucket{{version="{role}",le="{f(bound)}"}} {f(running)}')
        out.append(f'{name}_count{{version="{role}"}} {f(running)}')
        out.append(f'{name}_sum{{version="{role}"}} {f(sums[r])}')
    out += [
        f"# HELP launch_gateway_upstream_errors_total {HELP['errors']}",
        "# TYPE launch_gateway_upstream_errors_total counter",
    ]
    for r, role in enumerate(ROLES):
        out.append(f'launch_gateway_upstream_errors_total{{version="{role}"}} {f(counts[_ERR + r])}')
    out += [
        f"# HELP launch_gateway_canary_weight {HELP['weight']}",
        "# TYPE launch_gateway_canary_weight gauge",
        f"launch_gateway_canary_weight {f(canary_weight)}",
    ]
    return "\n".join(out) + "\n"
