"""The gateway's upstream client: HTTP/1.1 keep-alive connections per upstream, parsed by httptools.

Why not aiohttp's ClientSession here: profiled on the bench's load, ``session.request`` was the
largest share of the gateway's CPU per request (request object, header multidicts, tracing hooks,
timer contexts per call; see docs/traffic-plane.md). The proxy needs much less: write the request
bytes it already has, parse the answer with the same C parser uvicorn uses, hand the headers back
as raw byte pairs. What it keeps from a real client:

* keep-alive pool per upstream (LIFO, so few connections stay warm); idle connections dropped
  after ``keepalive`` seconds, below uvicorn's 5 s, so we never reuse one the upstream is closing;
* connect timeout and a read timeout between reads (→ :class:`UpstreamTimeout`, the proxy's 504);
* a connection closed before any byte of the answer raises :class:`StaleConnection`, which the
  proxy retries once for idempotent methods only;
* request bodies as bytes or streamed (chunked), answers read whole or streamed chunk by chunk
  with back-pressure (reading pauses while the proxy has not taken the chunks);
* HEAD answers and answers delimited by the connection closing are handled; anything the parser
  rejects is an :class:`UpstreamError` (the proxy's 502).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any

import httptools

from launch_control.errors import LaunchControlError


class UpstreamError(LaunchControlError):
    """The upstream refused, reset or sent something that is not HTTP (the proxy's 502)."""


class UpstreamTimeout(UpstreamError):
    """No connection, or no bytes, within the timeout (the proxy's 504)."""


class StaleConnection(UpstreamError):
    """A kept-alive connection closed before answering: safe to retry an idempotent request."""


_PAUSE_ABOVE = 256 * 1024  # buffered answer bytes at which reading pauses while streaming


class _Connection(asyncio.Protocol):
    def __init__(self, pool: Pool):
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._drained: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.waiting_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.content_length: int | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.head_done = False
        self.complete = False
        self.received = False
        self.keep_alive = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.last_read = 0.0
        self.paused = False
        self.head_only = False
        self._chunked = False

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP connection's transport is a Transport

    def data_received(self, data: bytes) -> None:
        self.received = True
        self.last_read = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("upstream tried to upgrade the connection"))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"upstream sent a malformed answer: {exc}"))
        if self.paused is False and self.buffered > _PAUSE_ABOVE and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if self.head_done and not self.complete and self.content_length is None and not self._chunked:
            self.complete = True  # an answer delimited by the connection closing
        elif not self.complete and self.error is None and self.waiter is not None:
            if not self.received:
                self.error = StaleConnection("upstream closed the kept-alive connection before answering")
            else:
                self.error = UpstreamError(f"upstream disconnected mid-answer{f': {exc}' if exc else ''}")
        self._wake()

    # --- httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lower = name.lower()
        if lower == b"content-length":
            try:
                self.content_length = int(value)
            except ValueError:
                self.content_length = None
        elif lower == b"transfer-encoding" and b"chunked" in value.lower():
            self._chunked = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.head_done = True
        if self.head_only or self.status in (204, 304):
            # No body follows (httptools cannot be told a HEAD is being answered): this answer
            # is complete; a HEAD's connection is not reused since the parser may expect a body.
            self.complete = True
            self.keep_alive = self.keep_alive and not self.head_only

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        self.complete = True

    # --- used by the pool and the proxy -----------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        if self.transport is not None:
            self.transport.abort()
        self.closed = True

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, ready: bool) -> None:
        """Wait until ``ready`` may have changed; raise the connection's error or a read timeout."""
        if ready:
            return
        if self.error is not None:
            raise self.error
        if self.closed:
            raise UpstreamError("upstream connection closed")
        self.waiting_since = self.loop.time()
        if self._timer is None:
            self._timer = self.loop.call_later(self.pool.read_timeout, self._tick)
        self.waiter = self.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None
        if self.error is not None:
            raise self.error

    def _tick(self) -> None:
        # One timer per connection, re-armed lazily (not one per wait): a read timeout is
        # ``read_timeout`` without a byte since the wait began or the last read, whichever is later.
        self._timer = None
        waiter = self.waiter
        if waiter is None or waiter.done() or self.closed:
            return
        left = self.pool.read_timeout - (self.loop.time() - max(self.waiting_since, self.last_read))
        if left > 0.001:
            self._timer = self.loop.call_later(left, self._tick)
            return
        self._fail(UpstreamTimeout(f"no answer within {self.pool.read_timeout:g} s"))
        waiter.set_result(None)

    async def head(self) -> None:
        while not self.head_done:
            await self._wait(self.head_done)

    async def read(self) -> bytes:
        """The whole remaining body."""
        while not self.complete:
            await self._wait(self.complete)
        body = b"".join(self.chunks)
        self.chunks.clear()
        return body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while True:
            while self.chunks:
                chunk = self.chunks.popleft()
                self.buffered -= len(chunk)
                if self.paused and self.buffered <= _PAUSE_ABOVE // 2 and self.transport is not None:
                    self.paused = False
                    self.transport.resume_reading()
                yield chunk
            if self.complete:
                return
            await self._wait(bool(self.chunks) or self.complete)

    def send(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[union-attr]  # sent only on a connected (acquired) connection

    async def drain(self) -> None:
        """Wait while the upstream is not reading what we write (a streamed request body)."""
        if self._drained is not None:
            await self._drained
        if self.error is not None:
            raise self.error

    def pause_writing(self) -> None:
        self._drained = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        self._drained = None

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Keep-alive connections to one upstream ``host:port``."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout: float,
        read_timeout: float,
        keepalive: float = 4.0,
        max_idle: int = 1024,
        ssl: Any = None,
    ):
        self.ssl = ssl
        self.host, self.port = host, port
        self.connect_timeout, self.read_timeout, self.keepalive = connect_timeout, read_timeout, keepalive
        self.max_idle = max_idle
        self.loop = asyncio.get_event_loop()
        self.idle: list[_Connection] = []

    async def acquire(self) -> tuple[_Connection, bool]:
        """(connection, reused): a warm idle connection when there is one, else a new one."""
        now = self.loop.time()
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive:
                conn._reset()
                return conn, True
            conn.close()
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(lambda: _Connection(self), self.host, self.port, ssl=self.ssl),
                self.connect_timeout,
            )
        except TimeoutError:
            raise UpstreamTimeout(f"no connection within {self.connect_timeout:g} s") from None
        except OSError as exc:
            raise UpstreamError(f"{exc.__class__.__name__}: {exc}") from None
        return conn, False

    def release(self, conn: _Connection) -> None:
        """Back to the pool when the answer was read to its end and the upstream keeps it alive."""
        if conn.closed or not conn.complete or not conn.keep_alive or conn.error is not None or conn.chunks:
            conn.close()
            return
        conn.idle_since = self.loop.time()
        if len(self.idle) < self.max_idle:
            self.idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


def request_head(method: str, target: bytes, host: bytes, headers: bytes, length: int | None) -> bytes:
    """The request line and headers; ``length`` None means a chunked body follows."""
    framing = (
        b"transfer-encoding: chunked\r\n"
        if length is None
        else (
            b"content-length: %d\r\n" % length if length or method not in ("GET", "HEAD", "DELETE", "OPTIONS") else b""
        )
    )
    return b"%s %s HTTP/1.1\r\nhost: %s\r\n%s%s\r\n" % (method.encode(), target, host, headers, framing)


async def send_streamed(conn: _Connection, first: bytes, more: AsyncIterator[bytes]) -> None:
    """Write a streamed request body as chunks (the request head was already written)."""
    if first:
        conn.send(b"%x\r\n%s\r\n" % (len(first), first))
    async for chunk in more:
        if chunk:
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await conn.drain()
    conn.send(b"0\r\n\r\n")
