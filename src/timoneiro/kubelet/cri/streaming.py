"""A client of the CRI runtime's streaming server (containerd's, on loopback): the URL that the CRI's Exec and
Attach calls answer is dialled as kubectl dials a kubelet, an HTTP request upgraded to SPDY/3.1 with the
remote-command protocol v4.channel.k8s.io, whose streams (error, stdin, stdout, stderr, resize) are then
opened one by one, each named by its streamtype header.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from timoneiro.kubelet.runtime.base import StreamOptions
from timoneiro.kubelet.streaming.spdy import SpdySession, SpdyStream

REMOTE_COMMAND_PROTOCOL = "v4.channel.k8s.io"
READ_SIZE = 64 * 1024


class StreamingError(Exception):
    """The streaming server refused the session (its HTTP status and body say why)."""


@dataclass
class RemoteCommand:
    """An exec or attach session: its streams by type, and the session carrying them."""

    session: SpdySession
    streams: dict[str, SpdyStream]
    reading: asyncio.Task  # the session's frames being read
    writer: asyncio.StreamWriter

    async def close(self) -> None:
        await self.session.close()
        self.reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reading
        self.writer.close()


async def dial(url: str, protocol: str) -> tuple[SpdySession, asyncio.Task, asyncio.StreamWriter]:
    """Upgrade a request to `url` to SPDY, offering `protocol`; the session runs in the task answered."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    path = address.path + (f"?{address.query}" if address.query else "")
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nConnection: Upgrade\r\n"
                 f"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n".encode())
    await writer.drain()
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
        writer.close()
        raise StreamingError(f"the streaming server at {address.netloc} did not answer: {e}") from None
    status = head.split(b" ", 2)
    if len(status) < 2 or status[1] != b"101":
        body = await reader.read(READ_SIZE)
        writer.close()
        raise StreamingError(body.decode(errors="replace").strip() or head.decode(errors="replace").strip())

    async def write(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    session = SpdySession(lambda: reader.read(READ_SIZE), write, server=False)
    task = asyncio.get_running_loop().create_task(session.run())
    return session, task, writer


async def remote_command(url: str, options: StreamOptions) -> RemoteCommand:
    """Open an exec or attach session with the streams `options` ask for, in the order client-go opens them."""
    session, task, writer = await dial(url, REMOTE_COMMAND_PROTOCOL)
    kinds = ["error", *(["stdin"] if options.stdin else []), *(["stdout"] if options.stdout else []),
             *(["stderr"] if options.stderr and not options.tty else []), *(["resize"] if options.tty else [])]
    streams: dict[str, SpdyStream] = {}
    try:
        for kind in kinds:
            streams[kind] = await session.open_stream({"streamtype": kind})
    except BaseException:
        task.cancel()
        writer.close()
        raise
    return RemoteCommand(session, streams, task, writer)
