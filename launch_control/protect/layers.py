"""``protect(app, plan)``: wrap any ASGI app in the plan's WAF and per-org rate limiting.

    request → WAF (cheap refusals first) → rate limiter → app

Used at the end of the demo service's and the gateway's ``create_app``; any other Starlette or
FastAPI app can call it too. Shared state: the rate limits in Redis (LAUNCH_CONTROL_REDIS_URL)
or in memory; the WAF's run-time blocklist and the launch phase on the status board (the store,
mirrored to Redis when configured).

It sits beside ratelimit/ and waf.py rather than in either: the WAF builds on the rate limiter's
ASGI helpers and policies, and this module composes both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from launch_control.protect.boards import StatusBoard, default_board
from launch_control.protect.ratelimit.asgi import ASGIApp
from launch_control.protect.ratelimit.limiter import RateLimiter
from launch_control.protect.ratelimit.middleware import RateLimitMiddleware
from launch_control.protect.ratelimit.redis_backend import DEFAULT_PREFIX
from launch_control.protect.status import read_status
from launch_control.protect.waf import WafMiddleware


def launch_phase(store: Any = None, board: StatusBoard | None = None) -> Callable[[], str | None]:
    """The phase the rate limits follow: ``emergency`` while the degradation status says so,
    else the store's launch phase (``planned``, ``canary``, ...)."""

    def read() -> str | None:
        if board is not None and read_status(board).emergency:
            return "emergency"
        if store is not None:
            return str(store.state().get("phase") or "") or None
        return None

    return read


def protect(
    app: ASGIApp,
    plan: Any,
    *,
    store: Any = None,
    board: StatusBoard | None = None,
    redis_url: str | None = None,
    limiter: RateLimiter | None = None,
    phase: Callable[[], str | None] | None = None,
    batch: bool = False,
    trusted_proxies: Iterable[str] = (),
    refresh: float = 1.0,
    prefix: str = DEFAULT_PREFIX,
) -> ASGIApp:
    """``app`` behind the WAF and the rate limiter configured by ``plan``.

    ``board`` defaults to the store (if given) mirrored to Redis (if configured); ``phase`` to
    :func:`launch_phase`. ``batch=True`` pipelines concurrent Redis decisions (the gateway).
    ``prefix`` names the Redis keys: tiers that each enforce the limits (gateway, API) use their
    own prefix, so a request through both is not counted twice against one bucket.
    """
    board = board if board is not None else default_board(store, redis_url)
    limiter = limiter or RateLimiter.from_plan(plan.rate_limits, redis_url=redis_url, batch=batch, prefix=prefix)
    limited = RateLimitMiddleware(
        app,
        plan.rate_limits,
        limiter=limiter,
        phase=phase or launch_phase(store, board),
        phase_ttl=refresh,
    )
    return WafMiddleware(
        limited,
        plan.waf,
        rate_limits=plan.rate_limits,
        board=board,
        refresh=refresh,
        trusted_proxies=trusted_proxies,
    )
