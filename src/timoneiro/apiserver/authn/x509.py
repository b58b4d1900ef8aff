"""x509 client-certificate authentication: the user is the certificate's common name, the groups its
organizations. TLS has verified the chain against the cluster CA and that the certificate may serve for
client auth (one that fails that never gets a request through); this checks the validity period (see
ClusterPKI.server_context)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from cryptography import x509

from timoneiro.apiserver.authn import Unauthorized, UserInfo, authenticated
from timoneiro.pki.certs import common_name, organizations

if TYPE_CHECKING:
    from timoneiro.apiserver.http import Request

PEER_CERT = "timoneiro.peer_cert"  # the ASGI scope key the TLS protocol puts the client's DER certificate at
CACHE_SIZE = 4096


class X509Authenticator:
    def __init__(self) -> None:
        # DER -> (user, not before, not after), so that each certificate is parsed once
        self._users: dict[bytes, tuple[UserInfo, dt.datetime, dt.datetime]] = {}

    def authenticate(self, req: Request) -> UserInfo | None:
        der = req.scope.get(PEER_CERT)
        if not der:
            return None
        known = self._users.get(der)
        if known is None:
            cert = x509.load_der_x509_certificate(der)
            known = (self._user(cert), cert.not_valid_before_utc, cert.not_valid_after_utc)
            if len(self._users) >= CACHE_SIZE:
                self._users.clear()
            self._users[der] = known
        user, not_before, not_after = known
        if not not_before <= dt.datetime.now(dt.UTC) <= not_after:
            raise Unauthorized("x509: certificate has expired or is not yet valid")
        return user

    @staticmethod
    def _user(cert: x509.Certificate) -> UserInfo:
        name = common_name(cert)
        if not name:
            raise Unauthorized("x509: certificate has no common name")
        return authenticated(name, tuple(organizations(cert)))
