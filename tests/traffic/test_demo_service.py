"""The demo PromptForge API and the stand-in model over real sockets: endpoints, the live-model
call and its simulated fallback, fault injection behind a token, and process metrics."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from launch_control.plane.demo import model_client
from launch_control.plane.demo.service import create_app
from launch_control.web.servers import ServerThread, free_port


def test_endpoints_answer_with_their_version(traffic_plane):
    with httpx.Client(base_url=traffic_plane.canary_url) as client:
        assert client.get("/health").json() == {"status": "ok", "version": "v3.0.0"}
        assert client.get("/api/status").json() == {"version": "v3.0.0", "degraded": False}
        live = client.post("/api/gpt-test", json={"prompt": "name a launch"})
        assert live.status_code == 200 and "X-Degraded" not in live.headers
        assert live.json() == {"output": "[stand-in model] name a launch", "mode": "live", "version": "v3.0.0"}
        run = client.post("/api/run/run-42", json={"input": "x"})
        assert run.json() == {"run_id": "run-42", "status": "completed", "version": "v3.0.0"}
        analytics = client.get("/api/analytics", headers={"X-Org-Id": "org-0001"}).json()
        assert analytics["org"] == "org-0001" and analytics["version"] == "v3.0.0"
        assert analytics == client.get("/api/analytics", headers={"X-Org-Id": "org-0001"}).json()


def test_bad_input_is_a_4xx_json(traffic_plane):
    with httpx.Client(base_url=traffic_plane.stable_url) as client:
        assert client.post("/api/gpt-test", content=b"{not json").status_code == 400
        for body in ({}, {"prompt": ""}, {"prompt": 5}, {"prompt": "x" * 8001}):
            response = client.post("/api/gpt-test", json=body)
            assert response.status_code == 422 and "prompt" in response.json()["detail"], body
        assert client.post("/api/run/" + "x" * 65).status_code == 422
        assert client.post("/api/run/ok", content=b"[1]").status_code == 422


def test_model_failure_answers_in_simulated_mode(traffic_plane):
    traffic_plane.set_fault("model", down=True)
    with httpx.Client(base_url=traffic_plane.stable_url) as client:
        response = client.post("/api/gpt-test", json={"prompt": "hello"})
        assert response.status_code == 200 and response.headers["X-Degraded"] == "model unavailable"
        assert response.json()["mode"] == "simulated" and response.json()["version"] == "v2.9.0"
        assert client.get("/api/status").json()["degraded"] is True
        traffic_plane.set_fault("model", down=False)
        assert client.post("/api/gpt-test", json={"prompt": "hello"}).json()["mode"] == "live"
        assert client.get("/api/status").json()["degraded"] is False


def test_model_flapping_fails_every_other_call(traffic_plane):
    traffic_plane.set_fault("model", flapping=True)
    modes = [
        httpx.post(traffic_plane.stable_url + "/api/gpt-test", json={"prompt": "p"}).json()["mode"] for _ in range(6)
    ]
    assert modes == ["live", "simulated"] * 3


def test_faults_need_the_token_and_valid_values(traffic_plane):
    for role in ("stable", "model"):
        url = traffic_plane.servers[role].url + "/admin/faults"
        assert httpx.get(url).status_code == 401
        assert httpx.put(url, json={"down": True}, headers={"Authorization": "Bearer nope"}).status_code == 401
        for body, reason in (
            ({"error_rate": 1.5}, "error_rate"),
            ({"error_rate": "0.3"}, "error_rate"),
            ({"latency": -1}, "latency"),
            ({"latency": 600}, "latency"),
            ({"down": "yes"}, "down"),
            ({"explode": True}, "unknown fault"),
            ([1], "JSON object"),
        ):
            response = httpx.put(url, json=body, headers=traffic_plane.auth)
            assert response.status_code == 422 and reason in response.json()["detail"], body
        assert httpx.get(url, headers=traffic_plane.auth).json()["down"] is False
    # flapping is a model fault only
    assert traffic_plane.set_fault("model", flapping=True)["flapping"] is True
    bad = httpx.put(traffic_plane.stable_url + "/admin/faults", json={"flapping": True}, headers=traffic_plane.auth)
    assert bad.status_code == 422


def test_injected_errors_latency_and_outage(traffic_plane):
    url = traffic_plane.canary_url
    assert traffic_plane.set_fault("canary", error_rate=1.0) == {"error_rate": 1.0, "latency": 0.0, "down": False}
    failed = httpx.get(url + "/api/analytics")
    assert failed.status_code == 500 and failed.json()["detail"] == "injected fault"
    assert httpx.get(url + "/health").status_code == 200  # errors hit the API, not the health check
    # PUT changes only the faults it names
    assert traffic_plane.set_fault("canary", latency=0.2) == {"error_rate": 1.0, "latency": 0.2, "down": False}
    traffic_plane.set_fault("canary", error_rate=0.0)
    started = time.perf_counter()
    assert httpx.get(url + "/api/status").status_code == 200
    assert time.perf_counter() - started >= 0.2
    traffic_plane.set_fault("canary", down=True)
    assert httpx.get(url + "/health").status_code == 503
    assert httpx.post(url + "/api/gpt-test", json={"prompt": "x"}).status_code == 503
    cleared = httpx.delete(url + "/admin/faults", headers=traffic_plane.auth).json()
    assert cleared == {"error_rate": 0.0, "latency": 0.0, "down": False}
    assert httpx.get(url + "/health").status_code == 200


def test_metrics_expose_process_cpu_memory_and_requests(traffic_plane):
    httpx.get(traffic_plane.stable_url + "/api/status")
    text = httpx.get(traffic_plane.stable_url + "/metrics").text
    assert "process_cpu_seconds_total" in text and "process_resident_memory_bytes" in text
    assert "launch_demo_memory_limit_bytes" in text
    assert 'launch_demo_requests_total{route="/api/status",status="200"} 1.0' in text
    assert 'launch_demo_info{version="v2.9.0"} 1.0' in text


def test_demo_app_requires_a_token():
    with pytest.raises(ValueError, match="admin_token"):
        create_app("v1", admin_token="")


def test_no_model_configured_is_simulated():
    with ServerThread(create_app("v1", admin_token="t")) as server:
        response = httpx.post(server.url + "/api/gpt-test", json={"prompt": "hi"})
        assert response.json()["mode"] == "simulated" and response.headers["X-Degraded"]


def test_model_client_raises_model_unavailable(traffic_plane):
    async def ask(url: str, timeout: float = 2.0) -> str:
        try:
            return await model_client.complete("hi", url=url, timeout=timeout)
        finally:
            await model_client.aclose()

    assert asyncio.run(ask(traffic_plane.model_url + "/v1")) == "[stand-in model] hi"
    assert asyncio.run(ask(traffic_plane.model_url + "/v1/chat/completions")) == "[stand-in model] hi"
    with pytest.raises(model_client.ModelUnavailable, match="failed"):
        asyncio.run(ask(f"http://127.0.0.1:{free_port()}"))
    traffic_plane.set_fault("model", error_rate=1.0)
    with pytest.raises(model_client.ModelUnavailable, match="HTTP 500"):
        asyncio.run(ask(traffic_plane.model_url))
    traffic_plane.set_fault("model", error_rate=0.0, latency=1.0)
    with pytest.raises(model_client.ModelUnavailable, match="within 0.2 s"):
        asyncio.run(ask(traffic_plane.model_url, timeout=0.2))
    with ServerThread(_not_a_model) as other, pytest.raises(model_client.ModelUnavailable, match="choices"):
        asyncio.run(ask(other.url))


async def _not_a_model(scope, receive, send):
    """Answers 200 JSON without a completion in it."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"ok": true}'})
