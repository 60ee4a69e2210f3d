"""The WAF: each rule refuses what it should (status, JSON naming the rule, metric) and ordinary
traffic goes through untouched; blocklist changes apply without a restart (also via the CLI)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest
from protection_helpers import counter, rate_limits, waf

from launch_control.protect.degrade import MemoryBoard, StoreBoard
from launch_control.protect.waf import WafMiddleware, change_blocklist, json_too_deep, path_problem
from launch_control.web.servers import ServerThread

WAF = waf(
    max_body="1KB",
    max_json_depth=8,
    max_headers=20,
    max_header_bytes="2KB",
    blocked_ips=["203.0.113.0/24"],
    blocked_orgs=["evil-corp"],
    routes=[
        {"path": "/api/gpt-test", "methods": ["POST"], "max_body": "256B", "max_json_depth": 4},
        {"path": "/api/run/*", "methods": ["POST"]},
        {"path": "/health", "methods": ["GET", "HEAD"]},
    ],
)


async def echo(scope, receive, send) -> None:
    """The protected app: answers 200 with what it received (to prove the body is untouched)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = json.dumps({"path": scope["path"], "method": scope["method"], "body": body.decode()}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})


def call(
    app,
    method: str = "GET",
    path: str = "/api/analytics",
    *,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | list[bytes] = b"",
    raw_path: bytes | None = None,
    client: str = "198.51.100.7",
) -> tuple[int, dict[str, str], Any]:
    chunks = body if isinstance(body, list) else [body]
    hdrs = [(k.lower().encode(), v.encode()) for k, v in (headers or [])]
    if not isinstance(body, list) and body and not any(k == b"content-length" for k, _ in hdrs):
        hdrs.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode(),
        "query_string": b"",
        "headers": hdrs,
        "client": (client, 50000),
    }
    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    body_out = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, json.loads(body_out)


def make(board=None, **kwargs) -> WafMiddleware:
    return WafMiddleware(echo, WAF, rate_limits=rate_limits(), board=board, **kwargs)


def test_ordinary_traffic_goes_through_untouched() -> None:
    app = make()
    body = json.dumps({"prompt": "hello [world] {with} brackets in strings [[[[[[[["}).encode()
    status, _, answer = call(
        app, "POST", "/api/gpt-test", headers=[("Content-Type", "application/json"), ("X-Org-Id", "acme")], body=body
    )
    assert status == 200 and answer["body"] == body.decode()
    assert call(app, "GET", "/api/analytics", headers=[("X-Org-Id", "acme")])[0] == 200
    assert call(app, "POST", "/api/run/abc-1", body=b"{}")[0] == 200
    assert call(app, "GET", "/static/app.v2.js")[0] == 200  # dots inside a name are fine
    # a body in several chunks is passed on whole
    status, _, answer = call(
        app, "POST", "/api/run/x", body=[b'{"a":', b" 1}"], headers=[("Transfer-Encoding", "chunked")]
    )
    assert status == 200 and answer["body"] == '{"a": 1}'


@pytest.mark.parametrize(
    ("path", "raw", "rule", "status"),
    [
        ("/api/../etc/passwd", None, "path_traversal", 403),
        ("/api/./x", None, "path_traversal", 403),
        ("/api/../x", b"/api/%2e%2e/x", "path_traversal", 403),
        ("/api/%2e%2e/x", b"/api/%252e%252e/x", "path_traversal", 403),
        ("/api/..\\x", None, "path_traversal", 403),
        ("/api/a/b", b"/api/a%2fb", "path_traversal", 403),
        ("/api/\x00x", None, "malformed_path", 400),
        ("/api/x", b"/api/%zz", "malformed_path", 400),
        ("api/x", None, "malformed_path", 400),
        ("/" + "a" * 3000, None, "malformed_path", 400),
    ],
)
def test_bad_paths_are_refused(path: str, raw: bytes | None, rule: str, status: int) -> None:
    before = counter("launch_control_waf_refusals", rule=rule)
    code, _, body = call(make(), "GET", path, raw_path=raw)
    assert (code, body["rule"]) == (status, rule)
    assert counter("launch_control_waf_refusals", rule=rule) == before + 1


def test_path_check_is_exact_on_clean_paths() -> None:
    assert path_problem("/api/run/abc_1-2", None) is None
    assert path_problem("/a.b/c..d/...", None) is None  # only whole '.'/'..' segments are traversal
    assert path_problem("/api/%7Euser", None) is None  # the raw path was already decoded by the server
    assert path_problem("/x", b"/%7Euser") is None


def test_header_limits_are_431() -> None:
    app = make()
    many = [(f"X-H{i}", "v") for i in range(21)]
    code, _, body = call(app, headers=many)
    assert (code, body["rule"]) == (431, "too_many_headers")
    code, _, body = call(app, headers=[("X-Big", "v" * 2100)])
    assert (code, body["rule"]) == (431, "headers_too_large")
    assert call(app, headers=[(f"X-H{i}", "v") for i in range(20)])[0] == 200


def test_method_allow_list_is_405_with_allow() -> None:
    code, headers, body = call(make(), "GET", "/api/gpt-test")
    assert (code, body["rule"]) == (405, "method_not_allowed")
    assert headers["allow"] == "POST"
    assert call(make(), "DELETE", "/api/run/7")[0] == 405
    assert call(make(), "HEAD", "/health")[0] == 200


