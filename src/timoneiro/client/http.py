"""HTTP/1.1 to the API server over a pool of keep-alive connections, lean enough for a component's hot path.

A general-purpose client (aiohttp) spent about 200 µs of CPU on each request to the API server, four times
the cost of the request itself on the wire: a scheduler binding a thousand pods a second makes two requests
per pod. Here a request is one write of its head and body; the answer is parsed by httptools (llhttp, the
parser of Node.js, in C), and its body is either read whole or streamed (watches). A connection goes back to
the pool once its answer has been read to the end, and is not reused after KEEPALIVE seconds idle, well
within the server's own keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from urllib.parse import urlencode, urlsplit

import httptools

KEEPALIVE = 60.0  # seconds a connection may wait idle in the pool; the API server keeps it 120 s
HIGH_WATER = 4 * 1024 * 1024  # unread streamed bytes at which reading from the socket pauses


class HTTPError(Exception):
    """The connection failed, timed out, or the answer could not be parsed."""


class Response:
    """An answer whose head has arrived; its body is read with read() or, streamed, with read_chunk()."""

    def __init__(self, connection: _Connection, method: str, status: int, headers: dict[str, str]) -> None:
        self._connection = connection
        self.method = method
        self.status = status
        self.headers = headers  # names in lower case

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    async def read(self, timeout: float | None = None) -> bytes:
        """The whole body (what is left of it)."""
        chunks = []
        while chunk := await self.read_chunk(timeout):
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_chunk(self, timeout: float | None = None) -> bytes:
        """The body bytes that arrived since the last call, waiting up to timeout for some; b"" at the end."""
        return await self._connection.read_chunk(timeout)

    def close(self) -> None:
        """Done with the answer: its connection goes back to the pool if it was read to the end, else it is
        closed (an unread body cannot be skipped)."""
        self._connection.finish()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Connection(asyncio.Protocol):
    """One connection: writes a request, parses its answer, hands out the body."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.busy = False  # a request was sent and its answer not finished with yet
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._head: asyncio.Future | None = None  # resolves to (status, headers) when the head is parsed
        self._headers: dict[str, str] = {}
        self._header_name = b""
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._complete = False  # the whole answer has arrived
        self._keep_alive = False  # and the server keeps the connection open for the next request
        self._until_eof = False  # a body with neither length nor chunks: it ends when the connection does
        self._waiter: asyncio.Future | None = None  # a reader waiting for body bytes
        self._error: Exception | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.pool.connections.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(HTTPError(f"malformed answer: {e}"))
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.connections.discard(self)
        if self._until_eof and self._head is not None and self._head.done():
            self.on_message_complete()
        elif not self._complete:
            self._fail(HTTPError(f"the server closed the connection{f': {exc}' if exc else ''}"))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        if name:
            self._header_name = name
            self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        else:  # a value continued over another call
            key = self._header_name.decode("latin-1").lower()
            self._headers[key] += value.decode("latin-1")

    def on_headers_complete(self) -> None:
        headers = self._headers
        self._until_eof = "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "")
        if self._head is not None and not self._head.done():
            self._head.set_result((self._parser.get_status_code(), headers))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()  # only known while the parser is at the message
        self._wake()

    # requests

    def send(self, data: bytes) -> asyncio.Future:
        """Write a request; answers a future of (status, headers)."""
        self.busy = True
        self._head = asyncio.get_running_loop().create_future()
        self._headers = {}
        self._complete = self._until_eof = self._keep_alive = False
        self._body.clear()
        self._buffered = 0
        self.transport.write(data)
        return self._head

    async def read_chunk(self, timeout: float | None) -> bytes:
        while not self._body:
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await wait(self._waiter, timeout, "reading the answer")
            finally:
                self._waiter = None
        chunk = self._body.popleft() if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    def finish(self) -> None:
        if not self.busy:  # finished with already (an answer closed twice)
            return
        self.busy = False
        if self._complete and not self._body and not self.closed and self._keep_alive:
            self.pool.release(self)
        else:
            self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        self._error = error
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)


async def wait(future: asyncio.Future, timeout: float | None, doing: str) -> object:
    """The future's result, or HTTPError once timeout seconds have passed (set on the future, so that whoever
    else waits on it fails too)."""
    if timeout is None:
        return await future
    handle = asyncio.get_running_loop().call_later(timeout, _expire, future, doing, timeout)
    try:
        return await future
    finally:
        handle.cancel()


def _expire(future: asyncio.Future, doing: str, timeout: float) -> None:
    if not future.done():
        future.set_exception(HTTPError(f"timed out after {timeout:g}s {doing}"))


class ConnectionPool:
    """Keep-alive connections to one server (any number at once), made on first use in the running loop."""

    def __init__(self, base_url: str, ssl_context: ssl.SSLContext | None, headers: dict[str, str]) -> None:
        url = urlsplit(base_url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self.ssl = ssl_context
        authority = f"[{self.host}]" if ":" in self.host else self.host
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{authority}:{self.port}", **headers}.items())
        self.connections: set[_Connection] = set()  # every open one, idle or answering
        self._idle: list[_Connection] = []

    async def request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None, body: bytes | None = None,
                      timeout: float | None = None) -> Response:
        """Send a request and wait (up to timeout) for the head of its answer."""
        target = self.prefix + path + ("?" + urlencode(params) if params else "")
        head = [f"{method} {target} HTTP/1.1\r\n{self._fixed}"]
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}\r\n")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body or b'')}\r\n")
        head.append("\r\n")
        data = "".join(head).encode("latin-1") + (body or b"")
        deadline = None if timeout is None else time.monotonic() + timeout
        connection = await self._acquire(timeout)
        try:
            status, response_headers = await wait(
                connection.send(data), None if deadline is None else deadline - time.monotonic(),
                f"waiting for the answer to {method} {path}")
        except BaseException:
            connection.close()
            raise
        return Response(connection, method, status, response_headers)

    async def _acquire(self, timeout: float | None) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < KEEPALIVE:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):  # not wait_for, which may swallow a cancellation (3.11)
                _, connection = await loop.create_connection(
                    lambda: _Connection(self), self.host, self.port, ssl=self.ssl,
                    server_hostname=self.host if self.ssl else None)
        except (OSError, ssl.SSLError, TimeoutError) as e:
            raise HTTPError(f"connecting to {self.host}:{self.port}: {e}") from e
        return connection

    def release(self, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        self._idle.append(connection)

    def close(self) -> None:
        """Close every connection, those of answers still being read (watches) too."""
        self._idle.clear()
        for connection in list(self.connections):
            connection.close()
