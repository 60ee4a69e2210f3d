"""In-memory GCRA backend: the embedded default (one process) and the fail-open fallback.

Implements the limiter's storage interface (storage.RateLimitStorage), like the Redis backend.

Thread-safe (one lock around a dict of TATs); the clock is monotonic so a wall-clock jump can
neither refill nor drain a bucket. Keys whose bucket is full again hold no information and are
pruned as the table grows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from launch_control.protect.ratelimit.gcra import US, Decision, Limit, decide


def monotonic_us() -> int:
    return time.monotonic_ns() // 1000


class MemoryBackend:
    """GCRA decisions held in this process only."""

    def __init__(self, *, clock: Callable[[], int] = monotonic_us, prune_above: int = 100_000, name: str = "memory"):
        self.name = name  # "fallback" for the fail-open share: its decisions say so
        self._clock = clock
        self._tats: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._prune_above = prune_above
        self._instances: dict[str, int] = {}  # heartbeat: instance -> last beat (µs)

    def decide(self, org: str, limits: Sequence[Limit]) -> Decision:
        keys = [(org, limit.name) for limit in limits]
        tats = self._tats
        with self._lock:
            now = self._clock()
            admitted, new_tats, states = decide([tats.get(k) for k in keys], now, limits)
            if admitted:
                for key, tat in zip(keys, new_tats, strict=True):
                    if tat is not None:  # always, when admitted (None only marks an unchanged TAT)
                        tats[key] = tat
                if len(tats) > self._prune_above:
                    self._prune(now)
        # tuple.__new__: a Decision without the generated __new__'s default handling (hot path)
        return tuple.__new__(Decision, (admitted, tuple(states), self.name, False, ""))

    async def adecide(self, org: str, limits: Sequence[Limit]) -> Decision:
        # No I/O and a tiny critical section: cheaper inline than a thread hop.
        return self.decide(org, limits)

    def decide_many(self, requests: Sequence[tuple[str, Sequence[Limit]]]) -> list[Decision]:
        return [self.decide(org, limits) for org, limits in requests]

    def _prune(self, now: int) -> None:
        for key in [k for k, tat in self._tats.items() if tat <= now]:
            del self._tats[key]

    def heartbeat(self, instance: str, ttl: float) -> int:
        """The instances that beat within ``ttl`` s (in one process: those sharing this object)."""
        with self._lock:
            now = self._clock()
            self._instances[instance] = now
            for key in [k for k, beat in self._instances.items() if beat < now - int(ttl * US)]:
                del self._instances[key]
            return len(self._instances)

    def reset(self) -> None:
        with self._lock:
            self._tats.clear()

    def describe(self) -> str:
        return f"this process ({self.name})"

    def close(self) -> None:
        pass  # nothing held outside this object

    def __len__(self) -> int:
        return len(self._tats)
