"""Per-org rate limiting as pure ASGI middleware (any Starlette / FastAPI / raw ASGI app).

For a request on a limited route (see ``policy.py``):

* no valid org → 400 JSON (401 for an unknown API key); never a shared bucket;
* every answer of a limited route carries ``RateLimit-Policy`` and ``RateLimit`` — the 400s and
  the 429 of a closed phase too (``r=0``: nothing admitted), so clients can always read the quota;
* every applying limit (route policy, org-wide) decided in one backend call;
* admitted → the app answers, with ``RateLimit-Policy`` and ``RateLimit`` headers added;
* refused → 429 JSON with ``Retry-After`` and the same headers — or, in shadow mode, the request
  goes through and is only counted (``shadow_limited``);
* backend unavailable and fail-closed → 503 JSON naming the reason, with ``Retry-After``.

Launch-aware: the current phase (``phase()``, e.g. the store's launch phase or "emergency"
when the degradation status says so) is re-read about once a second, so a phase change rescales
the policies without a restart. Routes no policy names pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from launch_control.protect.ratelimit.asgi import ASGIApp, Receive, Scope, Send, send_json, with_headers
from launch_control.protect.ratelimit.headers import rate_limit_headers, refused_headers, retry_after
from launch_control.protect.ratelimit.limiter import RateLimiter
from launch_control.protect.ratelimit.metrics import DECISIONS, FALLBACKS, REJECTED_IDENTITY
from launch_control.protect.ratelimit.policy import OrgProblem, Policies
from launch_control.protect.ratelimit.refresh import Refreshing


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        rate_limits: Any,
        *,
        limiter: RateLimiter | None = None,
        phase: Callable[[], str | None] | None = None,
        phase_ttl: float = 1.0,
        shadow: bool | None = None,
    ):
        self.app = app
        self.policies = Policies(rate_limits)
        self.limiter = limiter or RateLimiter.from_plan(rate_limits)
        self.shadow = rate_limits.shadow if shadow is None else shadow
        self.phase = Refreshing(phase, ttl=phase_ttl, default=None, name="launch phase") if phase else None
        self._counters: dict[tuple[str, str], Any] = {}

    def _count(self, policy: str, outcome: str) -> None:
        # labels() costs a few µs per call; the (policy, outcome) pairs are few: keep the children
        child = self._counters.get((policy, outcome))
        if child is None:
            child = self._counters[(policy, outcome)] = DECISIONS.labels(policy=policy, outcome=outcome)
        child.inc()

    def __getattr__(self, name: str) -> Any:
        # Wrapping must not hide the app: ``protect(app, plan).state`` is still ``app.state``.
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policies.match(scope["path"], scope["method"])
        if policy is None:
            await self.app(scope, receive, send)
            return
        org = self.policies.org(scope["headers"])
        if isinstance(org, OrgProblem):
            REJECTED_IDENTITY.labels(reason=org.error).inc()
            base = self.policies.limits(policy, None) or ()
            await send_json(
                send,
                org.status,
                {"error": org.error, "message": org.message, "policy": policy.name},
                list(refused_headers(base)),
            )
            return
        phase = await self.phase.aget() if self.phase else None
        limits = self.policies.limits(policy, phase)
        if limits is None:
            self._count(policy.name, "limited")
            await send_json(
                send,
                429,
                {
                    "error": "rate_limited",
                    "message": f"{policy.path} is closed during the {phase!r} phase of the launch",
                    "policy": policy.name,
                    "retry_after": int(policy.window),
                },
                [
                    *refused_headers(self.policies.limits(policy, None) or ()),
                    (b"retry-after", str(int(policy.window)).encode()),
                ],
            )
            return
        decision = await self.limiter.adecide(org, limits)
        scope.setdefault("state", {})["rate_limit"] = decision
        if decision.unavailable:
            self._count(policy.name, "unavailable")
            FALLBACKS.labels(policy=policy.name, outcome="refused").inc()
            seconds = retry_after(decision)
            await send_json(
                send,
                503,
                {
                    "error": "rate_limiter_unavailable",
                    "message": f"{decision.reason}; this service is configured to fail closed. Retry in {seconds} s.",
                    "policy": policy.name,
                    "retry_after": seconds,
                },
                [*refused_headers(limits), (b"retry-after", str(seconds).encode())],
            )
            return
        headers = rate_limit_headers(decision)
        fallback = decision.backend == "fallback"
        if decision.allowed:
            self._count(policy.name, "fallback_allowed" if fallback else "allowed")
            if fallback:
                FALLBACKS.labels(policy=policy.name, outcome="allowed").inc()
            await self.app(scope, receive, with_headers(send, headers))
            return
        if fallback:
            FALLBACKS.labels(policy=policy.name, outcome="limited").inc()
        if self.shadow:
            self._count(policy.name, "shadow_limited")
            await self.app(scope, receive, with_headers(send, headers))
            return
        outcome = "fallback_limited" if fallback else ("cached_limited" if decision.backend == "cache" else "limited")
        self._count(policy.name, outcome)
        seconds = retry_after(decision)
        refused = [s.name for s in decision.states if not s.allowed]
        await send_json(
            send,
            429,
            {
                "error": "rate_limited",
                "message": f"too many requests for org {org} ({', '.join(refused)}); retry in {seconds} s",
                "policy": policy.name,
                "limits": refused,
                "retry_after": seconds,
            },
            [*headers, (b"retry-after", str(seconds).encode())],
        )
