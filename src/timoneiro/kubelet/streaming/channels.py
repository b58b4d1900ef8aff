"""The WebSocket side of exec and attach: an ASGI WebSocket speaking Kubernetes' channel protocol, where
each binary message starts with the number of the stream it carries (0 stdin, 1 stdout, 2 stderr, 3 the
error stream's metav1.Status, 4 terminal resizes) and, from v5.channel.k8s.io on, [255, N] half-closes
stream N (kubectl's end of stdin, which `kubectl cp` into a pod needs).
"""

from __future__ import annotations

import asyncio

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)  # what this side speaks, best first
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255  # v5's half-close signal
NORMAL_CLOSURE = 1000


class WebSocket:
    """An accepted ASGI WebSocket: binary messages in and out, writes serialised."""

    def __init__(self, receive, send) -> None:
        self._receive = receive
        self._send = send
        self._lock = asyncio.Lock()
        self.closed = False

    @classmethod
    async def accept(cls, receive, send, subprotocol: str | None) -> WebSocket:
        """Answer the handshake (its websocket.connect message already received)."""
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        return cls(receive, send)

    async def receive(self) -> bytes | None:
        """The next binary (or text, as bytes) message; None once the client has gone."""
        while True:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return None
            if message["type"] == "websocket.receive":
                data = message.get("bytes")
                return data if data is not None else (message.get("text") or "").encode()

    async def send(self, data: bytes) -> None:
        async with self._lock:
            if not self.closed:
                await self._send({"type": "websocket.send", "bytes": data})

    async def close(self, code: int = NORMAL_CLOSURE) -> None:
        async with self._lock:
            if not self.closed:
                self.closed = True
                await self._send({"type": "websocket.close", "code": code})
