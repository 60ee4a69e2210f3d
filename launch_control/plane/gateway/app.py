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
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from launch_control.plane.gateway import admin
from launch_control.plane.gateway.admin import AdminError, send_bytes, send_json  # noqa: F401 - re-exported
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
from launch_control.plane.gateway.metrics import LATENCY_BUCKETS, ROUTE_INDEX, MetricSlots  # noqa: F401
from launch_control.plane.gateway.shared import RoutingState
from launch_control.plane.gateway.split import BUCKETS, ORG_ID, ROLES, bucket, threshold
from launch_control.plane.gateway.upstream import (
    Pool,
    StaleConnection,
    UpstreamError,
    UpstreamTimeout,
    request_head,
    send_streamed,
)

log = logging.getLogger("launch_control.plane.gateway")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

ORG_CACHE = 100_000  # org id -> bucket entries kept (cleared when full: a bound, not an LRU)
_MALFORMED = -1
_CANARY, _STABLE = ROLES.index("canary"), ROLES.index("stable")


class Gateway:
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

    # --- routing state (shared with the other workers) ------------------------------------------

    def _sync(self) -> None:
        """Apply the shared state when it changed (one 8-byte read when it did not)."""
        if self.state.seq() == self._seq:
            return
        seq, weight, stable, canary = self.state.read()
        self._weight = weight
        self._threshold = threshold(weight)
        self._versions = {"stable": stable, "canary": canary}
        self._targets = (
            Target("stable", stable, self.known[stable], self.timeout),
            Target("canary", canary, self.known[canary], self.timeout),
        )
        self._seq = seq

    @property
    def canary_weight(self) -> float:
        self._sync()
        return self._weight

    @property
    def versions(self) -> dict[str, str]:
        self._sync()
        return dict(self._versions)

    def weights(self) -> dict[str, float]:
        weight = self.canary_weight
        return {"stable": round(100.0 - weight, 6), "canary": weight}

    def set_weight(self, canary_weight: float) -> None:
        previous = self.canary_weight
        self.state.write(canary_weight=float(canary_weight))
        self._sync()  # read back: the answer says what every worker now serves
        if previous != self._weight:
            log.info("canary weight %g%% -> %g%%", previous, self._weight)

    def point(self, body: dict[str, str]) -> None:
        before = self.versions
        self.state.write(versions=body)
        for role, version in self.versions.items():
            if before[role] != version:
                log.info("%s now served by %s (was %s)", role, version, before[role])

    def upstreams_view(self) -> dict[str, Any]:
        versions = self.versions
        view: dict[str, Any] = {role: {"version": versions[role], "url": self.known[versions[role]]} for role in ROLES}
        view["known"] = dict(self.known)
        return view

    @property
    def upstream_errors(self) -> dict[str, int]:
        return self.metrics.upstream_errors()

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

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=("User-Agent",), trust_env=False
            )
        return self._session

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

    # --- public health --------------------------------------------------------------------------

    async def check_upstream(self, role: str) -> dict[str, Any]:
        version = self.versions[role]
        url = self.known[version] + "/health"
        started = time.perf_counter()
        detail: dict[str, Any] = {"version": version, "url": self.known[version], "ok": False}
        try:
            async with self.session().get(url, timeout=aiohttp.ClientTimeout(total=HEALTH_TIMEOUT)) as response:
                await response.read()
                detail["status"] = response.status
                detail["ok"] = response.status == 200
        except TimeoutError:
            detail["error"] = f"no answer within {HEALTH_TIMEOUT:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            detail["error"] = f"{exc.__class__.__name__}: {exc}"
        detail["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return detail

    async def health(self) -> tuple[bool, dict[str, Any]]:
        stable, canary = await asyncio.gather(self.check_upstream("stable"), self.check_upstream("canary"))
        return stable["ok"], {"stable": stable, "canary": canary}

    async def _public_health(self, scope: Scope, send: Send) -> None:
        ok, detail = await self.health()
        body = {
            "status": "ok" if ok else "unavailable",
            "weights": self.weights(),
            "upstreams": {role: {"version": d["version"], "ok": d["ok"]} for role, d in detail.items()},
        }
        await send_json(send, 200 if ok else 503, body)


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
