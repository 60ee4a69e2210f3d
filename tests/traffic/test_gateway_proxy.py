"""The gateway's proxy path over real sockets: faults and outages counted per version, metrics that
match what the client saw, streaming, and faithful forwarding."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from launch_control.plane.demo.loadgen import run
from launch_control.plane.gateway.app import LATENCY_BUCKETS, create_app
from launch_control.web.servers import ServerThread, free_port


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def requests_by(text: str) -> dict[tuple[str, str], float]:
    """launch_gateway_requests_total summed over routes: (version, status) -> count."""
    totals: dict[tuple[str, str], float] = {}
    for (name, labels), value in samples(text).items():
        if name == "launch_gateway_requests_total":
            key = (dict(labels)["version"], dict(labels)["status"])
            totals[key] = totals.get(key, 0) + value
    return totals


def test_canary_faults_show_in_its_metrics_exactly_as_the_client_saw_them(traffic_plane):
    traffic_plane.set_weight(50)
    traffic_plane.set_fault("canary", error_rate=0.4)
    summary = run(traffic_plane.gateway_url, rps=1000, count=800, orgs=400, seed=3)
    assert summary.requests == 800 and summary.skipped == 0
    seen = summary.to_dict()["versions"]
    metrics = requests_by(traffic_plane.metrics())
    for version in ("stable", "canary"):
        for status, count in seen[version]["statuses"].items():
            assert metrics[(version, status)] == count, (version, status)
        assert sum(v for (role, _), v in metrics.items() if role == version) == seen[version]["requests"]
    assert seen["stable"]["errors"] == 0
    assert 0.3 < seen["canary"]["error_rate"] < 0.5
    # the histogram counted every request of each version
    values = samples(traffic_plane.metrics())
    for version in ("stable", "canary"):
        count = values[("launch_gateway_request_duration_seconds_count", (("version", version),))]
        assert count == seen[version]["requests"]
    bounds = {
        float(dict(labels)["le"])
        for (name, labels), _ in values.items()
        if name == "launch_gateway_request_duration_seconds_bucket"
    }
    assert bounds == {*LATENCY_BUCKETS, float("inf")} and min(bounds) == 0.001 and max(LATENCY_BUCKETS) == 30.0


def test_routes_are_counted_by_template(traffic_plane):
    with httpx.Client() as client:
        client.post(traffic_plane.gateway_url + "/api/run/abc", json={})
        client.post(traffic_plane.gateway_url + "/api/run/def")
        client.get(traffic_plane.gateway_url + "/nope/123")
        client.post(traffic_plane.gateway_url + "/api/gpt-test", json={"prompt": "hello"})
    values = samples(traffic_plane.metrics())
    key = "launch_gateway_requests_total"
    assert values[(key, (("route", "/api/run/*"), ("status", "200"), ("version", "stable")))] == 2
    assert values[(key, (("route", "other"), ("status", "404"), ("version", "stable")))] == 1
    assert values[(key, (("route", "/api/gpt-test"), ("status", "200"), ("version", "stable")))] == 1


def test_upstream_down_is_a_502_json_counted_for_that_version(traffic_plane):
    traffic_plane.servers["canary"].stop()
    traffic_plane.set_weight(100)
    with httpx.Client() as client:
        response = client.get(traffic_plane.gateway_url + "/api/analytics", headers={"X-Org-Id": "org-1"})
    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "upstream unavailable" and body["version"] == "canary" and "v3.0.0" in body["detail"]
    assert response.headers["X-Served-By"] == "canary" and response.headers["X-Version"] == "v3.0.0"
    values = samples(traffic_plane.metrics())
    assert values[("launch_gateway_upstream_errors_total", (("version", "canary"),))] == 1
    assert values[("launch_gateway_upstream_errors_total", (("version", "stable"),))] == 0
    assert requests_by(traffic_plane.metrics()) == {("canary", "502"): 1}


def test_slow_upstream_is_a_504_after_the_timeout(plane_factory):
    plane = plane_factory(canary_weight=100, timeout=0.3)
    plane.set_fault("canary", latency=1.0)
    started = time.perf_counter()
    response = httpx.get(plane.gateway_url + "/api/status", timeout=5)
    assert time.perf_counter() - started < 1.5
    assert response.status_code == 504 and response.json()["error"] == "upstream timeout"
    assert requests_by(plane.metrics()) == {("canary", "504"): 1}
    values = samples(plane.metrics())
    assert values[("launch_gateway_upstream_errors_total", (("version", "canary"),))] == 1


def test_injected_outage_passes_through_as_503_of_that_version(traffic_plane):
    traffic_plane.set_fault("stable", down=True)
    response = httpx.get(traffic_plane.gateway_url + "/api/analytics")
    assert response.status_code == 503 and response.json()["error"] == "unavailable"
    assert requests_by(traffic_plane.metrics()) == {("stable", "503"): 1}


async def _echo(scope, receive, send):
    """An upstream that reports what it received, streams /stream slowly, and sets a cookie."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(3):
            await send({"type": "http.response.body", "body": f"chunk{i}\n".encode(), "more_body": True})
            await asyncio.sleep(0.3)
        await send({"type": "http.response.body", "body": b""})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    import json

    data = json.dumps(
        {
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode(),
            "query": scope["query_string"].decode(),
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            "body": body.decode(),
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"set-cookie", b"session=secret"), (b"x-version", b"fake")]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _echo_gateway():
    upstream = ServerThread(_echo).start()
    app = create_app(
        upstreams={"a": upstream.url, "b": upstream.url}, stable="a", canary="b", admin_token="t", canary_weight=0
    )
    return upstream, ServerThread(app, lifespan="on").start()


