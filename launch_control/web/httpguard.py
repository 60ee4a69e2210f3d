"""HTTP/1.1 connection limits uvicorn lacks, and refusals in the same JSON shape as the WAF's.

uvicorn has a keep-alive timeout and a concurrency limit, but no timeout for a slow request head
(slowloris: a connection that sends one header byte a second stays open for ever) or a slow
body, answers a malformed request line in plain text, and answers an exceeded concurrency limit
in plain text too. ``guarded_protocol(limits)`` is uvicorn's httptools protocol with:

* ``header_timeout``: the request line and headers must arrive within this many seconds of the
  connection (or of the next request's first byte on a kept-alive connection) → 408, closed;
* ``body_timeout``: the whole body within this many seconds of the end of the headers → closed;
* ``max_head_bytes``: a request head larger than this → 431, closed (httptools has no cap);
* ``max_connections``: connections above this are answered 503 and closed at once, so a flood of
  idle sockets cannot use up the process's file descriptors and starve ``/health``;
* ``concurrency``: requests above this answer 503 with ``Retry-After`` (uvicorn's limit, in JSON);
* ``keep_alive``: uvicorn's idle keep-alive timeout.

Every refusal is ``{"error": "request_refused", "rule": ..., "message": ...}`` with
``Connection: close``. ``HttpLimits.from_env()`` reads ``LAUNCH_CONTROL_HTTP_*`` overrides
(``HEADER_TIMEOUT``, ``BODY_TIMEOUT``, ``KEEP_ALIVE``, ``CONCURRENCY``, ``MAX_CONNECTIONS``).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import weakref
from dataclasses import dataclass, fields, replace
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

ENV_PREFIX = "LAUNCH_CONTROL_HTTP_"
STATUS_TEXT = {
    400: b"Bad Request",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


def _descriptor_budget() -> int:
    """Connections this process can hold and still open files, sockets to upstreams and logs."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(16, min(4096, (soft * 3) // 4 - 32))


