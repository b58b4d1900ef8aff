"""Who may read the metrics API, decided as an aggregated API server decides it (metrics-server's delegated
authentication and authorization): a request the API server passes on comes with its front-proxy client
certificate (checked by TLS against the front-proxy CA, and its name against the allowed one) and the user
in X-Remote-User, X-Remote-Group and X-Remote-Extra-* headers; the API server then answers a
SubjectAccessReview for what the request asks. Decisions are cached ten seconds, as the delegating
authorizer caches them."""

from __future__ import annotations

import time
from urllib.parse import unquote

from cryptography import x509

from timoneiro.apiserver import errors
from timoneiro.apiserver.authn import UserInfo
from timoneiro.apiserver.authn.x509 import PEER_CERT
from timoneiro.apiserver.http import Request
from timoneiro.apiserver.requestinfo import RequestInfo
from timoneiro.client import ApiError, Client, TransportError
from timoneiro.client.resources import Resource
from timoneiro.pki.certs import common_name

SUBJECT_ACCESS_REVIEWS = Resource("authorization.k8s.io", "v1", "subjectaccessreviews", namespaced=False)
ALLOWED_NAMES = ("front-proxy-client",)  # --requestheader-allowed-names, as kubeadm sets it
CACHE_TTL = 10.0
CACHE_SIZE = 1024
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
        self.client = client
        self._cache: dict[tuple, tuple[float, bool]] = {}

    async def allowed(self, user: UserInfo, attrs: RequestInfo) -> bool:
        if not attrs.is_resource and attrs.path in ALWAYS_ALLOWED:
            return True
        key = (user.name, user.groups, tuple(sorted(user.extra.items())), attrs.is_resource, attrs.verb,
               attrs.resource, attrs.namespace, attrs.name, attrs.path)
        known = self._cache.get(key)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        spec: dict = {"user": user.name, "groups": list(user.groups)}
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra.items()}
        if attrs.is_resource:
            spec["resourceAttributes"] = {"verb": attrs.verb, "group": attrs.group, "version": attrs.version,
                                          "resource": attrs.resource, "namespace": attrs.namespace,
                                          "name": attrs.name}
        else:
            spec["nonResourceAttributes"] = {"verb": attrs.verb, "path": attrs.path}
        try:
            review = await self.client.create(SUBJECT_ACCESS_REVIEWS, {
                "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec})
        except (ApiError, TransportError) as e:
            raise errors.internal(f"authorization failed: {e}") from e
        allowed = bool((review.get("status") or {}).get("allowed"))
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + CACHE_TTL, allowed)
        return allowed
