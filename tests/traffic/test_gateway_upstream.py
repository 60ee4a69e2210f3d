"""The gateway's own upstream client against a raw socket server that answers exactly as told:
HEAD and 204 without a body, a body delimited by the connection closing, a kept-alive connection
the upstream drops (retried for GET, 502 for POST); plus the shared state and metric slots."""

from __future__ import annotations

import mmap
import socket
import socketserver
import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from launch_control.plane.gateway.app import create_app
from launch_control.plane.gateway.metrics import LATENCY_BUCKETS, ROUTE_INDEX, SLOT_BYTES, MetricSlots
from launch_control.plane.gateway.shared import RoutingState
from launch_control.web.servers import ServerThread


class _Raw(socketserver.BaseRequestHandler):
    """Keep-alive HTTP/1.1 by hand. Paths: /head-ok, /nocontent, /eof, /drop-next, anything else 'ok'."""

    def handle(self) -> None:
        conn: socket.socket = self.request
        buffer = b""
        drop_next = False
        while True:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, path, _ = lines[0].split(b" ")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buffer) < length:
                buffer += conn.recv(65536)
            buffer = buffer[length:]
            if drop_next:
                conn.close()  # a kept-alive connection dropped without an answer
                return
            if path == b"/head-ok":
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Head: 1\r\n\r\n"
                    + (b"" if method == b"HEAD" else b"hello")
                )
            elif path == b"/nocontent":
                conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            elif path == b"/eof":
                conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
                conn.close()
                return
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                drop_next = path == b"/drop-next"


@pytest.fixture
def raw_gateway():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Raw)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    app = create_app(upstreams={"a": url, "b": url}, stable="a", canary="b", admin_token="t", timeout=3)
    try:
        with ServerThread(app, lifespan="on") as gateway:
            yield gateway.url, app
    finally:
        server.shutdown()
        server.server_close()


def test_head_and_204_have_no_body_and_the_connection_serves_on(raw_gateway):
    url, _ = raw_gateway
    with httpx.Client(base_url=url, timeout=5) as client:
        head = client.head("/head-ok")
        assert head.status_code == 200 and head.headers["content-length"] == "5" and head.content == b""
        assert head.headers["x-head"] == "1" and head.headers["x-served-by"] == "stable"
        assert client.get("/head-ok").content == b"hello"
        empty = client.get("/nocontent")
        assert empty.status_code == 204 and empty.content == b""
        assert client.get("/other").content == b"ok"


def test_a_body_delimited_by_the_connection_closing_arrives_whole(raw_gateway):
    url, _ = raw_gateway
    with httpx.Client(base_url=url, timeout=5) as client:
        for _ in range(3):
            answer = client.get("/eof")
            assert answer.status_code == 200 and answer.content == b"until the end"


def test_a_dropped_keep_alive_connection_is_retried_for_get_only(raw_gateway):
    url, app = raw_gateway
    with httpx.Client(base_url=url, timeout=5) as client:
        assert client.get("/drop-next").content == b"ok"
        assert client.get("/again").content == b"ok"  # the pooled connection was dropped: retried on a new one
        assert client.get("/drop-next").content == b"ok"
        refused = client.post("/again", content=b"x")  # not idempotent: never sent twice
        assert refused.status_code == 502 and refused.json()["error"] == "upstream unavailable"
    assert app.upstream_errors == {"stable": 1, "canary": 0}


def test_routing_state_written_through_one_map_is_read_through_another(tmp_path):
    path = str(tmp_path / "routing")
    writer, reader = RoutingState(["v1", "v2"], path), RoutingState(["v2", "v1"], path)
    writer.initialise(5.0, "v1", "v2")
    seq = reader.seq()
    assert reader.read()[1:] == (5.0, "v1", "v2")
    writer.write(canary_weight=25.0)
    writer.write(versions={"canary": "v1"})
    assert reader.seq() > seq and reader.seq() % 2 == 0
    assert reader.read()[1:] == (25.0, "v1", "v1")


def test_metric_slots_sum_every_worker_and_keep_the_bounds(tmp_path):
    shared = tmp_path / "metrics"
    shared.write_bytes(b"\0" * (2 * SLOT_BYTES))
    with open(shared, "r+b") as fh:
        maps = [mmap.mmap(fh.fileno(), 2 * SLOT_BYTES) for _ in range(2)]
    first, second = MetricSlots(maps[0], 2, 0), MetricSlots(maps[1], 2, 1)
    first.record(0, ROUTE_INDEX["/api/analytics"], 200, 0.004)
    second.record(0, ROUTE_INDEX["/api/analytics"], 200, 0.0041)
    second.record(1, ROUTE_INDEX["other"], 503, 2.0)
    second.upstream_failed(1)
    samples = {}
    for family in text_string_to_metric_families(first.render(5.0).decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    key = (("route", "/api/analytics"), ("status", "200"), ("version", "stable"))
    assert samples[("launch_gateway_requests_total", key)] == 2
    assert (
        samples[("launch_gateway_requests_total", (("route", "other"), ("status", "503"), ("version", "canary")))] == 1
    )
    assert samples[("launch_gateway_request_duration_seconds_count", (("version", "stable"),))] == 2
    assert samples[("launch_gateway_request_duration_seconds_bucket", (("le", "0.0039"), ("version", "stable")))] == 0
    assert samples[("launch_gateway_request_duration_seconds_bucket", (("le", "0.0043"), ("version", "stable")))] == 2
    assert samples[("launch_gateway_upstream_errors_total", (("version", "canary"),))] == 1
    assert samples[("launch_gateway_canary_weight", ())] == 5.0
    bounds = {float(dict(k[1])["le"]) for k in samples if k[0] == "launch_gateway_request_duration_seconds_bucket"}
    assert bounds == {*LATENCY_BUCKETS, float("inf")}
