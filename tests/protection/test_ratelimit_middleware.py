"""RateLimitMiddleware in small Starlette apps: org identity, 429s, headers, phases, shadow mode,
metrics; over real HTTP with real Redis for the 'client under its rate' promise."""

from __future__ import annotations

import time

import httpx
import pytest
from protection_helpers import counter, rate_limits
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from launch_control.protect.ratelimit.limiter import RateLimiter
from launch_control.protect.ratelimit.middleware import RateLimitMiddleware
from launch_control.web.servers import ServerThread


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "path": request.url.path})


def app_with(config, **kwargs) -> RateLimitMiddleware:
    inner = Starlette(
        routes=[
            Route("/api/gpt-test", ok, methods=["POST"]),
            Route("/api/run/{run_id}", ok, methods=["POST"]),
            Route("/api/analytics", ok, methods=["GET"]),
            Route("/health", ok, methods=["GET"]),
        ]
    )
    return RateLimitMiddleware(inner, config, **kwargs)


def client(app) -> httpx.Client:
    # a sync client over the ASGI app (httpx runs the app in its own portal thread)
    return httpx.Client(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def aclient():
    def make(app) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")

    return make


def run(coro):
    import asyncio

    return asyncio.run(coro)


def test_missing_or_malformed_org_is_a_400_not_a_shared_bucket(aclient) -> None:
    app = app_with(rate_limits())

    async def main():
        async with aclient(app) as c:
            missing = await c.post("/api/gpt-test")
            bad = await c.post("/api/gpt-test", headers={"X-Org-Id": "acme corp!"})
            too_long = await c.post("/api/gpt-test", headers={"X-Org-Id": "a" * 65})
            unlimited = await c.get("/health")  # no policy names /health: no org needed
            return missing, bad, too_long, unlimited

    missing, bad, too_long, unlimited = run(main())
    assert missing.status_code == 400 and missing.json()["error"] == "missing_org"
    assert "X-Org-Id" in missing.json()["message"]
    assert bad.status_code == 400 and bad.json()["error"] == "malformed_org"
    assert too_long.status_code == 400
    assert unlimited.status_code == 200 and "ratelimit" not in unlimited.headers


def test_api_keys_map_to_orgs(aclient) -> None:
    app = app_with(rate_limits(api_keys={"sk-acme": "acme"}))

    async def main():
        async with aclient(app) as c:
            by_key = await c.post("/api/gpt-test", headers={"Authorization": "Bearer sk-acme"})
            by_x_key = await c.post("/api/gpt-test", headers={"X-API-Key": "sk-acme"})
            unknown = await c.post("/api/gpt-test", headers={"X-API-Key": "sk-nope", "X-Org-Id": "acme"})
            return by_key, by_x_key, unknown

    by_key, by_x_key, unknown = run(main())
    assert by_key.status_code == 200 and by_x_key.status_code == 200
    # the two requests shared acme's bucket: burst 10 → 11 at once, 2 used
    assert by_x_key.headers["ratelimit"].startswith('"gpt-test";r=9;')
    assert unknown.status_code == 401 and unknown.json()["error"] == "unknown_api_key"


def test_429_with_retry_after_and_ietf_headers(aclient) -> None:
    config = rate_limits(
        policies=[{"name": "gpt-test", "path": "/api/gpt-test", "limit": "6/min", "burst": 2, "methods": ["POST"]}],
        org_wide={"limit": "300/min", "burst": 30},
    )
    app = app_with(config)
    before = counter("launch_control_ratelimit_decisions", policy="gpt-test", outcome="limited")

    async def main():
        async with aclient(app) as c:
            return [await c.post("/api/gpt-test", headers={"X-Org-Id": "acme"}) for _ in range(4)], await c.post(
                "/api/gpt-test", headers={"X-Org-Id": "beta"}
            )

    responses, other_org = run(main())
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    first = responses[0]
    assert first.headers["ratelimit-policy"] == '"gpt-test";q=6;w=60, "org-wide";q=300;w=60'
    # after the first: 2 more admitted now; the bucket is full again 10 s later (T = 10 s)
    assert first.headers["ratelimit"] == '"gpt-test";r=2;t=10, "org-wide";r=30;t=1'
    assert responses[2].headers["ratelimit"].startswith('"gpt-test";r=0;t=30')
    refused = responses[3]
    assert refused.headers["retry-after"] == "10"
    assert refused.headers["ratelimit"].startswith('"gpt-test";r=0;')
    assert refused.headers["content-type"] == "application/json"
    body = refused.json()
    assert body["error"] == "rate_limited" and body["policy"] == "gpt-test" and body["retry_after"] == 10
    assert body["limits"] == ["gpt-test"]
    assert other_org.status_code == 200  # buckets are per org
    assert counter("launch_control_ratelimit_decisions", policy="gpt-test", outcome="limited") == before + 1


def test_prefix_policies_and_methods(aclient) -> None:
    config = rate_limits(
        policies=[{"name": "run", "path": "/api/run/*", "limit": "1/min", "burst": 0, "methods": ["POST"]}],
        org_wide=None,
    )
    app = app_with(config)

    async def main():
        async with aclient(app) as c:
            h = {"X-Org-Id": "acme"}
            return [
                (await c.post("/api/run/1", headers=h)).status_code,
                (await c.post("/api/run/2", headers=h)).status_code,  # same policy bucket
                (await c.get("/api/analytics")).status_code,  # no policy for it in this config
            ]

    assert run(main()) == [200, 429, 200]


def test_phase_change_applies_without_restart(aclient) -> None:
    config = rate_limits(
        policies=[{"name": "analytics", "path": "/api/analytics", "limit": "4/min", "burst": 4, "methods": ["GET"]}],
        org_wide=None,
        phases={"emergency": {"analytics": "50%"}, "lockdown": {"analytics": "0%"}},
    )
    phase = {"now": "canary"}
    app = app_with(config, phase=lambda: phase["now"], phase_ttl=0.05)

    async def main():
        import asyncio

        async with aclient(app) as c:
            h = {"X-Org-Id": "acme"}
            normal = await c.get("/api/analytics", headers=h)

            async def settle() -> None:
                # a stale phase is served while one worker re-reads it; the next request sees it
                await asyncio.sleep(0.06)
                await c.get("/health")
                await c.get("/api/analytics", headers={"X-Org-Id": "probe"})
                await asyncio.sleep(0.05)

            phase["now"] = "emergency"
            await settle()
            emergency = await c.get("/api/analytics", headers={"X-Org-Id": "beta"})
            phase["now"] = "lockdown"
            await settle()
            closed = await c.get("/api/analytics", headers=h)
            return normal, emergency, closed

    normal, emergency, closed = run(main())
    assert normal.headers["ratelimit-policy"] == '"analytics";q=4;w=60'
    assert emergency.headers["ratelimit-policy"] == '"analytics";q=2;w=60'
    assert emergency.headers["ratelimit"] == '"analytics";r=2;t=30'  # burst halved too: 2 + 1
    assert closed.status_code == 429 and "lockdown" in closed.json()["message"]


def test_shadow_mode_counts_but_does_not_refuse(aclient) -> None:
    config = rate_limits(
        policies=[{"name": "gpt-test", "path": "/api/gpt-test", "limit": "1/min", "burst": 0}],
        org_wide=None,
        shadow=True,
    )
    app = app_with(config)
    before = counter("launch_control_ratelimit_decisions", policy="gpt-test", outcome="shadow_limited")

    async def main():
        async with aclient(app) as c:
            return [await c.post("/api/gpt-test", headers={"X-Org-Id": "acme"}) for _ in range(3)]

    responses = run(main())
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert responses[2].headers["ratelimit"].startswith('"gpt-test";r=0;')
    assert counter("launch_control_ratelimit_decisions", policy="gpt-test", outcome="shadow_limited") == before + 2


def test_a_client_at_90_percent_of_its_rate_sees_no_429(redis_url: str, redis_prefix: str) -> None:
    """Real HTTP, real Redis, 10 req/s with burst 2: 9 req/s for 3 windows → 27 × 200."""
    config = rate_limits(
        policies=[{"name": "gpt-test", "path": "/api/gpt-test", "limit": "10/s", "burst": 2, "methods": ["POST"]}],
        org_wide=None,
    )
    limiter = RateLimiter.from_plan(config, redis_url=redis_url, prefix=redis_prefix)
    app = app_with(config, limiter=limiter)
    statuses = []
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as http:
        start = time.monotonic()
        for i in range(27):
            time.sleep(max(0.0, start + i / 9 - time.monotonic()))
            response = http.post("/api/gpt-test", headers={"X-Org-Id": "steady"})
            statuses.append(response.status_code)
        # and the same limiter does refuse a client that goes faster than the rate
        burst = [http.post("/api/gpt-test", headers={"X-Org-Id": "steady"}).status_code for _ in range(10)]
    assert statuses == [200] * 27
    assert 429 in burst
    assert limiter.mode == "redis"
