"""The protection wired into the demo service and the gateway (real HTTP, real stand-in model):
zero 5xx from the API when the live model is down, slow or flapping; simulated mode within one
breaker trip; recovery after a half-open probe; /api/status; WAF and rate limits in front."""

from __future__ import annotations

import time

import httpx
import pytest
from protection_helpers import degradation

from launch_control.protect.degrade import MemoryBoard, set_degraded
from launch_control.web.servers import ServerThread

TOKEN = "wiring-test-token"
ORG = {"X-Org-Id": "acme"}


@pytest.fixture
def model():
    from launch_control.plane.demo.model import create_app

    app = create_app(admin_token=TOKEN)
    with ServerThread(app) as server:
        yield server, app.state.faults


def demo(plan, model_url: str, board, *, simulated_mode: bool = True) -> ServerThread:
    from launch_control.plane.demo.service import create_app

    policy = degradation().model_copy(update={"simulated_mode": simulated_mode})  # breaker: 3 failures, 0.5 s reset
    plan = plan.model_copy(update={"degradation": policy})
    app = create_app("v3.0.0", admin_token=TOKEN, model_url=model_url, model_timeout=0.3, plan=plan, board=board)
    assert app.state.version == "v3.0.0"  # the protection wrapper passes attributes through
    return ServerThread(app)


def ask(http: httpx.Client, i: int, org: str = "acme") -> httpx.Response:
    return http.post("/api/gpt-test", json={"prompt": f"hello {i}"}, headers={"X-Org-Id": org})


