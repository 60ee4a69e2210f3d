"""Redis down or slow: fail-open onto each instance's share, fail-closed 503s, the breaker, and the
return to Redis — with a private redis-server that the test stops and starts (never 6379)."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
import redis
from protection_helpers import counter, rate_limits
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from launch_control.protect.degrade import CircuitBreaker
from launch_control.protect.ratelimit.gcra import Limit
from launch_control.protect.ratelimit.limiter import RateLimiter
from launch_control.protect.ratelimit.middleware import RateLimitMiddleware
from launch_control.protect.ratelimit.redis_backend import RedisBackend
from launch_control.web.servers import ServerThread, free_port


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def service(config, limiter: RateLimiter) -> RateLimitMiddleware:
    return RateLimitMiddleware(
        Starlette(routes=[Route("/api/gpt-test", ok, methods=["POST"])]), config, limiter=limiter
    )


CONFIG = rate_limits(
    policies=[{"name": "gpt-test", "path": "/api/gpt-test", "limit": "600/min", "burst": 20, "methods": ["POST"]}],
    org_wide=None,
    expected_instances=2,
)


@pytest.mark.timeout(60)
def test_redis_stopped_mid_test_keeps_serving_and_comes_back(private_redis, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="launch_control.protect.ratelimit.limiter")
    limiter = RateLimiter(
        RedisBackend(private_redis.url, prefix="lc-test", timeout=0.05),
        failure_mode="open",
        expected_instances=2,
        breaker=CircuitBreaker(3, 0.3, 1, name="test-redis"),
    )
    fallbacks_before = counter("launch_control_ratelimit_fallbacks", policy="gpt-test", outcome="allowed")
    statuses: dict[str, list[int]] = {"up": [], "down": [], "back": []}
    headers = {"X-Org-Id": "acme"}
    with ServerThread(service(CONFIG, limiter)) as server, httpx.Client(base_url=server.url, timeout=5) as http:
        for _ in range(5):
            statuses["up"].append(http.post("/api/gpt-test", headers=headers).status_code)
        assert limiter.mode == "redis"
        deadline = time.monotonic() + 5
        while limiter.instances_seen is None and time.monotonic() < deadline:
            time.sleep(0.02)  # the first heartbeat (a background thread) has counted this instance

        private_redis.stop()
        started = time.monotonic()
        for _ in range(40):
            statuses["down"].append(http.post("/api/gpt-test", headers=headers).status_code)
        down_time = time.monotonic() - started
        assert limiter.mode == "fallback"

        private_redis.start()  # same port, empty data
        deadline = time.monotonic() + 5
        while limiter.mode != "redis" and time.monotonic() < deadline:
            statuses["back"].append(http.post("/api/gpt-test", headers=headers).status_code)
            time.sleep(0.05)
        statuses["back"].append(http.post("/api/gpt-test", headers=headers).status_code)

    assert statuses["up"] == [200] * 5
    assert all(code in (200, 429) for code in statuses["down"]), statuses["down"]  # never a 5xx
    assert statuses["down"].count(200) >= 10  # fail-open: still serving within this instance's share
    # share = limit / instances seen by the heartbeats (1 here, though the plan guessed 2): burst 20,
    # so at most 21 at once plus the trickle of the rate (10/s)
    assert limiter.instances_seen == 1 and limiter.share == 1.0
    assert statuses["down"].count(200) <= 21 + int(down_time * 10) + 1
    assert limiter.mode == "redis", "the limiter went back to Redis once it answered"
    assert statuses["back"][-1] == 200
    # the decisions are taken by the restarted Redis again (it has run our script)
    client = redis.Redis.from_url(private_redis.url)
    assert client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0) >= 1
    client.close()
    assert counter("launch_control_ratelimit_fallbacks", policy="gpt-test", outcome="allowed") > fallbacks_before
    # logged once per transition, not once per request
    messages = [r.getMessage() for r in caplog.records if r.name == "launch_control.protect.ratelimit.limiter"]
    assert sum("unavailable" in m for m in messages) == 1
    assert sum("answers again" in m for m in messages) == 1


def test_breaker_stops_hammering_a_dead_redis() -> None:
    """A closed port: after the threshold, decisions stop trying Redis until the probe time."""
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", timeout=0.05)
    calls = {"n": 0}
    real = backend.raw

    def counting(org, limits):
        calls["n"] += 1
        return real(org, limits)

    backend.raw = counting  # type: ignore[method-assign]
    limiter = RateLimiter(backend, breaker=CircuitBreaker(3, 60.0, 1))
    limit = Limit("p", 100, 60, 10)
    decisions = [limiter.decide("acme", [limit]) for _ in range(50)]
    assert calls["n"] == 3
    assert all(d.backend == "fallback" for d in decisions[3:])
    assert all(d.allowed for d in decisions[:6])  # the local share (1 instance) admits the burst


def test_fail_closed_answers_503_with_a_reason() -> None:
    config = CONFIG.model_copy(update={"failure_mode": "closed"})
    limiter = RateLimiter.from_plan(config, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = service(config, limiter)

    import asyncio

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return [await c.post("/api/gpt-test", headers={"X-Org-Id": "acme"}) for _ in range(5)]

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [503] * 5
    body = responses[-1].json()
    assert body["error"] == "rate_limiter_unavailable" and "fail closed" in body["message"]
    assert int(responses[-1].headers["retry-after"]) >= 1


def test_slow_redis_counts_as_down(private_redis) -> None:
    """A Redis that stalls (DEBUG SLEEP) longer than the 50 ms timeout → fallback, no waiting."""
    limiter = RateLimiter(
        RedisBackend(private_redis.url, prefix="lc-test", timeout=0.05), breaker=CircuitBreaker(1, 60.0, 1)
    )
    limit = Limit("p", 100, 60, 10)
    assert limiter.decide("acme", [limit]).backend == "redis"
    import threading

    stall = redis.Redis.from_url(private_redis.url)
    sleeper = threading.Thread(target=lambda: stall.execute_command("DEBUG", "SLEEP", "0.5"))
    sleeper.start()
    time.sleep(0.05)
    started = time.monotonic()
    decision = limiter.decide("acme", [limit])
    took = time.monotonic() - started
    sleeper.join()
    stall.close()
    assert decision.backend == "fallback" and decision.allowed
    assert took < 0.3, f"the decision waited {took:.3f} s for a stalled Redis"


def test_fallback_share_is_limit_over_expected_instances() -> None:
    limiter = RateLimiter(RedisBackend(f"redis://127.0.0.1:{free_port()}/0", timeout=0.05), expected_instances=4)
    limit = Limit("p", 60, 3600, 19)  # share: 15/h, burst 4 → 5 at once
    admitted = sum(limiter.decide("acme", [limit]).allowed for _ in range(20))
    assert admitted == 5
