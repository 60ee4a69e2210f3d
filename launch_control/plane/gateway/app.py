"""The built-in gateway: a reverse proxy that splits traffic between stable and canary.

``create_app(upstreams=..., stable=..., canary=..., admin_token=...)`` returns a plain ASGI
callable. The proxy path avoids frameworks on purpose (measured: Starlette routing costs ~20% CPU
here; see FIELD-NOTES.md and the profile in docs/traffic-plane.md): it picks a version with the
sticky split (an org's bucket cached, the canary threshold computed once per weight change),
builds the upstream request bytes straight from the ASGI header pairs, forwards them over a
keep-alive connection of its own upstream client (``upstream.py``), streams large or chunked
bodies through, and stamps ``X-Served-By`` (role) and ``X-Version`` (version name) on every
proxied answer. Metrics are plain counters in an array (``metrics.py``) rendered on scrape.

Also answered here: ``GET /health`` (live check of the stable upstream), ``GET /metrics``
(Prometheus text), and the token-protected admin API (``admin.py``). The weight and the role →
version mapping live in ``shared.RoutingState``: in this process with one worker, in shared
memory with ``--workers N`` (``supervisor.py``), where ``/metrics`` sums every worker's counters.

This module is the ASGI entry and the proxy hot path; the Gateway's reads and writes of the routing
state are the ``routing.RoutingView`` mixin and its upstream health checks the ``health.UpstreamHealth``
mixin, so the class and its names are unchanged for callers.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from launch_control.plane.gateway import admin
from launch_control.plane.gateway.admin import (  # noqa: F401 - AdminError re-exported
    AdminError,
    Receive,
    Scope,
    Send,
    send_bytes,
    send_json,
)
from launch_control.plane.gateway.forward import (  # noqa: F401 - route_of and the header sets re-exported
    BUFFER_LIMIT,
    DROP_REQUEST,
    DROP_RESPONSE,
    HEALTH_TIMEOUT,
    IDEMPOTENT,
    UPSTREAM_KEEPALIVE,
    Target,
    cookie_role,
    route_of,
)
from launch_control.plane.gateway.health import UpstreamHealth
from launch_control.plane.gateway.metrics import LATENCY_BUCKETS, ROUTE_INDEX, MetricSlots  # noqa: F401
from launch_control.plane.gateway.routing import RoutingView
from launch_control.plane.gateway.shared import RoutingState
from launch_control.plane.gateway.split import BUCKETS, ORG_ID, ROLES, bucket
from launch_control.plane.gateway.upstream import (
    Pool,
    StaleConnection,
    UpstreamError,
    UpstreamTimeout,
    request_head,
    send_streamed,
)

ORG_CACHE = 100_000  # org id -> bucket entries kept (cleared when full: a bound, not an LRU)
_MALFORMED = -1
_CANARY, _STABLE = ROLES.index("canary"), ROLES.index("stable")


class Gateway(RoutingView, UpstreamHealth):
    """The ASGI app. ``canary_weight`` and ``versions`` read the routing state; the admin API writes it."""

    def __init__(
        self,
        *,
        upstreams: Mapping[str, str],
        stable: str,
        canary: str,
        admin_token: str,
        canary_weight: float = 0.0,
        timeout: float = 10.0,
        state: RoutingState | None = None,
        metrics: MetricSlots | None = None,
        workers: int = 1,
        worker: int = 0,
    ):
        if not admin_token:
            raise ValueError("admin_token is required: the gateway's admin API must not be open")
        if not upstreams:
            raise ValueError("upstreams is empty: give at least the stable and canary versions' URLs")
        for role, name in (("stable", stable), ("canary", canary)):
            if name not in upstreams:
                raise ValueError(f"{role} version {name!r} is not among the upstreams ({', '.join(upstreams)})")
        if not 0.0 <= canary_weight <= 100.0:
            raise ValueError(f"canary_weight must be 0-100 (percent), got {canary_weight}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout}")
        self.known: dict[str, str] = {name: url.rstrip("/") for name, url in upstreams.items()}
        for name, url in self.known.items():
            Target("stable", name, url, timeout)  # every URL checked up front, not at the first request
        self.timeout = float(timeout)
        self.workers, self.worker = workers, worker
        self._token = admin_token.encode()
        self._session: aiohttp.ClientSession | None = None  # health checks only (low rate)
        self._pools: dict[tuple[str, int, bool], Pool] = {}
        self._buckets: dict[bytes, int] = {}
        self.metrics = metrics or MetricSlots.private()
        if state is None:
            state = RoutingState(self.known)
            state.initialise(canary_weight, stable, canary)
        self.state = state
        self._seq = -1
        self._sync()

    # --- ASGI entry ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith("/admin/"):
                await admin.handle(self, self._token, scope, receive, send)
            elif path == "/health":
                await self._public_health(scope, send)
            elif path == "/metrics":
                body = self.metrics.render(self.canary_weight)
                await send_bytes(send, 200, body, b"text/plain; version=0.0.4; charset=utf-8")
            else:
                await self._proxy(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _pool(self, target: Target) -> Pool:
        pool = self._pools.get(target.address)
        if pool is None:
            host, port, tls = target.address
            pool = self._pools[target.address] = Pool(
                host,
                port,
                connect_timeout=self.timeout,
                read_timeout=self.timeout,
                keepalive=UPSTREAM_KEEPALIVE,
                ssl=ssl.create_default_context() if tls else None,
            )
        return pool

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the proxy hot path -------------------------------------------------------------------

    def _role_of(self, org: bytes | None, override: bytes | None, cookie: bytes | None) -> int | str:
        """The role index for a request, or the JSON error's detail when its headers are bad."""
        if override is not None:
            chosen = override.decode("latin-1").strip().lower()
            if chosen not in ROLES:
                return "X-Launch-Version must be 'canary' or 'stable'"
            if org is not None and self._bucket(org) == _MALFORMED:
                return "X-Org-Id must be 1-64 characters from A-Z a-z 0-9 _ . : -"
            return ROLES.index(chosen)
        if org is None:
            role = _CANARY if random.random() * 100 < self._weight else _STABLE
        else:
            b = self._bucket(org)
            if b == _MALFORMED:
                return "X-Org-Id must be 1-64 characters from A-Z a-z 0-9 _ . : -"
            role = _CANARY if b < self._threshold else _STABLE
        if cookie is not None and b"launch_version=" in cookie and (chosen_cookie := cookie_role(cookie)):
            return ROLES.index(chosen_cookie)
        return role

    def _bucket(self, org: bytes) -> int:
        cached = self._buckets.get(org)
        if cached is not None:
            return cached
        text = org.decode("latin-1")
        value = bucket(text) if ORG_ID.match(text) else _MALFORMED
        if len(self._buckets) >= ORG_CACHE:
            self._buckets.clear()
        self._buckets[org] = value
        return value

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        if self.state.seq() != self._seq:
            self._sync()
        org = override = cookie = None
        forwarded_for = b""
        lines: list[bytes] = []
        for name, value in scope["headers"]:
            if name in DROP_REQUEST:
                if name == b"x-forwarded-for":
                    forwarded_for = value
                continue
            if name == b"x-org-id":
                org = value
            elif name == b"x-launch-version":
                override = value
            elif name == b"cookie":
                cookie = value
            lines += (name, b": ", value, b"\r\n")
        role_index = self._role_of(org, override, cookie)
        if isinstance(role_index, str):
            error = "malformed org id" if role_index.startswith("X-Org-Id") else "bad override"
            await send_json(send, 400, {"error": error, "detail": role_index})
            return
        target = self._targets[role_index]
        client = scope.get("client")
        if client:
            ip = client[0].encode()
            forwarded_for = forwarded_for + b", " + ip if forwarded_for else ip
        if forwarded_for:
            lines += (b"x-forwarded-for: ", forwarded_for, b"\r\n")
        path: str = scope["path"]
        route = ROUTE_INDEX[route_of(path)]
        raw = scope.get("raw_path") or path.encode()
        query = scope.get("query_string")
        uri = target.base_path + raw + (b"?" + query if query else b"")
        method: str = scope["method"]

        message = await receive()
        body: bytes = message.get("body", b"")
        streamed = bool(message.get("more_body"))
        status = 502
        conn = None
        pool = self._pool(target)
        try:
            attempts = 2 if method in IDEMPOTENT and not streamed else 1
            for attempt in range(attempts):
                conn, reused = await pool.acquire()
                conn.head_only = method == "HEAD"
                head = request_head(method, uri, target.host_header, b"".join(lines), None if streamed else len(body))
                if streamed:
                    conn.send(head)
                    await send_streamed(conn, body, _stream_request(receive))
                else:
                    conn.send(head + body if body else head)
                try:
                    await conn.head()
                    break
                except StaleConnection:
                    # A keep-alive connection the upstream closed while idle: safe to retry once.
                    conn.close()
                    if not reused or attempt + 1 == attempts:
                        raise
            assert conn is not None  # attempts >= 1: the loop ran and either answered or raised
            status = conn.status
            headers = [(k, v) for k, v in conn.headers if k.lower() not in DROP_RESPONSE]
            headers += target.stamp
            length = conn.content_length
            if conn.complete or (length is not None and length <= BUFFER_LIMIT):
                payload = await conn.read()
                self.metrics.record(role_index, route, status, time.perf_counter() - started)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": payload})
            else:
                await send({"type": "http.response.start", "status": status, "headers": headers})
                async for chunk in conn.iter_chunks():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self.metrics.record(role_index, route, status, time.perf_counter() - started)
                await send({"type": "http.response.body", "body": b""})
            pool.release(conn)
            conn = None
        except UpstreamTimeout as exc:
            await self._failed(send, role_index, route, 504, started, conn, "upstream timeout", exc)
        except (UpstreamError, OSError) as exc:
            await self._failed(send, role_index, route, 502, started, conn, "upstream unavailable", exc)
        finally:
            if conn is not None:
                conn.close()

    async def _failed(
        self,
        send: Send,
        role_index: int,
        route: int,
        status: int,
        started: float,
        conn: Any,
        error: str,
        exc: Exception,
    ) -> None:
        """Count an upstream failure for its version and answer JSON (unless the answer had begun)."""
        target = self._targets[role_index]
        self.metrics.upstream_failed(role_index)
        if conn is not None and conn.head_done and not conn.complete:
            # The status line was sent already: the client sees a cut answer; count what it saw.
            self.metrics.record(role_index, route, conn.status, time.perf_counter() - started)
            return
        self.metrics.record(role_index, route, status, time.perf_counter() - started)
        if status == 504:
            detail = f"{target.role} ({target.version}) did not answer within {self.timeout:g} s"
        else:
            detail = f"{target.role} ({target.version}) at {target.url}: {exc.__class__.__name__}: {exc}"
        await send_json(send, status, {"error": error, "detail": detail, "version": target.role}, target.stamp)

