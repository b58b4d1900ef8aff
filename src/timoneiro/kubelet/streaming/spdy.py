"""SPDY/3.1 framing and sessions, as Kubernetes' streaming uses them (moby/spdystream): many streams over
one connection, each opened by SYN_STREAM with headers (streamtype, port...), answered by SYN_REPLY, carried
in DATA frames and half-closed by a FIN flag. Header blocks are zlib-compressed with SPDY/3's dictionary,
one compression context per direction. Like spdystream, no flow control is applied (WINDOW_UPDATE and
SETTINGS are read and ignored), and PINGs from the peer are echoed.

kubectl port-forward speaks it tunnelled in WebSocket binary messages; containerd's streaming server (exec,
attach) speaks it over a plain upgraded HTTP connection. Either way a session reads and writes bytes through
two callables, so it does not care which.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from collections.abc import Awaitable, Callable

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_PROTOCOL_ERROR, RST_REFUSED_STREAM, RST_CANCEL = 1, 3, 5
MAX_DATA = 32 * 1024  # bytes a DATA frame carries at most when we write

# The dictionary SPDY/3 header compression starts from: these words, each with a 32-bit length before it,
# then the text after them.
_DICTIONARY_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location",
    "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
    "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
    "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
    "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public",
    "set-cookie", "keep-alive", "origin")
_DICTIONARY_TEXT = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICTIONARY_WORDS) + _DICTIONARY_TEXT.encode()

Reader = Callable[[], Awaitable[bytes]]  # the next bytes of the connection, b"" at its end
Writer = Callable[[bytes], Awaitable[None]]


class SpdyError(Exception):
    """The peer broke the protocol, or the session ended."""


def encode_headers(headers: dict[str, str], compressor) -> bytes:
    block = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        block += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    raw = b"".join(block)
    return compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH)


def decode_headers(data: bytes, decompressor) -> dict[str, str]:
    """Names as sent (lowercase); several values of one name joined with NUL, as SPDY sends them."""
    raw = decompressor.decompress(data)
    try:
        (count,), offset, headers = struct.unpack_from(">I", raw), 4, {}
        for _ in range(count):
            (size,) = struct.unpack_from(">I", raw, offset)
            name = raw[offset + 4: offset + 4 + size].decode()
            offset += 4 + size
            (size,) = struct.unpack_from(">I", raw, offset)
            headers[name] = raw[offset + 4: offset + 4 + size].decode()
            offset += 4 + size
    except (struct.error, UnicodeDecodeError) as e:
        raise SpdyError(f"bad header block: {e}") from None
    return headers


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


class SpdyStream:
    """One stream: read() answers b"" once the peer half-closed it (or reset it, or the session ended)."""

    def __init__(self, session: SpdySession, stream_id: int, headers: dict[str, str]) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self.replied = asyncio.get_running_loop().create_future()  # for streams we open
        self._data: asyncio.Queue[bytes] = asyncio.Queue()
        self.remote_closed = False
        self.local_closed = False

    async def read(self) -> bytes:
        return await self._data.get() if not (self.remote_closed and self._data.empty()) else b""

    async def write(self, data: bytes) -> None:
        if self.local_closed:
            raise SpdyError(f"write on closed stream {self.id}")
        for start in range(0, len(data), MAX_DATA):
            await self.session.send(data_frame(self.id, data[start:start + MAX_DATA]))

    async def close(self) -> None:
        """Half-close: we send no more."""
        if not self.local_closed:
            self.local_closed = True
            await self.session.send(data_frame(self.id, b"", fin=True))

    async def reset(self, status: int = RST_CANCEL) -> None:
        self.local_closed = True
        self._ended()
        await self.session.send(control_frame(RST_STREAM, 0, struct.pack(">II", self.id, status)))

    def _received(self, data: bytes, fin: bool) -> None:
        if data and not self.remote_closed:
            self._data.put_nowait(data)
        if fin:
            self._ended()

    def _ended(self) -> None:
        if not self.remote_closed:
            self.remote_closed = True
            self._data.put_nowait(b"")
        if not self.replied.done():
            self.replied.set_exception(SpdyError(f"stream {self.id} was reset"))


class SpdySession:
    """A SPDY connection: run() reads frames until the connection ends; streams the peer opens are
    handed to on_stream (the caller replies with accept() or refuses with reset())."""

    def __init__(self, read: Reader, write: Writer, *, server: bool,
                 on_stream: Callable[[SpdyStream], None] | None = None) -> None:
        self._read = read
        self._write = write
        self.on_stream = on_stream
        self._next_id = 2 if server else 1
        self._compressor = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)
        self._decompressor = zlib.decompressobj(zdict=DICTIONARY)
        self._write_lock = asyncio.Lock()
        self.streams: dict[int, SpdyStream] = {}
        self.closed = asyncio.Event()

    async def send(self, frame: bytes) -> None:
        if self.closed.is_set():
            raise SpdyError("the connection is closed")
        async with self._write_lock:
            await self._write(frame)

    async def open_stream(self, headers: dict[str, str]) -> SpdyStream:
        """Open a stream and wait for the peer's reply."""
        stream_id, self._next_id = self._next_id, self._next_id + 2
        stream = self.streams[stream_id] = SpdyStream(self, stream_id, headers)
        async with self._write_lock:  # compression contexts follow the order frames go out in
            payload = struct.pack(">IIBB", stream_id, 0, 0, 0) + encode_headers(headers, self._compressor)
            await self._write(control_frame(SYN_STREAM, 0, payload))
        await stream.replied
        return stream

    async def accept(self, stream: SpdyStream) -> None:
        async with self._write_lock:
            payload = struct.pack(">I", stream.id) + encode_headers({}, self._compressor)
            await self._write(control_frame(SYN_REPLY, 0, payload))

    async def run(self) -> None:
        buffer = b""
        try:
            while True:
                while len(buffer) >= 8:
                    length = struct.unpack_from(">I", buffer, 4)[0] & 0xFFFFFF
                    if len(buffer) < 8 + length:
                        break
                    frame, buffer = buffer[:8 + length], buffer[8 + length:]
                    await self._handle(frame)
                chunk = await self._read()
                if not chunk:
                    return
                buffer += chunk
        finally:
            self._end()

    def _end(self) -> None:
        self.closed.set()
        for stream in self.streams.values():
            stream._ended()

    async def _handle(self, frame: bytes) -> None:
        first, flags_length = struct.unpack_from(">II", frame)
        flags, payload = flags_length >> 24, frame[8:]
        if not first & 0x80000000:
            stream = self.streams.get(first & 0x7FFFFFFF)
            if stream is not None:
                stream._received(payload, bool(flags & FLAG_FIN))
            return
        kind = first & 0xFFFF
        if kind == SYN_STREAM:
            stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            headers = decode_headers(payload[10:], self._decompressor)
            stream = self.streams[stream_id] = SpdyStream(self, stream_id, headers)
            stream.replied.set_result(None)  # the peer's stream: ours to reply to, nothing to wait for
            if flags & FLAG_FIN:
                stream._ended()
            if self.on_stream is None:
                await stream.reset(RST_REFUSED_STREAM)
            else:
                self.on_stream(stream)
        elif kind in (SYN_REPLY, HEADERS):
            stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            decode_headers(payload[4:], self._decompressor)  # keeps the decompression context in step
            stream = self.streams.get(stream_id)
            if stream is not None:
                if kind == SYN_REPLY and not stream.replied.done():
                    stream.replied.set_result(None)
                if flags & FLAG_FIN:
                    stream._ended()
        elif kind == RST_STREAM:
            stream = self.streams.pop(struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF, None)
            if stream is not None:
                stream._ended()
        elif kind == PING:
            ping_id = struct.unpack_from(">I", payload)[0]
            if ping_id % 2 != self._next_id % 2:  # the peer's ping: echo it
                await self.send(frame)
        # GOAWAY: the peer opens no more streams, and ends the connection once its streams are done;
        # SETTINGS and WINDOW_UPDATE: no flow control here, as in spdystream

    async def close(self) -> None:
        """GOAWAY, then no more frames from this side."""
        with contextlib.suppress(SpdyError, OSError, ConnectionError):
            await self.send(control_frame(GOAWAY, 0, struct.pack(">II", 0, 0)))
        self._end()
