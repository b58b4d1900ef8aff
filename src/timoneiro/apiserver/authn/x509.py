"""x509 client-certificate authentication: the user is the certificate's common name, the groups its
organizations. TLS has verified the chain against the cluster CA and the validity period already (a
certificate that fails that never gets a request through); this checks it is meant for client auth."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from timoneiro.apiserver.authn import Unauthorized, UserInfo, authenticated
from timoneiro.pki.certs import common_name, organizations

if TYPE_CHECKING:
    from timoneiro.apiserver.http import Request

PEER_CERT = "timoneiro.peer_cert"  # the ASGI scope key the TLS protocol puts the client's DER certificate at
CACHE_SIZE = 4096


class X509Authenticator:
    def __init__(self) -> None:
        self._users: dict[bytes, UserInfo] = {}

    def authenticate(self, req: Request) -> UserInfo | None:
        der = req.scope.get(PEER_CERT)
        if not der:
            return None
        user = self._users.get(der)
        if user is None:
            user = self._user(der)
            if len(self._users) >= CACHE_SIZE:
                self._users.clear()
            self._users[der] = user
        return user

    @staticmethod
    def _user(der: bytes) -> UserInfo:
        cert = x509.load_der_x509_certificate(der)
        try:
            usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            usages = None
        if usages is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            raise Unauthorized("x509: certificate specifies an incompatible key usage")
        name = common_name(cert)
        if not name:
            raise Unauthorized("x509: certificate has no common name")
        return authenticated(name, tuple(organizations(cert)))