def create_app(
    *,
    upstreams: dict[str, str],
    stable: str,
    canary: str,
    admin_token: str,
    canary_weight: float = 0.0,
    timeout: float = 10.0,
    plan: Any = None,
    store: Any = None,
    state: RoutingState | None = None,
    metrics: MetricSlots | None = None,
    workers: int = 1,
    worker: int = 0,
) -> Gateway:
    """The gateway ASGI app (see the module docstring).

    With ``plan``: wrapped in the plan's WAF and per-org rate limits (launch_control.protect.layers;
    Redis decisions pipelined across concurrent requests, keys over their limit refused locally).
    The wrapper passes attribute access through, so the Gateway's methods and state stay reachable.
    ``state``/``metrics``/``workers``: the shared routing state and this worker's metric slot
    when several workers serve (see ``supervisor.py``); by default this process's own.
    """
    gateway = Gateway(
        upstreams=upstreams,
        stable=stable,
        canary=canary,
        admin_token=admin_token,
        canary_weight=canary_weight,
        timeout=timeout,
        state=state,
        metrics=metrics,
        workers=workers,
        worker=worker,
    )
    if plan is not None:
        from launch_control.plane.gateway.protection import protected

        return protected(gateway, plan, store=store, workers=workers)
    return gateway


# --- helpers --------------------------------------------------------------------------------------


async def _stream_request(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        if chunk := message.get("body", b""):
            yield chunk
        if not message.get("more_body"):
            return


__all__ = ["BUCKETS", "Gateway", "LATENCY_BUCKETS", "create_app", "route_of"]
