"""One watch stream: newline-delimited JSON events read off a long-lived response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

import aiohttp
import orjson

from timoneiro.client.errors import ApiError, TransportError


class WatchEvent(NamedTuple):
    type: str  # ADDED, MODIFIED, DELETED or BOOKMARK; ERROR events are raised as ApiError
    object: dict


class Watch:
    """An async iterator of WatchEvents that ends when the server ends the stream.

    Use it as `async with client.watch(...) as events: async for event in events: ...` so the connection
    is closed when the consumer stops early. Lines are split here, not by aiohttp's readline, which refuses
    lines over 512 KiB: an object may be up to the API server's 3 MiB request limit.
    """

    def __init__(self, open_stream: Callable[[], Awaitable[aiohttp.ClientResponse]]) -> None:
        self._open_stream = open_stream
        self._response: aiohttp.ClientResponse | None = None
        self._buffer = bytearray()
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
        except (TimeoutError, aiohttp.ClientError) as e:
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
        """The next non-empty line; None at the end of the stream."""
        assert self._response is not None
        scanned = 0
        while True:
            end = self._buffer.find(b"\n", scanned)
            if end < 0:
                scanned = len(self._buffer)
                chunk = await self._response.content.readany()
                if not chunk:
                    if self._buffer.strip():
                        raise TransportError("the watch stream ended in the middle of an event")
                    return None
                self._buffer += chunk
                continue
            line = bytes(self._buffer[:end])
            del self._buffer[:end + 1]
            scanned = 0
            if line.strip():
                return line
