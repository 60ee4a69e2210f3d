"""The gateway's token-protected admin API and the small JSON helpers it and the proxy share.

``/admin/weights`` (GET, PUT), ``/admin/upstreams`` (GET, PUT), ``/admin/health`` (GET). A PUT
writes the shared routing state (``shared.RoutingState``) every worker reads, then answers with
the state read back from it — what every worker serves from its next request on.
"""

from __future__ import annotations

import hmac
import json
import math
import os
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from launch_control.errors import UsageError
from launch_control.plane.gateway.split import BUCKETS, ROLES, threshold

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ADMIN_BODY_LIMIT = 64 * 1024


class Routing(Protocol):
    """What the admin API reads and writes on the gateway (launch_control.plane.gateway.app.Gateway);
    a Protocol so that this module does not import the app that imports it."""

    known: dict[str, str]
    workers: int
    worker: int

    @property
    def canary_weight(self) -> float: ...
    @property
    def upstream_errors(self) -> dict[str, int]: ...
    def weights(self) -> dict[str, float]: ...
    def set_weight(self, canary_weight: float) -> None: ...
    def point(self, body: dict[str, str]) -> None: ...
    def upstreams_view(self) -> dict[str, Any]: ...
    async def health(self) -> tuple[bool, dict[str, Any]]: ...


class AdminError(UsageError):
    """A bad admin request: ``status`` is its 4xx, ``error`` a short label, ``detail`` what to send instead."""

    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


async def handle(gateway: Routing, token: bytes, scope: Scope, receive: Receive, send: Send) -> None:
    if not authorized(scope, token):
        await send_json(
            send,
            401,
            {"error": "unauthorized", "detail": "send Authorization: Bearer <admin token>"},
            [(b"www-authenticate", b"Bearer")],
        )
        return
    path, method = scope["path"], scope["method"]
    try:
        if path == "/admin/weights":
            if method == "PUT":
                gateway.set_weight(parse_weights(await read_json(receive)))
            elif method != "GET":
                raise AdminError(405, "method not allowed", "use GET or PUT")
            await send_json(send, 200, gateway.weights())
        elif path == "/admin/upstreams":
            if method == "PUT":
                gateway.point(check_upstreams(await read_json(receive), gateway.known))
            elif method != "GET":
                raise AdminError(405, "method not allowed", "use GET or PUT")
            await send_json(send, 200, gateway.upstreams_view())
        elif path == "/admin/health":
            ok, detail = await gateway.health()
            await send_json(
                send,
                200,
                {
                    "status": "ok" if ok else "unavailable",
                    "weights": gateway.weights(),
                    "buckets": {"total": BUCKETS, "canary_below": threshold(gateway.canary_weight)},
                    "upstreams": detail,
                    "upstream_errors": gateway.upstream_errors,
                    "workers": gateway.workers,
                    "worker": {"index": gateway.worker, "pid": os.getpid()},
                },
            )
        else:
            raise AdminError(404, "not found", "admin endpoints: /admin/weights, /admin/upstreams, /admin/health")
    except AdminError as exc:
        await send_json(send, exc.status, {"error": exc.error, "detail": exc.detail})


def authorized(scope: Scope, token: bytes) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, given = value.partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)
    return False


def check_upstreams(body: Any, known: dict[str, str]) -> dict[str, str]:
    if not isinstance(body, dict) or not body:
        raise AdminError(422, "invalid upstreams", 'send {"stable": "<version>"} and/or {"canary": "<version>"}')
    unknown_roles = sorted(set(body) - set(ROLES))
    if unknown_roles:
        raise AdminError(422, "invalid upstreams", f"unknown role(s) {', '.join(unknown_roles)}; roles: stable, canary")
    for role, version in body.items():
        if not isinstance(version, str) or version not in known:
            raise AdminError(422, "unknown version", f"{role}: {version!r} is not a known version ({', '.join(known)})")
    return body


async def read_json(receive: Receive) -> Any:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > ADMIN_BODY_LIMIT:
            raise AdminError(413, "body too large", f"admin bodies are at most {ADMIN_BODY_LIMIT} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    from launch_control.protect.waf import loads_public  # deep JSON / lone surrogates are a 400, not a 500

    try:
        return loads_public(b"".join(chunks) or b"null")
    except ValueError as exc:
        raise AdminError(400, "invalid JSON", f"the body is not JSON: {exc}") from None


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AdminError(422, "invalid weights", f"{name} must be a number of percent (0-100), got {value!r}")
    if not 0.0 <= value <= 100.0:
        raise AdminError(422, "invalid weights", f"{name} must be between 0 and 100 (percent), got {value:g}")
    return float(value)


def parse_weights(body: Any) -> float:
    """The canary weight from ``{"canary": 5}``, ``{"stable": 95}`` or both (which must sum to 100)."""
    if not isinstance(body, dict) or not body:
        raise AdminError(422, "invalid weights", 'send {"canary": 5} or {"stable": 95, "canary": 5} (percent)')
    unknown = sorted(set(body) - set(ROLES))
    if unknown:
        raise AdminError(422, "invalid weights", f"unknown key(s) {', '.join(unknown)}; use stable and/or canary")
    canary = _number("canary", body["canary"]) if "canary" in body else None
    stable = _number("stable", body["stable"]) if "stable" in body else None
    if canary is not None and stable is not None and abs(canary + stable - 100.0) > 1e-6:
        raise AdminError(
            422, "invalid weights", f"stable {stable:g} + canary {canary:g} = {stable + canary:g}; they must sum to 100"
        )
    if canary is not None:
        return canary
    assert stable is not None  # the body is non-empty and only names roles: one of the two is there
    return 100.0 - stable


async def send_bytes(send: Send, status: int, body: bytes, content_type: bytes, extra: Any = ()) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, data: Any, extra: Any = ()) -> None:
    await send_bytes(send, status, json.dumps(data).encode(), b"application/json", extra)
