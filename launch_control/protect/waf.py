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
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from launch_control.errors import UsageError
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

BLOCKLIST_KEY = "waf.blocklist"
MAX_PATH = 2048
_PLAIN_PATH = re.compile(rb"/[A-Za-z0-9_/~-]{0,2047}")
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ENCODED_TRAVERSAL = re.compile(rb"%(2e|2f|5c)", re.IGNORECASE)
_JSON_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# A JSON escape: ``\\`` and ``\"`` consumed whole, so ``\\ud800`` (a backslash, then text) is no surrogate.
_ESCAPE = re.compile(rb"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_SURROGATE_HINT = re.compile(rb"\\u[dD][89a-fA-F]")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- pure checks (unit-testable) --------------------------------------------------------------


def json_too_deep(body: bytes, limit: int) -> bool:
    """True when JSON ``body`` nests arrays/objects deeper than ``limit`` (strings ignored)."""
    brackets = _JSON_STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS)
    if len(brackets) <= 2 * limit:  # a cheap exit: not enough brackets to be that deep
        return False
    depth = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def text_problem(body: bytes, *, require_utf8: bool = True) -> str | None:
    """Why ``body`` is not text a JSON app can decode and encode again, or None.

    Invalid UTF-8 (unless ``require_utf8=False``: the WAF lets binary bodies through, a JSON
    parser refuses them cleanly by itself), or a ``\\uD800``-``\\uDFFF`` escape that is not a
    high-low pair: ``json.loads`` accepts a lone surrogate, and the first ``.encode()`` of it (a
    response echoing it, a call to the model) raises UnicodeEncodeError — a 500 from public input.
    """
    if body.isascii():
        # One-byte search first (memchr): most bodies hold no backslash at all.
        if b"\\" not in body or not _SURROGATE_HINT.search(body):
            return None
    else:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"the body is not UTF-8 (byte {exc.start})" if require_utf8 else None
        if b"\\" not in body or not _SURROGATE_HINT.search(body):
            return None
    pending_high = -1  # end offset of a high surrogate escape still waiting for its low half
    for match in _ESCAPE.finditer(body):
        escape = match.group(1)
        code = int(escape[1:], 16) if len(escape) == 5 and escape[:1] == b"u" else -1
        if pending_high >= 0:
            if 0xDC00 <= code <= 0xDFFF and match.start() == pending_high:
                pending_high = -1
                continue
            return "a JSON string holds a lone surrogate (\\ud800-\\udbff without its low half)"
        if 0xD800 <= code <= 0xDBFF:
            pending_high = match.end()
        elif 0xDC00 <= code <= 0xDFFF:
            return "a JSON string holds a lone surrogate (\\udc00-\\udfff without its high half)"
    if pending_high >= 0:
        return "a JSON string holds a lone surrogate (\\ud800-\\udbff without its low half)"
    return None


def loads_public(raw: bytes, max_depth: int = 64) -> Any:
    """``json.loads`` for a public request body: ValueError (a 400 to the caller) for anything the
    parser or a later encoder would choke on — too deep, lone surrogates, invalid UTF-8 — so an
    app is safe even without the WAF in front of it."""
    import json

    if json_too_deep(raw, max_depth):
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    if problem := text_problem(raw):
        raise ValueError(problem)
    try:
        return json.loads(raw)
    except RecursionError:  # belt and braces: json_too_deep should have caught it
        raise ValueError(f"JSON nested deeper than {max_depth} levels") from None


def path_problem(path: str, raw_path: bytes | None) -> str | None:
    """The rule a request path breaks (``malformed_path`` / ``path_traversal``), or None."""
    raw = raw_path if raw_path is not None else path.encode("utf-8", "surrogateescape")
    if _PLAIN_PATH.fullmatch(raw) and raw.decode("ascii") == path:  # the common case, one regex
        return None
    if not path.startswith("/") or len(raw) > MAX_PATH or _CONTROL.search(path) or _BAD_ESCAPE.search(raw):
        return "malformed_path"
    if b"\\" in raw or "\\" in path or _ENCODED_TRAVERSAL.search(raw):
        return "path_traversal"
    decoded = unquote_to_bytes(raw)
    for candidate in (path.encode("utf-8", "surrogateescape"), decoded, unquote_to_bytes(decoded)):
        if _CONTROL.search(candidate.decode("latin-1")):
            return "malformed_path"
        if b"\\" in candidate:
            return "path_traversal"
        if any(segment in (b".", b"..") for segment in candidate.split(b"/")):
            return "path_traversal"
    return None


def parse_network(text: str) -> IpNetwork:
    """An IP or CIDR; UsageError naming the value otherwise."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise UsageError(f"{text!r} is not an IP address or CIDR block (e.g. 203.0.113.7 or 10.0.0.0/8)") from None


# --- blocklists ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blocklist:
    networks: tuple[IpNetwork, ...] = ()
    orgs: frozenset[str] = frozenset()

    @classmethod
    def build(cls, ips: Iterable[str], orgs: Iterable[str]) -> Blocklist:
        networks = []
        for ip in ips:
            try:
                networks.append(ipaddress.ip_network(str(ip).strip(), strict=False))
            except ValueError:
                continue  # a bad entry on the board must not disable the other entries
        return cls(tuple(networks), frozenset(str(o) for o in orgs))

    def blocks_ip(self, ip: str | None) -> bool:
        if not ip or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self.networks)


def read_blocklist(board: Any) -> dict[str, list[str]]:
    """The run-time blocklist on the board: {"ips": [...], "orgs": [...]}."""
    raw = board.get(BLOCKLIST_KEY) if board is not None else None
    raw = raw if isinstance(raw, dict) else {}
    return {"ips": sorted(map(str, raw.get("ips", []))), "orgs": sorted(map(str, raw.get("orgs", [])))}


def change_blocklist(board: Any, kind: str, value: str, *, add: bool) -> dict[str, list[str]]:
    """Add or remove one IP/CIDR (``kind='ip'``) or org (``kind='org'``); returns the new list."""
    current = read_blocklist(board)
    field = {"ip": "ips", "org": "orgs"}.get(kind)
    if field is None:
        raise UsageError(f"unknown blocklist kind {kind!r}; use ip or org")
    if kind == "ip":
        value = str(parse_network(value))
    elif not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", value):
        raise UsageError(f"{value!r} is not an org id (letters, digits and _ . : -, up to 64)")
    entries = set(current[field])
    if add:
        entries.add(value)
    else:
        entries.discard(value)
    current[field] = sorted(entries)
    board.set(BLOCKLIST_KEY, current)
    return current


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
        if not self.trusted or not ip or not _in(ip, self.trusted):
            return ip
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                hops = [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
                for hop in reversed(hops):  # the rightmost hop a trusted proxy did not add
                    if not _in(hop, self.trusted):
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


def _in(ip: str, networks: tuple[IpNetwork, ...]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in net for net in networks)


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
