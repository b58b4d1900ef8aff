"""exec and attach: a client's WebSocket channels joined to the runtime's streaming session (SPDY streams of
the same names), until the command ends. The runtime's error stream carries the command's end as a
metav1.Status (success, or NonZeroExitCode with the exit code), which the client reads on channel 3 before
the WebSocket closes; stdin ends when a v5 client half-closes it."""

from __future__ import annotations

import asyncio
import contextlib

from timoneiro.kubelet.cri.streaming import RemoteCommand
from timoneiro.kubelet.streaming import channels
from timoneiro.kubelet.streaming.channels import WebSocket
from timoneiro.kubelet.streaming.spdy import SpdyError, SpdyStream


async def _copy_out(stream: SpdyStream, channel: int, ws: WebSocket) -> None:
    while data := await stream.read():
        await ws.send(bytes((channel,)) + data)


async def _read_all(stream: SpdyStream) -> bytes:
    chunks = []
    while data := await stream.read():
        chunks.append(data)
    return b"".join(chunks)


async def _copy_in(ws: WebSocket, command: RemoteCommand, protocol: str) -> None:
    """The client's stdin and resizes to the runtime, until the client goes."""
    stdin, resize = command.streams.get("stdin"), command.streams.get("resize")
    while (message := await ws.receive()) is not None:
        if not message:
            continue
        channel, data = message[0], message[1:]
        try:
            if channel == channels.STDIN and stdin is not None and data:
                await stdin.write(data)
            elif channel == channels.RESIZE and resize is not None and data:
                await resize.write(data)
            elif channel == channels.CLOSE and protocol == channels.V5 and data[:1] == bytes((channels.STDIN,)) \
                    and stdin is not None:
                await stdin.close()
        except SpdyError:
            return


async def serve(ws: WebSocket, command: RemoteCommand, protocol: str, options_stdout: bool) -> None:
    """Run the session to its end, then close the WebSocket."""
    # as upstream's server does: an empty message on the first writable channel says the session is up
    await ws.send(bytes((channels.STDOUT if options_stdout else channels.ERROR,)))
    outputs = [asyncio.ensure_future(_copy_out(command.streams[name], channel, ws))
               for name, channel in (("stdout", channels.STDOUT), ("stderr", channels.STDERR))
               if name in command.streams]
    error = asyncio.ensure_future(_read_all(command.streams["error"]))
    incoming = asyncio.ensure_future(_copy_in(ws, command, protocol))
    finished = asyncio.gather(*outputs, error)
    try:
        await asyncio.wait([finished, incoming], return_when=asyncio.FIRST_COMPLETED)
        if finished.done():
            status = finished.result()[-1]
            if status:
                await ws.send(bytes((channels.ERROR,)) + status)
    finally:
        for task in (finished, incoming):
            task.cancel()
        await asyncio.gather(finished, incoming, return_exceptions=True)
        await command.close()
        with contextlib.suppress(Exception):
            await ws.close()