@dataclass(frozen=True)
class HttpLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    # Longer than the gateway's 4 s upstream pool keep-alive, so the gateway closes idle ones first.
    keep_alive: float = 30.0
    concurrency: int = 1000
    max_connections: int = 0  # 0: from the descriptor limit (3/4 of RLIMIT_NOFILE, at most 4096)
    max_head_bytes: int = 64 * 1024

    @classmethod
    def from_env(cls, **overrides: Any) -> HttpLimits:
        """Defaults, then ``LAUNCH_CONTROL_HTTP_<FIELD>`` variables, then ``overrides``.
        A bad value is a ValueError naming the variable."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = ENV_PREFIX + field.name.upper()
            text = os.environ.get(name)
            if text is None or not text.strip():
                continue
            kind = float if field.type in ("float", float) else int
            try:
                value = kind(text)
            except ValueError:
                raise ValueError(f"{name}={text!r} is not a number (e.g. {name}=10)") from None
            if value < 0:
                raise ValueError(f"{name} must not be negative, got {text!r}")
            values[field.name] = value
        return replace(cls(**values), **overrides)

    def connections(self) -> int:
        return self.max_connections or _descriptor_budget()


def refusal(status: int, rule: str, message: str, extra: bytes = b"") -> bytes:
    """A complete HTTP/1.1 response (JSON body, connection closed) for a refusal below the app."""
    body = json.dumps({"error": "request_refused", "rule": rule, "message": message}, separators=(",", ":")).encode()
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n%s\r\n"
        % (status, STATUS_TEXT.get(status, b"Error"), len(body), extra)
    ) + body


async def _over_capacity(scope: Any, receive: Any, send: Any) -> None:
    body = json.dumps(
        {
            "error": "request_refused",
            "rule": "over_capacity",
            "message": "the server is at its concurrency limit; retry",
        },
        separators=(",", ":"),
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


SWEEP_EVERY = 0.1  # seconds: deadlines fire at most this late
# event loop → its guarded connections (weak: a stopped loop of a test server goes away with it)
_sweeps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[Any]] = weakref.WeakKeyDictionary()


def _watch(protocol: Any) -> None:
    loop = protocol.loop
    members = _sweeps.get(loop)
    if members is None:
        members = _sweeps[loop] = set()
        loop.call_later(SWEEP_EVERY, _sweep, loop, members)
    members.add(protocol)


def _sweep(loop: asyncio.AbstractEventLoop, members: set[Any]) -> None:
    now = loop.time()
    for protocol in list(members):
        deadline = protocol._deadline
        if deadline is not None and now >= deadline:
            protocol._deadline = None
            try:
                protocol._on_deadline()
            except Exception:  # one broken connection must not stop the sweep for the others
                protocol.transport.close()
    if members:
        loop.call_later(SWEEP_EVERY, _sweep, loop, members)
    elif _sweeps.get(loop) is members:
        del _sweeps[loop]


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above (``limits`` is set by ``guarded_protocol``)."""

    limits = HttpLimits()
    max_connections = 4096

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # uvicorn's own check answers in plain text; ours (on_headers_complete) in JSON.
        self._concurrency, self.limit_concurrency = self.limit_concurrency, None
        self._deadline: float | None = None  # loop time at which _on_deadline runs
        self._on_deadline: Any = None
        self._phase = "head"  # head → body → app → idle (kept alive) → head ...
        self._head_bytes = 0

    # --- timers -----------------------------------------------------------------------------------

    # A deadline is two attribute writes per request; one sweep per event loop every SWEEP_EVERY
    # seconds checks them all (a call_later + cancel per request cost ~15 µs on the hot path).
    def _arm(self, seconds: float, handler: Any) -> None:
        if seconds > 0:
            self._deadline, self._on_deadline = self.loop.time() + seconds, handler
        else:
            self._deadline = None

    def _disarm(self) -> None:
        self._deadline = None

    def _refuse(self, status: int, rule: str, message: str, extra: bytes = b"") -> None:
        """Answer below the app and close — only when no response of a request is under way."""
        self._disarm()
        if self.transport.is_closing():
            return
        if self._may_answer():
            self.transport.write(refusal(status, rule, message, extra))
        self.transport.close()

    def _may_answer(self) -> bool:
        # Never a second answer: before a request's head, no earlier response may be in flight
        # (pipelining); in its body, the app must not have started (or finished) its response.
        if self._phase == "head":
            return self.cycle is None or self.cycle.response_complete
        if self._phase == "body":
            return self.cycle is not None and not self.cycle.response_started
        return False

    def _head_timed_out(self) -> None:
        seconds = f"{self.limits.header_timeout:g}"
        self._refuse(408, "header_timeout", f"the request line and headers did not arrive within {seconds} s")

    def _body_timed_out(self) -> None:
        seconds = f"{self.limits.body_timeout:g}"
        self._refuse(408, "body_timeout", f"the request body did not arrive within {seconds} s")

    # --- protocol events --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's base narrows it too
        super().connection_made(transport)
        _watch(self)
        if len(self.connections) > self.max_connections:
            self.transport.write(
                refusal(
                    503, "too_many_connections", "the server holds too many connections; retry", b"retry-after: 1\r\n"
                )
            )
            self.transport.close()
            return
        self._arm(self.limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        _sweeps.get(self.loop, set()).discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._phase == "head" and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_head_bytes:
                limit = self.limits.max_head_bytes
                self._refuse(431, "headers_too_large", f"the request head is larger than {limit} bytes")

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        message = "the request is not valid HTTP/1.1 (request line, header syntax or chunked framing)"
        self.transport.write(refusal(400, "malformed_request", message))
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != "head":  # the next request on a kept-alive connection: a fresh deadline
            self._phase, self._head_bytes = "head", 0
            self._arm(self.limits.header_timeout, self._head_timed_out)

    def on_headers_complete(self) -> None:
        self._phase = "body"
        self._arm(self.limits.body_timeout, self._body_timed_out)
        limit = self._concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            app, self.app = self.app, _over_capacity
            try:
                super().on_headers_complete()
            finally:
                self.app = app
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = "app"
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._phase == "app":
            self._phase = "idle"  # uvicorn's keep-alive timer runs from here
        super().on_response_complete()


def guarded_protocol(limits: HttpLimits | None = None, base: type | None = None) -> type[GuardedHttpToolsProtocol]:
    """A protocol class bound to ``limits`` (uvicorn's ``http=`` option takes a class). ``base``:
    another HttpToolsProtocol subclass to combine with (the gateway's write-coalescing one)."""
    limits = limits or HttpLimits.from_env()
    bases = (GuardedHttpToolsProtocol,) if base is None else (GuardedHttpToolsProtocol, base)
    return type("GuardedHttpToolsProtocol", bases, {"limits": limits, "max_connections": limits.connections()})


def uvicorn_options(limits: HttpLimits | None = None, *, base: type | None = None) -> dict[str, Any]:
    """The options every server here runs uvicorn with: the guarded protocol and its limits."""
    limits = limits or HttpLimits.from_env()
    return {
        "http": guarded_protocol(limits, base),
        "timeout_keep_alive": limits.keep_alive,
        "limit_concurrency": limits.concurrency or None,
    }
