"""HTTPS for the API server: uvicorn's httptools protocol, plus the client certificate of each connection
in every request's scope, where the x509 authenticator reads it (uvicorn passes none on by itself)."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from timoneiro.apiserver.authn.x509 import PEER_CERT


class CoalescingTransport:
    """A TLS transport whose writes made in one turn of the event loop go out together: uvicorn writes a
    response's head and its body separately, and over TLS each write costs a record and a send of its own."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        data = b"".join(self._pending)
        self._pending.clear()
        if data and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class PeerCertProtocol(HttpToolsProtocol):
    peer_cert: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        ssl_object = transport.get_extra_info("ssl_object")
        self.peer_cert = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        super().connection_made(CoalescingTransport(transport) if ssl_object is not None  # type: ignore[arg-type]
                                else transport)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.peer_cert:
            self.scope[PEER_CERT] = self.peer_cert  # type: ignore[literal-required]
