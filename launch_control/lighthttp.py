"""HTTP for the emergency path through ``http.client``: health checks and the gateway's admin API.

Importing httpx costs ~0.3 s, more than the whole start-up budget of ``emergency-rollback``, for
a handful of loopback calls. These classes speak the same admin API as
``launch_control.traffic.gateway`` / ``launch_control.deploy.gateway`` (``PUT /admin/weights``,
``PUT /admin/upstreams``, Bearer token) with the same checks and error messages, and
``http_check`` answers like ``preflight.http_check``.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

from launch_control.errors import DeployerError, RouterError


class HttpError(OSError):
    """No answer (refused, timed out, reset, bad URL)."""


def request(
    method: str, url: str, *, headers: dict[str, str] | None = None, body: Any = None, timeout: float = 2.0
) -> tuple[int, bytes]:
    """One request → (status, body). Any failure to get an answer raises ``HttpError``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpError(f"not an http(s) URL: {url!r}")
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    conn = connection_class(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise HttpError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def http_check(
    url: str, *, expect_status: int = 200, expect_json: dict[str, Any] | None = None, timeout: float = 2.0
) -> tuple[bool, str]:
    """One GET probe → (ok, plain-language detail), worded as ``preflight.http_check``."""
    from launch_control.preflight import json_mismatch

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
        from launch_control.units import parse_duration

        timeout = parse_duration(timeout)
    return url, resolve_token(settings), float(timeout)
