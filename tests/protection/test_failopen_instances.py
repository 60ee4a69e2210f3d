"""Fail-open scales by the instances really seen (heartbeats in Redis), not by a guess in the plan:
a single gateway whose plan says ``expected_instances: 3`` keeps its whole limit while Redis is
down, so a client at 90 % of its rate is never refused — with a private redis-server stopped for
30 s (never the shared 6379)."""

from __future__ import annotations

import time

import httpx
import pytest
from protection_helpers import rate_limits
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from launch_control.protect.degrade import CircuitBreaker
from launch_control.protect.ratelimit.limiter import RateLimiter
from launch_control.protect.ratelimit.middleware import RateLimitMiddleware
from launch_control.protect.ratelimit.redis_backend import RedisBackend
from launch_control.web.servers import ServerThread

RATE_PER_MIN = 120  # 2 per second
CONFIG = rate_limits(
    policies=[
        {"name": "gpt-test", "path": "/api/gpt-test", "limit": f"{RATE_PER_MIN}/min", "burst": 2, "methods": ["POST"]}
    ],
    org_wide=None,
    expected_instances=3,  # the plan's guess; only one instance really runs
)


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def limiter_for(url: str, **kwargs) -> RateLimiter:
    return RateLimiter(
        RedisBackend(url, prefix="lc-failopen", timeout=0.05),
        failure_mode="open",
        expected_instances=3,
        breaker=CircuitBreaker(3, 0.5, 1, name="failopen-redis"),
        heartbeat_every=0.2,
        heartbeat_ttl=1.0,
        **kwargs,
    )


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.timeout(90)
def test_one_instance_keeps_its_whole_limit_while_redis_is_down_for_30_s(private_redis) -> None:
    limiter = limiter_for(private_redis.url)
    app = RateLimitMiddleware(Starlette(routes=[Route("/api/gpt-test", ok, methods=["POST"])]), CONFIG, limiter=limiter)
    headers = {"X-Org-Id": "steady-client"}
    interval = 60.0 / RATE_PER_MIN / 0.9  # 90 % of the rate
    codes: list[int] = []
    try:
        with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=5) as http:
            assert http.post("/api/gpt-test", headers=headers).status_code == 200
            assert wait_for(lambda: limiter.instances_seen == 1), "the heartbeat never counted this instance"
            assert limiter.share == 1.0

            private_redis.stop()
            down_until = time.monotonic() + 30.0
            next_at = time.monotonic()
            while time.monotonic() < down_until:
                codes.append(http.post("/api/gpt-test", headers=headers).status_code)
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))
            assert limiter.mode == "fallback", "Redis was down: the local limiter must have decided"

            private_redis.start()
            assert wait_for(
                lambda: http.post("/api/gpt-test", headers=headers).status_code == 200 and limiter.mode == "redis"
            )
    finally:
        limiter.close()
    assert len(codes) >= 50
    assert codes.count(429) == 0, f"a client at 90% of its rate was refused {codes.count(429)} times of {len(codes)}"
    assert set(codes) == {200}


def test_the_share_follows_the_instances_seen(private_redis) -> None:
    first, second = limiter_for(private_redis.url), limiter_for(private_redis.url)
    try:
        assert first.heartbeat() == 1
        assert second.heartbeat() == 2
        assert first.heartbeat() == 2
        assert first.share == second.share == 0.5
        second.close()
        time.sleep(1.1)  # past heartbeat_ttl: the stopped instance no longer counts
        assert first.heartbeat() == 1 and first.share == 1.0
        private_redis.stop()
        assert first.heartbeat() is None and first.instances_seen == 1  # the last count is kept
    finally:
        first.close()
        second.close()


def test_before_any_heartbeat_the_plan_guess_applies() -> None:
    from launch_control.web.servers import free_port

    limiter = RateLimiter(RedisBackend(f"redis://127.0.0.1:{free_port()}/0", timeout=0.05), expected_instances=4)
    try:
        assert limiter.instances_seen is None and limiter.share == 0.25
    finally:
        limiter.close()
