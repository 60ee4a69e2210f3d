"""WAF basics as pure ASGI middleware, in front of the rate limiter (the plan's ``waf`` section).

Rules, in the order they are checked, and the answer each gives (JSON naming the rule):

    malformed_path     400  not a clean absolute path: control characters, bad %-escapes, > 2 KiB
    path_traversal     403  '.' or '..' segments, backslashes, encoded dots/slashes (also double-encoded)
    too_many_headers   431  more than ``max_headers`` header lines
    headers_too_large  431  header names + values larger than ``max_header_bytes``
    ip_blocklist       403  client IP inside a blocked IP or CIDR
    org_blocklist      403  the org (org header or API key) is blocked
    method_not_allowed 405  the route's method allow-list does not include the method (with Allow)
    body_too_large     413  body larger than the route's ``max_body`` (Content-Length or counted)
    json_too_deep      413  a body nested deeper than the route's ``max_json_depth`` — whatever its
                            Content-Type: the apps parse POST bodies as JSON either way, and a
                            deep body under ``text/plain`` must not reach ``json.loads``
    invalid_text       400  a body that is not UTF-8, or a JSON string with a lone surrogate
                            (``"\ud800"``): text no encoder can write back out

Routes (``waf.routes``) match exactly or by prefix (``/api/run/*``); other paths get the global
caps and any method. Blocklists are the plan's plus a run-time list on the shared status board
(``waf.blocklist``: store, mirrored to Redis when configured), re-read about once a second, so
``launch-control waf block|unblock`` applies without a restart. Every refusal is counted per rule.

The pure checks live in ``launch_control.protect.waf_checks`` and the blocklists in
``launch_control.protect.waf_blocklist``; this module is the middleware, and their names stay
importable from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from launch_control.protect.ratelimit.asgi import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    client_ip,
    send_json,
    with_headers,
)
from launch_control.protect.ratelimit.headers import refused_headers
from launch_control.protect.ratelimit.metrics import WAF_REFUSALS
from launch_control.protect.ratelimit.policy import OrgProblem, Policies
from launch_control.protect.ratelimit.refresh import Refreshing

# Re-exported: callers import the checks and the blocklist from launch_control.protect.waf.
from launch_control.protect.waf_blocklist import (
    BLOCKLIST_KEY,
    Blocklist,
    change_blocklist,
    in_networks,
    read_blocklist,
)
from launch_control.protect.waf_checks import (
    MAX_PATH,
    IpNetwork,
    json_too_deep,
    loads_public,
    parse_network,
    path_problem,
    text_problem,
)

__all__ = [
    "BLOCKLIST_KEY", "MAX_PATH", "Blocklist", "IpNetwork", "WafMiddleware", "change_blocklist", "json_too_deep",
    "loads_public", "parse_network", "path_problem", "read_blocklist", "text_problem",
]  # fmt: skip

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


# --- the middleware ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    methods: frozenset[str]
    max_body: int
    max_json_depth: int


class WafMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        waf: Any,
        *,
        rate_limits: Any = None,
        board: Any = None,
        refresh: float = 1.0,
        trusted_proxies: Iterable[str] = (),
    ):
        self.app = app
        self.config = waf
        self.policies = Policies(rate_limits) if rate_limits is not None else None
        self.static = (list(waf.blocked_ips), list(waf.blocked_orgs))
        for ip in waf.blocked_ips:
            parse_network(ip)
        self.board = board
        self.blocklist = Refreshing(self._load_blocklist, ttl=refresh, default=self._compile({}), name="WAF blocklist")
        self.blocklist.get()
        self.trusted = tuple(parse_network(p) for p in trusted_proxies)
        self.default_route = _Route(frozenset(), waf.max_body, waf.max_json_depth)
        self._exact: dict[str, _Route] = {}
        self._prefixes: list[tuple[str, _Route]] = []
        for route in waf.routes:
            compiled = _Route(
                frozenset(m.upper() for m in route.methods),
                route.max_body if route.max_body is not None else waf.max_body,
                route.max_json_depth if route.max_json_depth is not None else waf.max_json_depth,
            )
            if route.path.endswith("/*"):
                self._prefixes.append((route.path[:-1], compiled))
            else:
                self._exact[route.path] = compiled
        self._prefixes.sort(key=lambda item: -len(item[0]))

    def _compile(self, dynamic: dict[str, list[str]]) -> Blocklist:
        return Blocklist.build([*self.static[0], *dynamic.get("ips", [])], [*self.static[1], *dynamic.get("orgs", [])])

    def _load_blocklist(self) -> Blocklist:
        return self._compile(read_blocklist(self.board) if self.board is not None else {})

    def route(self, path: str) -> _Route:
        exact = self._exact.get(path)
        if exact is not None:
            return exact
        for prefix, route in self._prefixes:
            if path.startswith(prefix):
                return route
        return self.default_route

    def _client(self, scope: Scope) -> str | None:
        ip = client_ip(scope)
        if not self.trusted or not ip or not in_networks(ip, self.trusted):
            return ip
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                hops = [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
                for hop in reversed(hops):  # the rightmost hop a trusted proxy did not add
                    if not in_networks(hop, self.trusted):
                        return hop
        return ip

    def __getattr__(self, name: str) -> Any:
        # Wrapping must not hide the app: ``protect(app, plan).state`` is still ``app.state``.
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.config.enabled:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if problem := path_problem(path, scope.get("raw_path")):
            status = 400 if problem == "malformed_path" else 403
            await self._refuse(scope, send, status, problem, "the request path is not a clean absolute path")
            return
        headers = scope["headers"]
        if len(headers) > self.config.max_headers:
            await self._refuse(scope, send, 431, "too_many_headers", f"more than {self.config.max_headers} headers")
            return
        size = sum(len(n) + len(v) for n, v in headers)
        if size > self.config.max_header_bytes:
            limit = self.config.max_header_bytes
            await self._refuse(
                scope,
                send,
                431,
                "headers_too_large",
                f"headers total {size} bytes; the limit is {limit}",
            )
            return
        blocklist = await self.blocklist.aget()
        if blocklist.networks and blocklist.blocks_ip(self._client(scope)):
            await self._refuse(scope, send, 403, "ip_blocklist", "requests from this address are blocked")
            return
        if blocklist.orgs and self.policies is not None:
            org = self.policies.org(headers)
            if not isinstance(org, OrgProblem) and org in blocklist.orgs:
                await self._refuse(scope, send, 403, "org_blocklist", "requests from this organisation are blocked")
                return
        route = self.route(path)
        method = scope["method"]
        if route.methods and method not in route.methods:
            allow = ", ".join(sorted(route.methods))
            message = f"{method} is not allowed here; use {allow}"
            await self._refuse(scope, send, 405, "method_not_allowed", message, [(b"allow", allow.encode())])
            return
        length, chunked = _body_headers(headers)
        if length is not None and length > route.max_body:
            await self._refuse(
                scope,
                send,
                413,
                "body_too_large",
                f"body of {length} bytes; the limit is {route.max_body}",
            )
            return
        if length or chunked or (length is None and method in _BODY_METHODS):
            body = await _read_body(receive, route.max_body)
            if body is None:
                await self._refuse(scope, send, 413, "body_too_large", f"body larger than {route.max_body} bytes")
                return
            # Every body, whatever its Content-Type: the apps behind parse bodies as JSON anyway.
            if json_too_deep(body, route.max_json_depth):
                await self._refuse(
                    scope,
                    send,
                    413,
                    "json_too_deep",
                    f"JSON nested deeper than {route.max_json_depth} levels",
                )
                return
            if problem := text_problem(body, require_utf8=False):
                await self._refuse(scope, send, 400, "invalid_text", f"{problem}; send UTF-8 JSON")
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        status: int,
        rule: str,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        WAF_REFUSALS.labels(rule=rule).inc()
        body = {"error": "request_refused", "rule": rule, "message": message}
        await send_json(self._limited(send, scope), status, body, headers)

    def _limited(self, send: Send, scope: Scope) -> Send:
        """``send`` adding the route's RateLimit headers (``r=0``) to a refusal on a rate-limited
        route: every answer of a limited route carries them, the WAF's 4xx included."""
        policies = self.policies
        policy = policies.match(scope["path"], scope["method"]) if policies is not None else None
        if policies is None or policy is None:
            return send
        return with_headers(send, list(refused_headers(policies.limits(policy, None) or ())))


def _body_headers(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    length: int | None = None
    chunked = False
    for name, value in headers:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return length, chunked


async def _read_body(receive: Receive, cap: int) -> bytes | None:
    """The whole body, or None as soon as it exceeds ``cap`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