def test_requests_are_forwarded_faithfully():
    upstream, gateway = _echo_gateway()
    try:
        with httpx.Client() as client:
            response = client.put(
                gateway.url + "/api/x%2Fy?a=1&b=%20",
                content=b"payload",
                headers={"X-Org-Id": "org-1", "X-Custom": "kept", "Connection": "keep-alive"},
            )
            echo = response.json()
            assert response.status_code == 201
            assert echo["method"] == "PUT" and echo["raw_path"] == "/api/x%2Fy" and echo["query"] == "a=1&b=%20"
            assert echo["body"] == "payload" and echo["headers"]["x-custom"] == "kept"
            assert echo["headers"]["x-org-id"] == "org-1" and echo["headers"]["x-forwarded-for"] == "127.0.0.1"
            assert "connection" not in echo["headers"] or echo["headers"]["connection"] != "keep-alive"
            assert response.headers.get_list("x-version") == ["a"]  # the gateway's stamp, once
            assert response.headers["set-cookie"] == "session=secret"
            # the gateway keeps no cookie jar: one client's cookies never reach another's request
            second = httpx.post(gateway.url + "/api/y", content=b"x").json()
            assert "cookie" not in second["headers"]
            big = client.post(gateway.url + "/big", content=b"z" * 3_000_000).json()
            assert len(big["body"]) == 3_000_000
    finally:
        gateway.stop()
        upstream.stop()


def test_streaming_bodies_pass_through_as_they_come():
    upstream, gateway = _echo_gateway()
    try:
        started = time.perf_counter()
        with httpx.stream("GET", gateway.url + "/stream", timeout=5) as response:
            chunks = []
            for chunk in response.iter_raw():
                chunks.append((time.perf_counter() - started, chunk))
        assert b"".join(c for _, c in chunks) == b"chunk0\nchunk1\nchunk2\n"
        assert chunks[0][0] < 0.25  # the first chunk arrived before the upstream finished (~0.9 s)
        assert chunks[-1][0] > 0.5
        assert response.headers["X-Served-By"] == "stable"
    finally:
        gateway.stop()
        upstream.stop()


def test_nothing_listening_is_refused_quickly():
    port = free_port()
    app = create_app(
        upstreams={"a": f"http://127.0.0.1:{port}", "b": f"http://127.0.0.1:{port}"},
        stable="a",
        canary="b",
        admin_token="t",
    )
    with ServerThread(app, lifespan="on") as gateway:
        health = httpx.get(gateway.url + "/health")
        assert health.status_code == 503 and health.json()["upstreams"]["stable"]["ok"] is False
        response = httpx.post(gateway.url + "/api/gpt-test", json={"prompt": "x"})
        assert response.status_code == 502 and response.json()["version"] == "stable"