def test_simulated_mode_off_answers_a_plain_503(plan, model) -> None:
    model_server, faults = model
    with (
        demo(plan, model_server.url, MemoryBoard(), simulated_mode=False) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        assert ask(http, 0).json()["mode"] == "live"
        faults.down = True
        refused = ask(http, 1)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        body = refused.json()
        assert body["error"] == "live model unavailable" and "simulated mode is off" in body["detail"]
        assert "mode" not in body and refused.headers["x-degraded"]


def test_model_down_slow_flapping_never_5xx_and_recovers(plan, model) -> None:
    model_server, faults = model
    board = MemoryBoard()
    with demo(plan, model_server.url, board) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        live = ask(http, 0)
        assert live.status_code == 200 and live.json()["mode"] == "live"
        assert "ratelimit" in live.headers and "ratelimit-policy" in live.headers

        faults.down = True
        down = [ask(http, i, org=f"org{i}") for i in range(6)]
        assert [r.status_code for r in down] == [200] * 6
        assert all(r.json()["mode"] == "simulated" for r in down)
        # the first request tripped the breaker (3 failed attempts = threshold): the next are instant
        assert down[0].headers["x-degraded"] in ("breaker_open", "model_unavailable")
        assert all(r.headers["x-degraded"] == "breaker_open" for r in down[1:])
        time.sleep(0.1)
        status = http.get("/api/status").json()
        assert status["degraded"] and status["source"] == "breaker:v3.0.0" and status["since"]
        assert status["retry_after"] == 0.5 and status["version"] == "v3.0.0"

        faults.down, faults.latency = False, 2.0  # slow: far past the 0.3 s model timeout
        time.sleep(0.55)
        slow = [ask(http, i, org=f"slow{i}") for i in range(3)]
        assert [r.status_code for r in slow] == [200] * 3 and all(r.json()["mode"] == "simulated" for r in slow)

        faults.latency, faults.flapping = 0.0, True
        time.sleep(0.55)
        flapping = [ask(http, i, org=f"flap{i}") for i in range(8)]
        assert all(r.status_code == 200 for r in flapping)
        assert any(r.json()["mode"] == "live" for r in flapping)

        faults.flapping = False
        time.sleep(0.55)  # breaker half-open: the next call is the probe
        recovered = ask(http, 99, org="after")
        assert recovered.json()["mode"] == "live" and "x-degraded" not in recovered.headers
        time.sleep(1.2)  # the status view re-reads the board about once a second
        http.get("/api/status")
        time.sleep(0.1)
        assert http.get("/api/status").json()["degraded"] is False


def test_manual_degradation_is_served_on_api_status(plan, model) -> None:
    model_server, _ = model
    board = MemoryBoard()
    with demo(plan, model_server.url, board) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/api/status").json()["degraded"] is False
        set_degraded(board, "scheduled maintenance", source="manual", retry_after=120, emergency=True)
        time.sleep(1.1)
        http.get("/api/status")
        time.sleep(0.1)
        status = http.get("/api/status").json()
        assert status["reason"] == "scheduled maintenance" and status["emergency"] and status["retry_after"] == 120


def test_demo_is_behind_waf_and_rate_limits(plan, model) -> None:
    model_server, _ = model
    with demo(plan, model_server.url, MemoryBoard()) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/api/gpt-test").status_code == 405  # WAF: POST only
        assert http.post("/api/gpt-test", json={"prompt": "x"}).status_code == 400  # no org
        deep = "[" * 20 + "]" * 20
        refused = http.post("/api/gpt-test", content=deep, headers={**ORG, "Content-Type": "application/json"})
        assert refused.status_code == 413 and refused.json()["rule"] == "json_too_deep"
        codes = [http.get("/api/analytics", headers={"X-Org-Id": "busy"}).status_code for _ in range(25)]
        assert codes[:21] == [200] * 21 and codes[21:] == [429] * 4  # 120/min, burst 20
        assert http.get("/health").status_code == 200


def test_gateway_is_behind_waf_and_rate_limits(plan, model) -> None:
    from launch_control.plane.demo.service import create_app as demo_app
    from launch_control.plane.gateway.app import create_app as gateway_app

    model_server, _ = model
    with ServerThread(demo_app("v2.9.0", admin_token=TOKEN, model_url=model_server.url)) as upstream:
        gateway = gateway_app(
            upstreams={"v2.9.0": upstream.url, "v3.0.0": upstream.url},
            stable="v2.9.0",
            canary="v3.0.0",
            admin_token=TOKEN,
            plan=plan,
        )
        assert gateway.canary_weight == 0.0  # Gateway attributes reachable through the wrapper
        with ServerThread(gateway, lifespan="on") as server, httpx.Client(base_url=server.url) as http:
            ok = http.get("/api/analytics", headers=ORG)
            assert ok.status_code == 200 and ok.headers["x-served-by"] == "stable"
            assert ok.headers["ratelimit-policy"] == '"analytics";q=120;w=60, "org-wide";q=300;w=60'
            codes = [http.get("/api/analytics", headers={"X-Org-Id": "busy"}).status_code for _ in range(25)]
            assert codes.count(429) == 4
            limited = http.get("/api/analytics", headers={"X-Org-Id": "busy"})
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            assert http.get("/health").status_code == 200
            assert http.put("/health").status_code == 405


def test_serve_with_plan_runs_the_protected_service(tmp_path) -> None:
    """``python -m launch_control.plane.demo.serve service --plan`` (what a stack runs) is protected."""
    import os
    import sys

    from launch_control.web.servers import ChildProcess, free_port, wait_for_http

    port = free_port()
    env = {**os.environ, "LAUNCH_CONTROL_ADMIN_TOKEN": TOKEN, "LAUNCH_CONTROL_DATA_DIR": str(tmp_path)}
    env.pop("LAUNCH_CONTROL_REDIS_URL", None)
    argv = [sys.executable, "-m", "launch_control.plane.demo.serve", "service", "--version", "v3.0.0"]
    argv += ["--port", str(port), "--plan", "checklist/promptforge-v3.yaml"]
    with ChildProcess(argv, env=env, stdout=open(tmp_path / "out.log", "w"), stderr=open(tmp_path / "err.log", "w")):
        url = f"http://127.0.0.1:{port}"
        assert wait_for_http(url + "/health", timeout=30), (tmp_path / "err.log").read_text()
        with httpx.Client(base_url=url) as http:
            assert http.post("/api/gpt-test", json={"prompt": "x"}).status_code == 400  # no org
            answer = http.post("/api/gpt-test", json={"prompt": "x"}, headers=ORG)  # no model configured
            assert answer.status_code == 200 and answer.json()["mode"] == "simulated"
            assert answer.headers["ratelimit-policy"].startswith('"gpt-test";q=60;w=60')
            assert http.get("/api/status").json()["degraded"] is True  # this process answers degraded


def test_emergency_degradation_switches_rate_limits_to_the_emergency_phase(plan, sqlite_store) -> None:
    """``launch-control degrade on --emergency`` (or a rollback) → the plan's emergency phase:
    non-critical analytics halved, critical routes untouched — without a restart."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from launch_control.protect.degrade import StoreBoard, clear_degraded
    from launch_control.protect.layers import launch_phase, protect

    async def ok(request):
        return JSONResponse({})

    board = StoreBoard(sqlite_store)
    phase = launch_phase(sqlite_store, board)
    assert phase() == "planned"  # the store's launch phase
    sqlite_store.update_state(phase="canary")
    assert phase() == "canary"
    inner = Starlette(routes=[Route("/api/analytics", ok), Route("/api/gpt-test", ok, methods=["POST"])])
    app = protect(inner, plan, store=sqlite_store, board=board, refresh=0.05, redis_url="")

    async def main():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:

            async def policy(path: str, method: str = "GET") -> str:
                await asyncio.sleep(0.06)
                await c.request(method, path, headers={"X-Org-Id": "warmup"})  # starts the phase re-read
                await asyncio.sleep(0.05)
                return (await c.request(method, path, headers=ORG)).headers["ratelimit-policy"]

            before = await policy("/api/analytics")
            set_degraded(board, "incident", source="manual", emergency=True)
            during = await policy("/api/analytics"), await policy("/api/gpt-test", "POST")
            clear_degraded(board, "manual")
            after = await policy("/api/analytics")
            return before, during, after

    before, (analytics, gpt), after = asyncio.run(main())
    assert before.startswith('"analytics";q=120;w=60')
    assert analytics.startswith('"analytics";q=60;w=60')  # phases: {emergency: {analytics: 50%}}
    assert gpt.startswith('"gpt-test";q=60;w=60')  # critical: unchanged
    assert after.startswith('"analytics";q=120;w=60')


def test_gateway_with_redis_batches_concurrent_decisions_exactly(plan, model, redis_url, monkeypatch) -> None:
    """The gateway's path: Redis decisions of concurrent requests pipelined together, still exact."""
    import asyncio
    import uuid

    from launch_control.plane.demo.service import create_app as demo_app
    from launch_control.plane.gateway.app import create_app as gateway_app

    monkeypatch.setenv("LAUNCH_CONTROL_REDIS_URL", redis_url)
    org = f"batch-{uuid.uuid4().hex[:8]}"  # keys under lc:rl:gateway:{org}: unique, and they expire
    model_server, _ = model
    with ServerThread(demo_app("v2.9.0", admin_token=TOKEN, model_url=model_server.url)) as upstream:
        gateway = gateway_app(
            upstreams={"v2.9.0": upstream.url, "v3.0.0": upstream.url},
            stable="v2.9.0",
            canary="v3.0.0",
            admin_token=TOKEN,
            plan=plan,
        )
        with ServerThread(gateway, lifespan="on") as server:

            async def burst() -> list[int]:
                async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                    responses = await asyncio.gather(
                        *(http.get("/api/analytics", headers={"X-Org-Id": org}) for _ in range(40))
                    )
                return [r.status_code for r in responses]

            codes = asyncio.run(burst())
        assert gateway.limiter.redis.batch and gateway.limiter.mode == "redis"
    # analytics: 120/min with burst 20 → 21 at once (+1 if a 0.5 s refill lands during the burst)
    assert codes.count(200) in (21, 22), codes
    assert codes.count(429) == 40 - codes.count(200)
