"""One watch stream: newline-delimited JSON events read off a long-lived response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

import orjson

from timoneiro.client.errors import ApiError, TransportError
from timoneiro.client.http import HTTPError, Response


class WatchEvent(NamedTuple):
    type: str  # ADDED, MODIFIED, DELETED or BOOKMARK; ERROR events are raised as ApiError
    object: dict


class Watch:
    """An async iterator of WatchEvents that ends when the server ends the stream.

    Use it as `async with client.watch(...) as events: async for event in events: ...` so the connection
    is closed when the consumer stops early. An object may be up to the API server's 3 MiB request limit.
    `read_timeout`: the longest wait for the next bytes (None: no limit).
    """

    def __init__(self, open_stream: Callable[[], Awaitable[Response]], read_timeout: float | None = None) -> None:
        self._open_stream = open_stream
        self._read_timeout = read_timeout
        self._response: Response | None = None
        self._buffer = bytearray()
        self._start = 0  # where the unread part of the buffer begins
        self._closed = False

    async def __aenter__(self) -> Watch:
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> WatchEvent:
        if self._response is None:
            await self._open()
        try:
            event = await self._next_event()
        except BaseException:
            self.close()
            raise
        if event is None:
            self.close()
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        """Drop the connection: a stream not read to its end cannot go back to the pool."""
        self._closed = True
        if self._response is not None:
            self._response.close()

    async def _open(self) -> None:
        if self._closed:
            raise RuntimeError("the watch is closed")
        self._response = await self._open_stream()

    async def _next_event(self) -> WatchEvent | None:
        try:
            line = await self._next_line()
        except HTTPError as e:
            raise TransportError(f"the watch stream broke: {e}") from e
        if line is None:
            return None
        try:
            event = orjson.loads(line)
            kind, obj = event["type"], event["object"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as e:
            raise TransportError(f"undecodable watch event: {line[:200]!r}") from e
        if kind == "ERROR":
            raise ApiError({**obj, "code": obj.get("code") or 500})
        return WatchEvent(kind, obj)

    async def _next_line(self) -> bytes | None:
        """The next non-empty line; None at the end of the stream. Lines read are dropped from the buffer once
        it holds no further whole line, not one by one: a chunk may carry hundreds of events."""
        assert self._response is not None
        scanned = self._start
        while True:
            end = self._buffer.find(b"\n", scanned)
            if end < 0:
                del self._buffer[:self._start]
                self._start = 0
                scanned = len(self._buffer)
                chunk = await self._response.read_chunk(self._read_timeout)
                if not chunk:
                    if self._buffer.strip():
                        raise TransportError("the watch stream ended in the middle of an event")
                    return None
                self._buffer += chunk
                continue
            line = bytes(self._buffer[self._start:end])
            self._start = scanned = end + 1
            if line.strip():
                return line
