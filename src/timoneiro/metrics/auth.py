"""Who may read the metrics API, decided as an aggregated API server decides it (metrics-server's delegated
authentication and authorization): a request the API server passes on comes with its front-proxy client
certificate (checked by TLS against the front-proxy CA, and its name against the allowed one) and the user
in X-Remote-User, X-Remote-Group and X-Remote-Extra-* headers; the API server then answers a
SubjectAccessReview for what the request asks. Decisions are cached ten seconds, as the delegating
authorizer caches them."""

from __future__ import annotations

from urllib.parse import unquote

from cryptography import x509

from timoneiro.apiserver import errors
from timoneiro.apiserver.authn import UserInfo
from timoneiro.apiserver.authn.x509 import PEER_CERT
from timoneiro.apiserver.http import Request
from timoneiro.apiserver.requestinfo import RequestInfo
from timoneiro.client import ApiError, Client, TransportError
from timoneiro.kubelet.server.auth import SubjectAccessReviewer
from timoneiro.pki.certs import common_name

ALLOWED_NAMES = ("front-proxy-client",)  # --requestheader-allowed-names, as kubeadm sets it
CACHE_TTL = 10.0
ALWAYS_ALLOWED = ("/healthz", "/livez", "/readyz")  # --authorization-always-allow-paths
EXTRA_PREFIX = "x-remote-extra-"


def authenticate(req: Request) -> UserInfo:
    """The user the front proxy vouches for; 401 for any request that did not come through it."""
    der = req.scope.get(PEER_CERT)
    user = req.headers.get("x-remote-user", "")
    if not der or common_name(x509.load_der_x509_certificate(der)) not in ALLOWED_NAMES or not user:
        raise errors.unauthorized()
    groups = tuple(v.decode("latin-1") for k, v in req.scope.get("headers", ()) if k.lower() == b"x-remote-group")
    extra: dict[str, tuple[str, ...]] = {}
    for k, v in req.scope.get("headers", ()):
        key = k.decode("latin-1").lower()
        if key.startswith(EXTRA_PREFIX):
            name = unquote(key[len(EXTRA_PREFIX):])
            extra[name] = (*extra.get(name, ()), v.decode("latin-1"))
    return UserInfo(user, "", groups, extra)


class Authorizer:
    def __init__(self, client: Client) -> None:
        self._reviewer = SubjectAccessReviewer(client, CACHE_TTL, CACHE_TTL)

    async def allowed(self, user: UserInfo, attrs: RequestInfo) -> bool:
        if not attrs.is_resource and attrs.path in ALWAYS_ALLOWED:
            return True
        try:
            if attrs.is_resource:
                return await self._reviewer.allowed(user, {
                    "verb": attrs.verb, "group": attrs.group, "version": attrs.version, "resource": attrs.resource,
                    "namespace": attrs.namespace, "name": attrs.name})
            return await self._reviewer.allowed(user, {"verb": attrs.verb, "path": attrs.path}, resource=False)
        except (ApiError, TransportError) as e:
            raise errors.internal(f"authorization failed: {e}") from e
