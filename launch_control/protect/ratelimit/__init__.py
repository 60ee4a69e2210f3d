"""Per-org rate limiting: GCRA with a real burst, on Redis (one Lua round trip) or in memory.

    gcra.py          the arithmetic and its contract (reference for gcra.lua)
    gcra.lua         every limit of a request, atomically, on the server's clock
    storage.py       RateLimitStorage: the interface both backends implement
    memory.py        in-memory backend (embedded default, fail-open fallback)
    redis_backend.py Redis backend (EVALSHA, pipelines, sync and asyncio)
    limiter.py       RateLimiter: backend choice, failure policy, breaker, over-limit cache
    policy.py        which limits apply to a request, launch phases, the org
    headers.py       RateLimit-Policy / RateLimit / Retry-After
    middleware.py    RateLimitMiddleware (pure ASGI)

protect(app, plan), the WAF and rate limiting around any ASGI app, is launch_control.protect.layers:
it composes this package with the WAF, which builds on this package (a circle if it lived here).
See docs/protection.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Decision", "Limit", "RateLimitMiddleware", "RateLimitStorage", "RateLimiter"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the package (e.g. from a CLI command) must not pull in redis or prometheus.
    if name in ("Decision", "Limit"):
        from launch_control.protect.ratelimit import gcra

        return getattr(gcra, name)
    if name == "RateLimiter":
        from launch_control.protect.ratelimit.limiter import RateLimiter

        return RateLimiter
    if name == "RateLimitMiddleware":
        from launch_control.protect.ratelimit.middleware import RateLimitMiddleware

        return RateLimitMiddleware
    if name == "RateLimitStorage":
        from launch_control.protect.ratelimit.storage import RateLimitStorage

        return RateLimitStorage
    raise AttributeError(name)
