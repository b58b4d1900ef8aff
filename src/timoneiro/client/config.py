"""Where the API server is and how to prove who we are to it: what a kubeconfig context boils down to."""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import Protocol

from timoneiro import __version__


class TokenSource(Protocol):
    """A bearer token that changes (a ServiceAccount's, renewed before it expires): asked for before each
    request, and told when the server refused it, so that the next request gets a new one."""

    async def token(self) -> str: ...

    def reset(self) -> None: ...


@dataclass
class ClientConfig:
    server: str
    ca_data: bytes | None = None  # PEM; takes precedence over ca_file, as in kubeconfig
    ca_file: str | None = None
    cert_data: bytes | None = None
    cert_file: str | None = None
    key_data: bytes | None = field(default=None, repr=False)
    key_file: str | None = None
    token: str | None = field(default=None, repr=False)
    token_source: TokenSource | None = field(default=None, repr=False)  # takes precedence over token
    insecure_skip_tls_verify: bool = False
    namespace: str = "default"  # the context's namespace, for callers that need a default
    user_agent: str = f"timoneiro/{__version__}"  # the server takes the default field manager from it
    timeout: float = 60.0  # seconds for a whole request; watches are bounded by timeoutSeconds instead

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS settings for an https server (None for http): trusted CA, client certificate."""
        if not self.server.startswith("https://"):
            return None
        ctx = ssl.create_default_context(cafile=None if self.ca_data else self.ca_file,
                                         cadata=self.ca_data.decode() if self.ca_data else None)
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_data or self.cert_file:
            _load_client_cert(ctx, self.cert_data, self.cert_file, self.key_data, self.key_file)
        return ctx


def _load_client_cert(ctx: ssl.SSLContext, cert_data: bytes | None, cert_file: str | None,
                      key_data: bytes | None, key_file: str | None) -> None:
    """ssl reads certificates and keys only from files: in-memory ones go through a private temp dir."""
    with tempfile.TemporaryDirectory(prefix="timoneiro-tls-") as tmp:
        def path(data: bytes | None, file: str | None, name: str) -> str | None:
            if not data:
                return file
            p = os.path.join(tmp, name)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return p

        cert = path(cert_data, cert_file, "client.crt")
        ctx.load_cert_chain(cert, path(key_data, key_file, "client.key"))  # type: ignore[arg-type]
