"""WebSocket handshakes as Kubernetes' Go servers and clients make them (exec, attach, cp, port-forward).

kubectl's port-forward offers the subprotocol SPDY/3.1+portforward.k8s.io, which is not an RFC 7230 token:
Go's WebSocket code takes subprotocols as the comma-separated strings they are, the websockets library
refuses them. Here websockets' handshake takes them as Go does (and the server side also puts the
connection's client certificate in the scope, as PeerCertProtocol does for HTTP requests); the rest of the
protocol is the library's.
"""

from __future__ import annotations

from functools import partial

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import NegotiationError
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from timoneiro.apiserver.authn.x509 import PEER_CERT


class _GoServerHandshake(ServerProtocol):
    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        """None: the application picks one from the scope's list (which uvicorn splits on commas)."""
        return None


class _GoClientHandshake(ClientProtocol):
    def process_subprotocol(self, headers: Headers) -> Subprotocol | None:
        chosen = headers.get("Sec-WebSocket-Protocol")
        if chosen is None:
            return None
        if chosen.strip() not in (self.available_subprotocols or ()):
            raise NegotiationError(f"unsupported subprotocol: {chosen}")
        return Subprotocol(chosen.strip())


class PeerCertWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSockets with Go's handshake and the client certificate in the scope."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.conn.__class__ = _GoServerHandshake  # the same state, one method different

    def handle_connect(self, event) -> None:  # type: ignore[override]
        super().handle_connect(event)  # the application's task starts on the loop's next turn, after this
        ssl_object = self.transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if der and hasattr(self, "scope"):  # no scope: the handshake was refused
            self.scope[PEER_CERT] = der  # type: ignore[literal-required]


    async def send(self, message) -> None:  # type: ignore[override]
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            self.handshake_complete = True  # a denial answers the handshake too (uvicorn would log it did not)


class _GoClientConnection(ClientConnection):
    def __init__(self, protocol: ClientProtocol, *, offered: list[str], **kwargs) -> None:
        protocol.__class__ = _GoClientHandshake
        protocol.available_subprotocols = [Subprotocol(p) for p in offered] or None
        super().__init__(protocol, **kwargs)


def dial(url: str, subprotocols: list[str], **options) -> connect:
    """websockets' connect (the same options), offering `subprotocols` with Go's handshake (the library
    would refuse them before it starts: they are set on its handshake once made)."""
    return connect(url, create_connection=partial(_GoClientConnection, offered=subprotocols), **options)
