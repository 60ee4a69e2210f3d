"""HTTP for the emergency path on the standard library: health checks and the gateway's admin API.

Importing httpx costs ~0.3 s, more than the whole start-up budget of ``emergency-rollback``, for
a handful of loopback calls. These classes speak the same admin API as
``launch_control.plane.traffic.gateway`` / ``launch_control.plane.deploy.gateway`` (``PUT /admin/weights``,
``PUT /admin/upstreams``, Bearer token) with the same checks and error messages, and
``http_check`` answers like ``preflight.http_check``.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from launch_control.errors import DeployerError, LaunchControlError, RouterError


class HttpError(LaunchControlError, OSError):
    """No answer (refused, timed out, reset, bad URL); still an OSError for callers that catch those."""


MAX_ANSWER = 1_000_000  # bytes: a health or admin answer is tiny; more is not read


def request(
    method: str, url: str, *, headers: dict[str, str] | None = None, body: Any = None, timeout: float = 2.0
) -> tuple[int, bytes]:
    """One request → (status, body). Any failure to get an answer raises ``HttpError``.

    Plain ``http://`` is spoken over a socket here (HTTP/1.1, ``Connection: close``): the
    standard library's http.client imports the email package and ssl, ~40 ms that the emergency
    path does not need for loopback calls. ``https://`` goes through http.client.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"not an http(s) URL: {url!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = {"Accept": "application/json", **(headers or {})}
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    if parts.scheme == "https":
        return _https(method, parts, path, sent, data or None, timeout)
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise HttpError(f"bad port in {url!r}") from exc
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close", f"Content-Length: {len(data)}"]
    lines += [f"{name}: {value}" for name, value in sent.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout) as sock:
            sock.sendall(head + data)
            return _read_answer(sock, deadline)
    except OSError as exc:  # refused, reset, timed out (socket.timeout is an OSError)
        raise HttpError(f"{type(exc).__name__}: {exc}") from exc


