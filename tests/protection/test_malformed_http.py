"""Hostile HTTP over raw sockets against the real processes (``DemoStack``: the gateway, the demo
API and the stand-in model, each ``python -m ... serve`` under the guarded uvicorn protocol).

Every case: no 5xx (a 4xx in the WAF's JSON shape, or for a half-sent request a close after the
configured timeout), and ``/health`` answers 200 after it. The header and body timeouts are set
short (``LAUNCH_CONTROL_HTTP_*``) so the slow cases take about a second.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.5
TOKEN = "malformed-http-token"
MB = 1024 * 1024


@dataclass
class Answer:
    status: int | None  # None: closed without an answer
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> dict:
        return json.loads(self.body)


def exchange(port: int, data: bytes | list[bytes], *, pause: float = 0.0, timeout: float = 8.0) -> Answer:
    """Send ``data`` (chunks ``pause`` s apart) while reading; the first response, or None if closed."""
    chunks = data if isinstance(data, list) else [data]
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def writer() -> None:
        try:
            for chunk in chunks:
                sock.sendall(chunk)
                if pause:
                    time.sleep(pause)
        except OSError:
            pass  # the server may answer and close before we finish: that is allowed

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    received = b""
    try:
        while True:
            head, sep, rest = received.partition(b"\r\n\r\n")
            if sep:
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")[1:]
                        if line.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(rest) >= length:
                    break
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    finally:
        seconds = time.monotonic() - started
        sock.close()
    head, _, body = received.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        return Answer(None, {}, b"", seconds)
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode("latin-1")
    return Answer(int(lines[0].split()[1]), headers, body, seconds)


def post(path: str, body: bytes, content_type: str | None = "application/json", extra: str = "") -> bytes:
    ctype = f"Content-Type: {content_type}\r\n" if content_type else ""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Org-Id: org-1\r\n{ctype}{extra}"
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def chunked(path: str, body: bytes, piece: int = 64 * 1024) -> list[bytes]:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Org-Id: org-1\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n"
    parts = [head.encode()]
    for i in range(0, len(body), piece):
        part = body[i : i + piece]
        parts.append(b"%x\r\n%s\r\n" % (len(part), part))
    parts.append(b"0\r\n\r\n")
    return [b"".join(parts[j : j + 16]) for j in range(0, len(parts), 16)]


def get(path: str, headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Org-Id: org-1\r\n{headers}\r\n".encode()


DEEP = b"[" * 15_000 + b"]" * 15_000  # 30 KB: under every body cap, 15x deeper than json.loads can go
DEEP_OBJECTS = b'{"a":' * 8_000 + b"1" + b"}" * 8_000


def surrogate(target: str, text: bytes) -> bytes:
    if target == "model":
        return b'{"messages":[{"role":"user","content":"' + text + b'"}]}'
    return b'{"prompt":"' + text + b'"}'


# (name, builder(target, post_path) -> bytes | list[bytes], what is allowed)
#   "4xx": a 4xx answer; "4xx-or-close": a 4xx or the connection closed, never a 5xx
CASES = [
    ("deep json application/json", lambda t, p: post(p, DEEP), "4xx"),
    ("deep json text/plain", lambda t, p: post(p, DEEP, "text/plain"), "4xx"),
    ("deep json no content-type", lambda t, p: post(p, DEEP, None), "4xx"),
    ("deep json form-urlencoded", lambda t, p: post(p, DEEP, "application/x-www-form-urlencoded"), "4xx"),
    ("deep json multipart", lambda t, p: post(p, DEEP, "multipart/form-data; boundary=x"), "4xx"),
    ("deep json octet-stream", lambda t, p: post(p, DEEP, "application/octet-stream"), "4xx"),
    ("deep objects text/plain", lambda t, p: post(p, DEEP_OBJECTS, "text/plain"), "4xx"),
    ("deep json chunked", lambda t, p: chunked(p, DEEP), "4xx"),
    ("lone high surrogate", lambda t, p: post(p, surrogate(t, b"\\ud800")), "4xx"),
    ("lone low surrogate", lambda t, p: post(p, surrogate(t, b"\\udfff")), "4xx"),
    ("lone surrogate text/plain", lambda t, p: post(p, surrogate(t, b"x\\udbff"), "text/plain"), "4xx"),
    ("reversed surrogate pair", lambda t, p: post(p, surrogate(t, b"\\ude00\\ud83d")), "4xx"),
    ("invalid utf-8", lambda t, p: post(p, surrogate(t, b"\xff\xfe")), "4xx"),
    ("utf-8 encoded surrogate", lambda t, p: post(p, surrogate(t, b"\xed\xa0\x80")), "4xx"),
    ("5000-digit number", lambda t, p: post(p, b'{"prompt": ' + b"9" * 5000 + b"}"), "4xx"),
    ("10 MB with content-length", lambda t, p: post(p, b"x" * (10 * MB)), "4xx"),
    ("10 MB chunked", lambda t, p: chunked(p, b"x" * (10 * MB)), "4xx"),
    (
        "bad chunk size",
        lambda t, p: [get(p).replace(b"GET", b"POST")[:-2] + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n"],
        "4xx",
    ),
    ("500 headers", lambda t, p: get("/health", "".join(f"X-H{i}: v\r\n" for i in range(500))), "4xx"),
    ("one 100 KB header", lambda t, p: get("/health", "X-Big: " + "a" * 100_000 + "\r\n"), "4xx"),
    ("garbage request line", lambda t, p: b"GARBAGE\r\n\r\n", "4xx"),
    ("http/9.9", lambda t, p: b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", "4xx"),
    ("space in path", lambda t, p: b"GET /he alth HTTP/1.1\r\nHost: x\r\n\r\n", "4xx"),
    ("non-ascii path", lambda t, p: b"GET /h\xc3\xa9alth HTTP/1.1\r\nHost: x\r\n\r\n", "4xx"),
    ("nul in path", lambda t, p: b"GET /health%00 HTTP/1.1\r\nHost: x\r\n\r\n", "4xx"),
    ("raw control byte in request line", lambda t, p: b"GET /hea\x01lth HTTP/1.1\r\nHost: x\r\n\r\n", "4xx"),
    ("path traversal", lambda t, p: b"GET /api/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "4xx"),
    ("encoded traversal", lambda t, p: b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "4xx"),
    ("bad percent escape", lambda t, p: b"GET /health%zz HTTP/1.1\r\nHost: x\r\n\r\n", "4xx"),
    ("header without colon", lambda t, p: b"GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", "4xx"),
    ("conflicting content-lengths", lambda t, p: post(p, b"{}", extra="Content-Length: 5\r\n"), "4xx"),
    ("content-length and chunked", lambda t, p: post(p, b"{}", extra="Transfer-Encoding: chunked\r\n"), "4xx"),
    (
        "negative content-length",
        lambda t, p: get(p).replace(b"GET", b"POST")[:-2] + b"Content-Length: -1\r\n\r\n",
        "4xx",
    ),
    ("unknown method", lambda t, p: b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n", "4xx"),
    ("only blank lines", lambda t, p: b"\r\n\r\n\r\n\r\nX", "4xx-or-close"),
    ("nul bytes", lambda t, p: b"\x00" * 64 + b"\r\n\r\n", "4xx"),
    ("body shorter than content-length", lambda t, p: post(p, b"{}")[:-1], "4xx-or-close"),
]


@pytest.fixture(scope="module")
def stack(plan, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from launch_control.plane.demo.stack import DemoStack

    env = {
        "LAUNCH_CONTROL_DATA_DIR": str(tmp_path_factory.mktemp("malformed-data")),
        "LAUNCH_CONTROL_ADMIN_TOKEN": TOKEN,
        "LAUNCH_CONTROL_HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "LAUNCH_CONTROL_HTTP_BODY_TIMEOUT": str(BODY_TIMEOUT),
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        with DemoStack(plan, free_ports=True) as running:
            yield running
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


TARGETS = {"gateway": "/api/gpt-test", "stable": "/api/gpt-test", "model": "/v1/chat/completions"}


def healthy(port: int) -> bool:
    answer = exchange(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", timeout=5)
    return answer.status == 200


@pytest.mark.parametrize("target", list(TARGETS))
def test_hostile_requests_never_5xx_and_health_answers_after_each(stack, target: str) -> None:
    port = stack.ports[target]
    failures = []
    for name, build, allowed in CASES:
        answer = exchange(port, build(target, TARGETS[target]))
        ok = answer.status is not None and 400 <= answer.status < 500
        if allowed == "4xx-or-close" and answer.status is None:
            ok = True
        if answer.status is not None and ok:
            # Every refusal is JSON (the WAF's shape below the app, the app's own above it).
            try:
                body = answer.json()
            except ValueError:
                ok = False
            else:
                ok = isinstance(body, dict) and "error" in body
        if not ok:
            failures.append(f"{name}: {answer.status} {answer.body[:200]!r}")
        if not healthy(port):
            failures.append(f"{name}: /health did not answer 200 afterwards")
    assert not failures, f"{target}:\n" + "\n".join(failures)


@pytest.mark.parametrize("target", list(TARGETS))
def test_malformed_request_line_gets_the_json_refusal_shape(stack, target: str) -> None:
    answer = exchange(stack.ports[target], b"GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n")
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == "request_refused" and answer.json()["rule"] == "malformed_request"


@pytest.mark.parametrize("target", list(TARGETS))
def test_slow_headers_are_closed_within_the_header_timeout(stack, target: str) -> None:
    # One byte every 0.2 s: a slowloris that would otherwise hold the connection for ever.
    request = get("/health")
    answer = exchange(stack.ports[target], [request[i : i + 1] for i in range(len(request))], pause=0.2)
    assert answer.status == 408 and answer.json()["rule"] == "header_timeout"
    assert HEADER_TIMEOUT - 0.1 <= answer.seconds < HEADER_TIMEOUT + 1.0
    # and a connection that never sends a byte is closed too
    idle = exchange(stack.ports[target], b"")
    assert idle.seconds < HEADER_TIMEOUT + 1.0
    assert healthy(stack.ports[target])


@pytest.mark.parametrize("target", list(TARGETS))
def test_slow_body_is_closed_within_the_body_timeout(stack, target: str) -> None:
    head = post(TARGETS[target], b'{"prompt": "hello"}')
    answer = exchange(stack.ports[target], [head[:-5], head[-5:-4]], pause=0.1)
    assert answer.status in (None, 408)
    assert answer.seconds < BODY_TIMEOUT + 1.0


def test_admin_endpoints_refuse_deep_and_undecodable_bodies_with_a_valid_token(stack) -> None:
    auth = f"Authorization: Bearer {TOKEN}\r\n"
    targets = [("stable", "/admin/faults"), ("model", "/admin/faults"), ("gateway", "/admin/weights")]
    for role, path in targets:
        for body, ctype in ((DEEP, "text/plain"), (DEEP, None), (b'{"canary": "\\ud800"}', "application/json")):
            head = f"PUT {path} HTTP/1.1\r\nHost: x\r\n{auth}" + (f"Content-Type: {ctype}\r\n" if ctype else "")
            answer = exchange(stack.ports[role], (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
            assert answer.status is not None and 400 <= answer.status < 500, (role, path, answer)
        assert healthy(stack.ports[role])


def test_many_idle_connections_do_not_starve_health(stack) -> None:
    """300 silent connections (the issue's slowloris): /health still answers, and the silent ones
    are closed by the header timeout."""
    port = stack.ports["stable"]
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(300)]
    try:
        assert healthy(port)
        time.sleep(HEADER_TIMEOUT + 0.5)
        closed = 0
        for sock in idle:
            sock.settimeout(0.5)
            try:
                data = sock.recv(4096)
            except (TimeoutError, ConnectionResetError):
                continue
            closed += 1 if data == b"" or data.startswith(b"HTTP/1.1 408") else 0
        assert closed == len(idle)
    finally:
        for sock in idle:
            sock.close()
