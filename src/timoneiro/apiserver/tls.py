"""HTTPS for the API server: uvicorn's httptools protocol, plus the client certificate of each connection
in every request's scope, where the x509 authenticator reads it (uvicorn passes none on by itself)."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from timoneiro.apiserver.authn.x509 import PEER_CERT


class PeerCertProtocol(HttpToolsProtocol):
    peer_cert: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        self.peer_cert = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.peer_cert:
            self.scope[PEER_CERT] = self.peer_cert  # type: ignore[literal-required]
