"""port-forward: kubectl's SPDY session tunnelled in WebSocket binary messages (subprotocol
SPDY/3.1+portforward.k8s.io). Each forwarded connection is a pair of streams with one requestid, an error
stream and a data stream naming the pod's port; the data stream is joined to a connection to that port
inside the pod's network namespace. A failure is written to the error stream in upstream's words."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from timoneiro.kubelet.streaming.channels import WebSocket
from timoneiro.kubelet.streaming.spdy import RST_PROTOCOL_ERROR, SpdyError, SpdySession, SpdyStream

log = logging.getLogger("timoneiro.kubelet.server")
PROTOCOL = "portforward.k8s.io"
TUNNELED = "SPDY/3.1+" + PROTOCOL  # kubectl's WebSocket subprotocol for SPDY inside WebSocket
READ_SIZE = 64 * 1024

Connect = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class PortForwarding:
    """One client's session: `connect(port)` opens a connection to the pod's port."""

    def __init__(self, ws: WebSocket, connect: Connect, pod: str, uid: str) -> None:
        self.ws = ws
        self.connect = connect
        self.pod, self.uid = pod, uid
        self.pairs: dict[str, dict[str, SpdyStream]] = {}
        self.tasks: set[asyncio.Task] = set()
        self.session = SpdySession(self._read, ws.send, server=True, on_stream=self._on_stream)

    async def _read(self) -> bytes:
        """The tunnel's next bytes (an empty message carries none), b"" once it is closed."""
        while (message := await self.ws.receive()) is not None:
            if message:
                return message
        return b""

    async def run(self) -> None:
        try:
            await self.session.run()
        finally:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.ws.close()

    def _on_stream(self, stream: SpdyStream) -> None:
        task = asyncio.get_running_loop().create_task(self._stream(stream))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _stream(self, stream: SpdyStream) -> None:
        kind, request = stream.headers.get("streamtype", ""), stream.headers.get("requestid", "")
        if kind not in ("error", "data") or not stream.headers.get("port", "").isdigit():
            await stream.reset(RST_PROTOCOL_ERROR)
            return
        await self.session.accept(stream)
        pair = self.pairs.setdefault(request, {})
        pair[kind] = stream
        if len(pair) == 2:
            del self.pairs[request]
            await self._forward(pair["data"], pair["error"], int(stream.headers["port"]))

    async def _forward(self, data: SpdyStream, error: SpdyStream, port: int) -> None:
        try:
            try:
                reader, writer = await self.connect(port)
            except Exception as e:  # the runtime's or the network's words go to the client
                message = f"error forwarding port {port} to pod {self.pod}, uid {self.uid}: {e}"
                log.warning("%s", message)
                await error.write(message.encode())
                return
            try:
                await _join(data, reader, writer)
            finally:
                writer.close()
        except SpdyError:
            pass
        finally:
            with contextlib.suppress(SpdyError):
                await error.close()
                await data.close()


async def _join(stream: SpdyStream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy both ways until the pod's side ends (the client's end of writing half-closes the pod's)."""
    async def inbound() -> None:
        while data := await stream.read():
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    pushing = asyncio.ensure_future(inbound())
    try:
        while data := await reader.read(READ_SIZE):
            await stream.write(data)
    finally:
        pushing.cancel()
        await asyncio.gather(pushing, return_exceptions=True)
