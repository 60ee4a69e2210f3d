"""uvicorn's httptools protocol with the writes of one event-loop turn sent in one syscall.

uvicorn writes a response's status line and headers, then its body, as two ``transport.write``
calls — two ``sendmsg`` syscalls, and on loopback each one also pays the receiver's TCP
processing. The profile on the bench's load (docs/traffic-plane.md) had those writes as the
largest self-time item. The gateway sends start and body in the same turn of the event loop, so
buffering the writes of a turn and flushing them once at its end (``call_soon``) halves the
client-side syscalls for ~1 µs of scheduling. Used with ``http=CoalescingHttpToolsProtocol``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CoalescingTransport:
    """A transport whose writes in one loop turn become one write; everything else is passed on."""

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    # asyncio's signature takes a BaseTransport; uvicorn's base narrows it the same way
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's base too
        wrapped = _CoalescingTransport(transport, self.loop)
        super().connection_made(wrapped)  # type: ignore[arg-type]  # a proxy that duck-types a Transport
