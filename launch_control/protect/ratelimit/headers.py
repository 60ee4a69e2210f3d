"""IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers) and Retry-After (RFC 9110).

    RateLimit-Policy: "gpt-test";q=60;w=60, "org-wide";q=300;w=60
    RateLimit: "gpt-test";r=12;t=3, "org-wide";r=250;t=1

``q`` is the policy's quota per window ``w`` (seconds); GCRA admits up to ``burst`` more in any
window (see docs/protection.md). ``r`` is how many more requests would be admitted right now and
``t`` the seconds until the full quota is available again, rounded up. Structured-field lists:
one item per limit that applied to the request.
"""

from __future__ import annotations

import functools
import math

from launch_control.protect.ratelimit.gcra import Decision, Limit


def _seconds(value: float) -> int:
    return max(0, math.ceil(value - 1e-9))


@functools.lru_cache(maxsize=1024)
def policy_header(limits: tuple[Limit, ...]) -> bytes:
    """Depends on the limits only (one per policy and phase): computed once each."""
    return ", ".join(
        f'"{limit.name}";q={math.floor(limit.count)};w={_seconds(limit.window)}' for limit in limits
    ).encode()


def state_header(decision: Decision) -> bytes:
    ceil = math.ceil
    return ", ".join(
        [f'"{s.limit.name}";r={s.remaining};t={max(0, ceil(s.reset - 1e-9))}' for s in decision.states]
    ).encode()


def retry_after(decision: Decision) -> int:
    """Whole seconds, at least 1: a client that waits this long is admitted (by this instance's clock)."""
    return max(1, _seconds(decision.retry_after))


@functools.lru_cache(maxsize=1024)
def refused_headers(limits: tuple[Limit, ...]) -> tuple[tuple[bytes, bytes], ...]:
    """The headers of a limited route's answer that no limit decided (no org: a 400/401; a phase
    that closes the route): the quota, and ``r=0`` — this request is admitted nothing."""
    state = ", ".join(f'"{limit.name}";r=0;t=0' for limit in limits).encode()
    return ((b"ratelimit-policy", policy_header(limits)), (b"ratelimit", state))


def rate_limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-policy", policy_header(tuple(s.limit for s in decision.states))),
        (b"ratelimit", state_header(decision)),
    ]