def test_body_caps_are_413() -> None:
    app = make()
    code, _, body = call(app, "POST", "/api/gpt-test", body=b"x" * 257)
    assert (code, body["rule"]) == (413, "body_too_large")  # per-route cap: 256 B
    assert call(app, "POST", "/api/gpt-test", body=b"x" * 256)[0] == 200
    assert call(app, "POST", "/api/run/1", body=b"x" * 1000)[0] == 200  # global cap: 1 KB
    # no Content-Length (chunked): counted while reading
    code, _, body = call(
        app, "POST", "/api/run/1", body=[b"x" * 600, b"x" * 600], headers=[("Transfer-Encoding", "chunked")]
    )
    assert (code, body["rule"]) == (413, "body_too_large")


def test_json_depth_cap_is_413() -> None:
    app = make()
    deep = b'{"a":' * 5 + b"1" + b"}" * 5
    ok = b'{"a":' * 4 + b"1" + b"}" * 4
    headers = [("Content-Type", "application/json")]
    code, _, body = call(app, "POST", "/api/gpt-test", body=deep, headers=headers)
    assert (code, body["rule"]) == (413, "json_too_deep")
    assert call(app, "POST", "/api/gpt-test", body=ok, headers=headers)[0] == 200
    assert call(app, "POST", "/api/run/1", body=b"[" * 8 + b"]" * 8, headers=headers)[0] == 200  # global cap 8
    assert call(app, "POST", "/api/run/1", body=b"[" * 9 + b"]" * 9, headers=headers)[0] == 413


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert not json_too_deep(b'{"a": "[[[[[[[[[[[[{{{{{{{{", "b": "\\"[[[[[["}', 2)
    assert json_too_deep(b'[[[["x"]]]]', 3)
    assert not json_too_deep(b'[[[["x"]]]]', 4)


def test_blocklists_from_the_plan() -> None:
    app = make()
    code, _, body = call(app, client="203.0.113.9")
    assert (code, body["rule"]) == (403, "ip_blocklist")
    code, _, body = call(app, headers=[("X-Org-Id", "evil-corp")])
    assert (code, body["rule"]) == (403, "org_blocklist")
    assert call(app, headers=[("X-Org-Id", "good-corp")], client="203.0.114.9")[0] == 200


def test_blocklist_change_applies_without_restart() -> None:
    board = MemoryBoard()
    app = make(board, refresh=0.05)
    assert call(app, client="192.0.2.10")[0] == 200
    change_blocklist(board, "ip", "192.0.2.0/28", add=True)
    change_blocklist(board, "org", "spammer", add=True)
    time.sleep(0.06)
    call(app)  # the first request after the refresh interval starts the re-read
    time.sleep(0.05)
    assert call(app, client="192.0.2.10")[0] == 403
    assert call(app, headers=[("X-Org-Id", "spammer")])[0] == 403
    assert call(app, client="192.0.2.20")[0] == 200  # outside the /28
    change_blocklist(board, "ip", "192.0.2.0/28", add=False)
    time.sleep(0.06)
    call(app)
    time.sleep(0.05)
    assert call(app, client="192.0.2.10")[0] == 200


def test_trusted_proxy_forwards_the_client_address() -> None:
    app = make(trusted_proxies=["127.0.0.1/32"])
    code, _, _ = call(app, client="127.0.0.1", headers=[("X-Forwarded-For", "203.0.113.50, 127.0.0.1")])
    assert code == 403
    # an untrusted peer cannot spoof its way out of (or into) the blocklist
    assert call(app, client="198.51.100.1", headers=[("X-Forwarded-For", "203.0.113.50")])[0] == 200


def test_over_real_http_raw_traversal_is_refused() -> None:
    with ServerThread(make()) as server, socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /api/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 403")
    assert b'"rule":"path_traversal"' in data


def test_cli_block_unblock_list_is_audited_and_read_by_a_running_service(cli, sqlite_store) -> None:
    from launch_control.store.db import Store

    result = cli("waf", "block", "ip", "198.51.100.0/24", "--reason", "scraper")
    assert result.returncode == 0, result.stderr
    result = cli("waf", "block", "org", "noisy-org")
    assert result.returncode == 0, result.stderr
    listing = cli("waf", "list", "--json")
    assert json.loads(listing.stdout)["runtime"] == {"ips": ["198.51.100.0/24"], "orgs": ["noisy-org"]}
    bad = cli("waf", "block", "ip", "not-an-ip")
    assert bad.returncode == 2 and "not an IP address" in bad.stderr

    store = Store(launch_id="promptforge-v3")  # the CLI's store (same data dir)
    events = store.events(action="waf.block")
    assert {(e["details"]["kind"], e["details"]["value"]) for e in events} == {
        ("ip", "198.51.100.0/24"),
        ("org", "noisy-org"),
    }
    assert all(e["actor"] == "tester" for e in events)
    app = make(StoreBoard(store))
    assert call(app, client="198.51.100.7")[0] == 403
    assert cli("waf", "unblock", "ip", "198.51.100.0/24").returncode == 0
    assert store.events(action="waf.unblock")
    assert call(make(StoreBoard(store)), client="198.51.100.7")[0] == 200
    store.close()