def _read_answer(sock: socket.socket, deadline: float) -> tuple[int, bytes]:
    raw = b""
    length: int | None = None
    header_end = -1
    while True:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        raw += chunk
        if header_end < 0 and (header_end := raw.find(b"\r\n\r\n")) >= 0:
            length = _content_length(raw[:header_end])
        if header_end >= 0 and length is not None and len(raw) - header_end - 4 >= length:
            break
        if len(raw) > MAX_ANSWER:
            raise HttpError(f"answer larger than {MAX_ANSWER} bytes")
    if header_end < 0:
        raise HttpError("connection closed before a complete answer")
    status_line, *header_lines = raw[:header_end].decode("latin-1").split("\r\n")
    try:
        status = int(status_line.split(" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise HttpError(f"not an HTTP answer: {status_line[:80]!r}") from exc
    payload = raw[header_end + 4 :]
    if any(h.lower().replace(" ", "") == "transfer-encoding:chunked" for h in header_lines):
        payload = _dechunk(payload)
    elif length is not None:
        payload = payload[:length]
    return status, payload


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


def _dechunk(payload: bytes) -> bytes:
    out, rest = b"", payload
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
        except ValueError as exc:
            raise HttpError("bad chunked answer") from exc
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out


def _https(
    method: str, parts: Any, path: str, headers: dict[str, str], data: bytes | None, timeout: float
) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(MAX_ANSWER)
    except (OSError, http.client.HTTPException) as exc:
        raise HttpError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def http_check(
    url: str, *, expect_status: int = 200, expect_json: dict[str, Any] | None = None, timeout: float = 2.0
) -> tuple[bool, str]:
    """One GET probe → (ok, plain-language detail), worded as ``preflight.http_check``."""
    started = time.monotonic()
    try:
        status, body = request("GET", url, timeout=timeout)
    except HttpError as exc:
        return False, f"GET {url}: no answer ({exc})"
    ms = (time.monotonic() - started) * 1000
    if status != expect_status:
        return False, f"GET {url}: {status}, expected {expect_status} ({ms:.0f} ms)"
    if expect_json:
        try:
            data = json.loads(body)
        except ValueError:
            return False, f"GET {url}: answer is not JSON"
        from launch_control.ramp.preflight import json_mismatch  # only when a check compares JSON

        problem = json_mismatch(data, expect_json)
        if problem:
            return False, f"GET {url}: {problem}"
    return True, f"GET {url}: {status} ({ms:.0f} ms)"


class _Admin:
    def __init__(self, url: str, token: str, timeout: float):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: Any, error: type[Exception]) -> dict[str, Any]:
        try:
            status, raw = request(method, self.url + path, headers=self.headers, body=body, timeout=self.timeout)
        except HttpError as exc:
            raise error(
                f"gateway admin API at {self.url} unreachable ({exc}); start it (launch-control up) or fix the "
                "router's url in the plan"
            ) from exc
        if status == 401:
            raise error(
                f"gateway at {self.url} refused the admin token (HTTP 401); give the router the gateway's token "
                "(settings.token, or the variable named by token_env, default LAUNCH_CONTROL_ADMIN_TOKEN)"
            )
        if status >= 400:
            raise error(f"gateway admin API {method} {path} failed with HTTP {status}: {raw[:300]!r}")
        try:
            answer = json.loads(raw)
        except ValueError as exc:
            raise error(f"gateway admin API {method} {path} answered non-JSON: {raw[:200]!r}") from exc
        if not isinstance(answer, dict):
            raise error(f"gateway admin API {method} {path} answered {answer!r}, expected an object")
        return answer


class GatewayRouter:
    """``traffic.gateway.GatewayRouter`` without httpx (set_weight / get_weight / healthy)."""

    name = "gateway"

    def __init__(self, url: str, token: str, *, timeout: float = 2.0):
        self._admin = _Admin(url, token, timeout)
        self.url = self._admin.url

    def set_weight(self, canary_percent: float) -> None:
        wanted = float(canary_percent)
        if not 0 <= wanted <= 100:
            raise RouterError(f"canary weight must lie between 0 and 100 (got {canary_percent})")
        got = _canary(self._admin.call("PUT", "/admin/weights", {"canary": wanted}, RouterError), "PUT /admin/weights")
        if abs(got - wanted) > 1e-6:
            raise RouterError(f"gateway at {self.url} reports canary {got}% after being set to {wanted}%")

    def get_weight(self) -> float:
        return _canary(self._admin.call("GET", "/admin/weights", None, RouterError), "GET /admin/weights")

    def healthy(self) -> bool:
        try:
            self._admin.call("GET", "/admin/health", None, RouterError)
        except RouterError:
            return False
        return True

    def close(self) -> None:
        pass


class GatewayDeployer:
    """``deploy.gateway.GatewayDeployer`` without httpx."""

    name = "gateway"

    def __init__(self, url: str, token: str, timeout: float = 2.0):
        self._admin = _Admin(url, token, timeout)
        self.url = self._admin.url

    def deploy(self, role: str, version: str) -> str:
        if role not in ("stable", "canary"):
            raise DeployerError(f"unknown role {role!r}; a deployer points 'stable' or 'canary' at a version")
        answer = self._admin.call("PUT", "/admin/upstreams", {role: version}, DeployerError)
        serving = answer.get(role)
        serving = serving.get("version") if isinstance(serving, dict) else serving
        if serving is not None and str(serving) != version:
            raise DeployerError(f"gateway deployer: asked {role} → {version}, gateway reports {serving}")
        return f"gateway {self.url}: {role} → {version}"

    def close(self) -> None:
        pass


def _canary(body: dict[str, Any], what: str) -> float:
    try:
        return float(body["canary"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RouterError(f"gateway admin API {what} answered {body!r} without a numeric 'canary' weight") from exc


def gateway_settings(settings: dict[str, Any]) -> tuple[str, str, float]:
    """(url, token, timeout) from a gateway adapter's plan settings (token resolved as the adapter does)."""
    from launch_control.config import PORTS, resolve_token

    url = str(settings.get("url") or f"http://127.0.0.1:{PORTS['gateway']}")
    timeout = settings.get("timeout", 2.0)
    if isinstance(timeout, str):
        from launch_control.plan.units import parse_duration

        timeout = parse_duration(timeout)
    return url, resolve_token(settings), float(timeout)
