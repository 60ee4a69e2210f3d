"""The gateway behind the plan's WAF and per-org rate limits, with several workers in mind.

Redis configured (``LAUNCH_CONTROL_REDIS_URL``): every worker decides in the same Redis keys,
so a limit is exact per org however many workers there are. Memory mode: each worker holds its
own buckets, and an org's connections land on any worker (the kernel spreads them), so each of
``N`` workers enforces ``1/N`` of every limit (rate and burst, the same share the limiter uses
when Redis is away) — together about the limit, never ``N`` times it. One worker: the full limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from launch_control.protect.ratelimit.gcra import Decision, Limit
from launch_control.protect.ratelimit.memory import MemoryBackend

REDIS_PREFIX = "lc:rl:gateway"


class SharedOut(MemoryBackend):
    """In-memory decisions with every limit scaled to this worker's share."""

    def __init__(self, share: float):
        super().__init__()
        self.share = share
        self._scaled: dict[tuple[Limit, ...], list[Limit]] = {}

    def decide(self, org: str, limits: Sequence[Limit]) -> Decision:
        key = tuple(limits)
        scaled = self._scaled.get(key)
        if scaled is None:
            scaled = self._scaled[key] = [limit.scaled(self.share) for limit in key]
        return super().decide(org, scaled)


def protected(gateway: Any, plan: Any, *, store: Any = None, workers: int = 1) -> Any:
    from launch_control.protect.layers import protect
    from launch_control.protect.ratelimit.limiter import RateLimiter

    limiter = RateLimiter.from_plan(plan.rate_limits, batch=True, prefix=REDIS_PREFIX)
    if limiter.redis is None and workers > 1:
        limiter.local = SharedOut(1.0 / workers)
    return protect(gateway, plan, store=store, limiter=limiter)
