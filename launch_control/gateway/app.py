"""The built-in gateway: a reverse proxy that splits traffic between stable and canary.

``create_app(upstreams=..., stable=..., canary=..., admin_token=...)`` returns a plain ASGI
callable. The proxy path avoids frameworks on purpose (measured: Starlette routing costs ~20% CPU
here, httpx ~10× aiohttp — see FIELD-NOTES.md): it picks a version with the sticky split in
``split``, forwards over one keep-alive aiohttp session, streams large or chunked bodies through,
and stamps ``X-Served-By`` (role) and ``X-Version`` (version name) on every proxied answer.

Also answered here: ``GET /health`` (live check of the stable upstream), ``GET /metrics``
(Prometheus text, own registry), and the token-protected admin API ``/admin/weights``,
``/admin/upstreams``, ``/admin/health``. State lives in this process: run one worker.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from yarl import URL

from launch_control.gateway.split import BUCKETS, ORG_ID, ROLES, choose, threshold

log = logging.getLogger("launch_control.gateway")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Request headers not forwarded (hop-by-hop, or recomputed by the client: host, content-length).
DROP_REQUEST = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
# Response headers not passed back (hop-by-hop; uvicorn writes its own date and server; ours stamp the version).
DROP_RESPONSE = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"upgrade",
        b"te",
        b"trailers",
        b"date",
        b"server",
        b"x-served-by",
        b"x-version",
    }
)
ROUTES = {"/api/gpt-test": "/api/gpt-test", "/api/analytics": "/api/analytics", "/api/status": "/api/status"}
PREFIX_ROUTES = (("/api/run/", "/api/run/*"),)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
BUFFER_LIMIT = 1 << 20  # bodies up to 1 MiB with a length are read whole; the rest stream
ADMIN_BODY_LIMIT = 64 * 1024
HEALTH_TIMEOUT = 1.0
# Idle upstream connections are dropped after this many seconds: below uvicorn's default 5 s
# keep-alive, so the gateway never reuses a connection the upstream is closing (a POST on such a
# connection fails with "server disconnected" and cannot be retried safely).
UPSTREAM_KEEPALIVE = 4.0
# Latency histogram bounds: the E24 preferred numbers (1.0, 1.1, 1.2, 1.3, 1.5, 1.6, 1.8, 2.0,
# 2.2, 2.4, 2.7, 3.0, 3.3, 3.6, 3.9, 4.3, 4.7, 5.1, 5.6, 6.2, 6.8, 7.5, 8.2, 9.1 per decade, ~10 %
# apart — Prometheus' native histograms default to 9 %) from 1 ms to 10 s, where API latencies
# live, then 15, 20, 30 s. Why this fine: the sequential latency test compares canary's share
# slower than a bound b with stable's share slower than a bound r <= b / (1 + tolerance), exact
# counts both, so the tolerance it really checks is b / r - 1 for the tightest pair of bounds
# available: 10-13 % for a 10 % tolerance with these, 21 % with E12's 21 % steps, 2.5x with the
# old 1-2.5-5 bounds. Finer buckets also gave it power (+20 % p95 at 5 % traffic: 12 min with the
# old bounds, 4 min now; bench/gate_detection.py) and make histogram_quantile more exact. The
# price: 100 series per version instead of 15, ~0.5 µs more per observation.
_E24 = (1.0, 1.1, 1.2, 1.3, 1.5, 1.6, 1.8, 2.0, 2.2, 2.4, 2.7, 3.0, 3.3, 3.6, 3.9, 4.3, 4.7, 5.1, 5.6, 6.2, 6.8,
        7.5, 8.2, 9.1)
LATENCY_BUCKETS = (
    *(round(m * 10.0**e, 4) for e in (-3, -2, -1, 0) for m in _E24),
    10.0,
    15.0,
    20.0,
    30.0,
)


def route_of(path: str) -> str:
    """The route template a path is counted under (bounded label values)."""
    route = ROUTES.get(path)
    if route is not None:
        return route
    for prefix, template in PREFIX_ROUTES:
        if path.startswith(prefix):
            return template
    return "other"


class AdminError(Exception):
    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


class Gateway:
    """The ASGI app. Attributes are its live state; the admin API changes them."""

    def __init__(
        self,
        *,
        upstreams: Mapping[str, str],
        stable: str,
        canary: str,
        admin_token: str,
        canary_weight: float = 0.0,
        timeout: float = 10.0,
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
        self.versions: dict[str, str] = {"stable": stable, "canary": canary}
        self.canary_weight = float(canary_weight)
        self.timeout = float(timeout)
        self._token = admin_token.encode()
        self._session: aiohttp.ClientSession | None = None
        self._client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)

        self.registry = CollectorRegistry()
        self._requests = Counter(
            "launch_gateway_requests_total",
            "Proxied requests by version role, route template and status",
            ["version", "route", "status"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "launch_gateway_request_duration_seconds",
            "Time to answer a proxied request, by version role",
            ["version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._upstream_errors = Counter(
            "launch_gateway_upstream_errors_total",
            "Upstream failures (refused, reset, timeout) by version role",
            ["version"],
            registry=self.registry,
        )
        self._weight_gauge = Gauge(
            "launch_gateway_canary_weight", "The canary's share of traffic in percent", registry=self.registry
        )
        self._weight_gauge.set(self.canary_weight)
        # Labelled children cached: .labels() costs more than the increment it precedes.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms = {role: self._duration.labels(version=role) for role in ROLES}
        self._errors = {role: self._upstream_errors.labels(version=role) for role in ROLES}
        self.upstream_errors = dict.fromkeys(ROLES, 0)

    # --- ASGI entry ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith("/admin/"):
                await self._admin(scope, receive, send)
            elif path == "/health":
                await self._public_health(scope, send)
            elif path == "/metrics":
                await _send_bytes(send, 200, generate_latest(self.registry), CONTENT_TYPE_LATEST.encode())
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
                self.session()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1024, keepalive_timeout=UPSTREAM_KEEPALIVE),
                cookie_jar=aiohttp.DummyCookieJar(),  # a proxy must never replay one client's cookies to another
                auto_decompress=False,  # bodies pass through as the upstream encoded them
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the proxy hot path -------------------------------------------------------------------

    def _count(self, role: str, route: str, status: int, started: float) -> None:
        key = (role, route, status)
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = self._requests.labels(version=role, route=route, status=str(status))
        child.inc()
        self._histograms[role].observe(time.perf_counter() - started)

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        org: str | None = None
        override: str | None = None
        cookie: bytes | None = None
        forward: list[tuple[str, str]] = []
        forwarded_for = b""
        for name, value in scope["headers"]:
            if name == b"x-org-id":
                org = value.decode("latin-1")
            elif name == b"x-launch-version":
                override = value.decode("latin-1").strip().lower()
            elif name == b"cookie":
                cookie = value
            elif name == b"x-forwarded-for":
                forwarded_for = value
                continue
            if name not in DROP_REQUEST:
                forward.append((name.decode("latin-1"), value.decode("latin-1")))

        if org is not None and not ORG_ID.match(org):
            await _send_json(
                send,
                400,
                {
                    "error": "malformed org id",
                    "detail": "X-Org-Id must be 1-64 characters from A-Z a-z 0-9 _ . : -",
                },
            )
            return
        if override is not None:
            if override not in ROLES:
                await _send_json(
                    send, 400, {"error": "bad override", "detail": "X-Launch-Version must be 'canary' or 'stable'"}
                )
                return
            role = override
        elif cookie is not None and b"launch_version=" in cookie and (chosen := _cookie_role(cookie)):
            role = chosen
        else:
            role = choose(org, self.canary_weight)

        version = self.versions[role]
        client = scope.get("client")
        if client:
            ip = client[0].encode()
            forwarded_for = forwarded_for + b", " + ip if forwarded_for else ip
        if forwarded_for:
            forward.append(("X-Forwarded-For", forwarded_for.decode("latin-1")))
        stamp = [(b"x-served-by", role.encode()), (b"x-version", version.encode())]
        route = route_of(scope["path"])
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        target = self.known[version] + path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        method: str = scope["method"]

        message = await receive()
        data: bytes | AsyncIterator[bytes] = message.get("body", b"")
        if message.get("more_body"):
            data = _stream_request(data, receive)  # type: ignore[arg-type]

        status = 502
        response_started = False
        try:
            attempts = 2 if method in IDEMPOTENT and isinstance(data, bytes) else 1
            for attempt in range(attempts):
                try:
                    response = await self.session().request(
                        method,
                        URL(target, encoded=True),
                        headers=forward,
                        data=data,
                        allow_redirects=False,
                        timeout=self._client_timeout,
                    )
                    break
                except aiohttp.ServerDisconnectedError:
                    # A keep-alive connection the upstream closed while idle: safe to retry once.
                    if attempt + 1 == attempts:
                        raise
            try:
                status = response.status
                headers = [(k, v) for k, v in response.raw_headers if k.lower() not in DROP_RESPONSE]
                headers.extend(stamp)
                length = response.content_length
                if length is not None and length <= BUFFER_LIMIT:
                    body = await response.read()
                    response_started = True
                    await send({"type": "http.response.start", "status": status, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                else:
                    response_started = True
                    await send({"type": "http.response.start", "status": status, "headers": headers})
                    async for chunk in response.content.iter_any():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b""})
            finally:
                response.release()
        except TimeoutError:
            self._upstream_failed(role)
            status = 504
            if not response_started:
                await _send_json(
                    send,
                    504,
                    {
                        "error": "upstream timeout",
                        "detail": f"{role} ({version}) did not answer within {self.timeout:g} s",
                        "version": role,
                    },
                    stamp,
                )
        except (aiohttp.ClientError, OSError) as exc:
            self._upstream_failed(role)
            status = 502
            if not response_started:
                await _send_json(
                    send,
                    502,
                    {
                        "error": "upstream unavailable",
                        "detail": f"{role} ({version}) at {self.known[version]}: {exc.__class__.__name__}: {exc}",
                        "version": role,
                    },
                    stamp,
                )
        self._count(role, route, status, started)

    def _upstream_failed(self, role: str) -> None:
        self._errors[role].inc()
        self.upstream_errors[role] += 1

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
        await _send_json(send, 200 if ok else 503, body)

    # --- admin API ------------------------------------------------------------------------------

    def weights(self) -> dict[str, float]:
        return {"stable": round(100.0 - self.canary_weight, 6), "canary": self.canary_weight}

    def set_weight(self, canary_weight: float) -> None:
        previous, self.canary_weight = self.canary_weight, float(canary_weight)
        self._weight_gauge.set(self.canary_weight)
        if previous != self.canary_weight:
            log.info("canary weight %g%% -> %g%%", previous, self.canary_weight)

    def upstreams_view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            role: {"version": self.versions[role], "url": self.known[self.versions[role]]} for role in ROLES
        }
        view["known"] = dict(self.known)
        return view

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._authorized(scope):
            await _send_json(
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
                    self.set_weight(_parse_weights(await _read_json(receive)))
                elif method != "GET":
                    raise AdminError(405, "method not allowed", "use GET or PUT")
                await _send_json(send, 200, self.weights())
            elif path == "/admin/upstreams":
                if method == "PUT":
                    self._point(await _read_json(receive))
                elif method != "GET":
                    raise AdminError(405, "method not allowed", "use GET or PUT")
                await _send_json(send, 200, self.upstreams_view())
            elif path == "/admin/health":
                ok, detail = await self.health()
                await _send_json(
                    send,
                    200,
                    {
                        "status": "ok" if ok else "unavailable",
                        "weights": self.weights(),
                        "buckets": {"total": BUCKETS, "canary_below": threshold(self.canary_weight)},
                        "upstreams": detail,
                        "upstream_errors": dict(self.upstream_errors),
                    },
                )
            else:
                raise AdminError(404, "not found", "admin endpoints: /admin/weights, /admin/upstreams, /admin/health")
        except AdminError as exc:
            await _send_json(send, exc.status, {"error": exc.error, "detail": exc.detail})

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token)
        return False

    def _point(self, body: Any) -> None:
        if not isinstance(body, dict) or not body:
            raise AdminError(422, "invalid upstreams", 'send {"stable": "<version>"} and/or {"canary": "<version>"}')
        unknown_roles = sorted(set(body) - set(ROLES))
        if unknown_roles:
            raise AdminError(
                422, "invalid upstreams", f"unknown role(s) {', '.join(unknown_roles)}; roles: stable, canary"
            )
        for role, version in body.items():
            if not isinstance(version, str) or version not in self.known:
                raise AdminError(
                    422, "unknown version", f"{role}: {version!r} is not a known version ({', '.join(self.known)})"
                )
        for role, version in body.items():
            if self.versions[role] != version:
                log.info("%s now served by %s (was %s)", role, version, self.versions[role])
            self.versions[role] = version


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
) -> Gateway:
    """The gateway ASGI app (see the module docstring).

    With ``plan``: wrapped in the plan's WAF and per-org rate limits (launch_control.ratelimit.protect;
    Redis decisions pipelined across concurrent requests, keys over their limit refused locally).
    The wrapper passes attribute access through, so the Gateway's methods and state stay reachable.
    """
    gateway = Gateway(
        upstreams=upstreams,
        stable=stable,
        canary=canary,
        admin_token=admin_token,
        canary_weight=canary_weight,
        timeout=timeout,
    )
    if plan is not None:
        from launch_control.ratelimit.protect import protect

        return protect(gateway, plan, store=store, batch=True, prefix="lc:rl:gateway")  # type: ignore[return-value]
    return gateway


# --- helpers --------------------------------------------------------------------------------------


def _cookie_role(cookie: bytes) -> str | None:
    """``launch_version=canary|stable`` from a Cookie header; other values are ignored (stale cookies)."""
    for part in cookie.split(b";"):
        name, _, value = part.strip().partition(b"=")
        if name == b"launch_version":
            role = value.strip().strip(b'"').decode("latin-1").lower()
            return role if role in ROLES else None
    return None


async def _stream_request(first: bytes, receive: Receive) -> AsyncIterator[bytes]:
    if first:
        yield first
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        if chunk := message.get("body", b""):
            yield chunk
        if not message.get("more_body"):
            return


async def _read_json(receive: Receive) -> Any:
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
    try:
        return json.loads(b"".join(chunks) or b"null")
    except ValueError as exc:
        raise AdminError(400, "invalid JSON", f"the body is not JSON: {exc}") from None


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AdminError(422, "invalid weights", f"{name} must be a number of percent (0-100), got {value!r}")
    if not 0.0 <= value <= 100.0:
        raise AdminError(422, "invalid weights", f"{name} must be between 0 and 100 (percent), got {value:g}")
    return float(value)


def _parse_weights(body: Any) -> float:
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
    return canary if canary is not None else 100.0 - stable  # type: ignore[operator]


async def _send_bytes(send: Send, status: int, body: bytes, content_type: bytes, extra: Any = ()) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Send, status: int, data: Any, extra: Any = ()) -> None:
    await _send_bytes(send, status, json.dumps(data).encode(), b"application/json", extra)
