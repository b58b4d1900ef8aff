"""Who may use the kubelet's API, decided as upstream's kubelet decides it (webhook mode, anonymous access off
as kubeadm configures it): a client certificate the cluster CA signed names its user, else a bearer token the
API server vouches for in a TokenReview; the API server then answers a SubjectAccessReview for the node's
nodes/proxy (nodes/stats, nodes/log, nodes/metrics, nodes/spec... by path). Answers are cached as the
kubelet's webhooks cache them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace

from timoneiro.apiserver.authn import Unauthorized, UserInfo
from timoneiro.apiserver.authn.x509 import X509Authenticator
from timoneiro.client import ApiError, Client, TransportError
from timoneiro.client.resources import Resource

TOKEN_REVIEWS = Resource("authentication.k8s.io", "v1", "tokenreviews", namespaced=False)
SUBJECT_ACCESS_REVIEWS = Resource("authorization.k8s.io", "v1", "subjectaccessreviews", namespaced=False)
TOKEN_TTL = 120.0  # the kubelet's authentication.webhook.cacheTTL
ALLOWED_TTL = 300.0  # authorization.webhook.cacheAuthorizedTTL
DENIED_TTL = 30.0  # authorization.webhook.cacheUnauthorizedTTL
CACHE_SIZE = 1024
VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# path prefixes with a subresource of their own; every other path is nodes/proxy
SUBRESOURCES = (("/stats", "stats"), ("/metrics", "metrics"), ("/logs", "log"), ("/spec", "spec"),
                ("/checkpoint", "checkpoint"))


class AuthError(Exception):
    """The request is refused: status (401, 403 or 500) and upstream's plain-text message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Attributes:
    verb: str
    subresource: str


def attributes(method: str, path: str) -> Attributes:
    """What a request asks of the node, as upstream's nodeAuthorizerAttributesGetter names it."""
    subresource = next((sub for prefix, sub in SUBRESOURCES if path == prefix or path.startswith(prefix + "/")),
                       "proxy")
    return Attributes(VERBS.get(method.upper(), method.lower()), subresource)


class _Cache:
    def __init__(self) -> None:
        self._entries: dict[object, tuple[float, object]] = {}

    def get(self, key: object) -> object | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: object, value: object, ttl: float) -> None:
        if len(self._entries) >= CACHE_SIZE:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + ttl, value)


class SubjectAccessReviewer:
    """SubjectAccessReviews asked of the API server, as a delegating (webhook) authorizer asks them: each
    answer kept `allowed_ttl` seconds if allowed, `denied_ttl` if not. The kubelet's API and metrics-server
    both authorize so."""

    def __init__(self, client: Client, allowed_ttl: float, denied_ttl: float) -> None:
        self.client = client
        self.ttls = {True: allowed_ttl, False: denied_ttl}
        self._answers = _Cache()

    async def allowed(self, user: UserInfo, attributes: dict[str, str], resource: bool = True) -> bool:
        """Whether `user` may do what `attributes` say (a review's resourceAttributes, or if not `resource`
        its nonResourceAttributes). ApiError or TransportError: the API server gave no answer."""
        key = (user.name, user.uid, user.groups, tuple(sorted(user.extra.items())), resource,
               tuple(attributes.items()))
        known = self._answers.get(key)
        if known is not None:
            return bool(known)
        spec: dict = {"user": user.name, "groups": list(user.groups)}
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = {k: list(v) for k, v in user.extra.items()}
        spec["resourceAttributes" if resource else "nonResourceAttributes"] = attributes
        review = await self.client.create(SUBJECT_ACCESS_REVIEWS, {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec})
        allowed = bool((review.get("status") or {}).get("allowed"))
        self._answers.put(key, allowed, self.ttls[allowed])
        return allowed


class KubeletAuth:
    def __init__(self, client: Client, node_name: str) -> None:
        self.client = client
        self.node_name = node_name
        self._x509 = X509Authenticator()
        self._tokens = _Cache()
        self._reviewer = SubjectAccessReviewer(client, ALLOWED_TTL, DENIED_TTL)

    async def check(self, scope: dict, method: str, path: str) -> UserInfo:
        """The request's user if it may do what it asks; else AuthError."""
        user = await self.authenticate(scope)
        attrs = attributes(method, path)
        if not await self.authorize(user, attrs):
            raise AuthError(403, f"Forbidden (user={user.name}, verb={attrs.verb}, resource=nodes, "
                                 f"subresource={attrs.subresource})")
        return user

    async def authenticate(self, scope: dict) -> UserInfo:
        try:
            user = self._x509.authenticate(SimpleNamespace(scope=scope))  # type: ignore[arg-type]
        except Unauthorized:
            raise AuthError(401, "Unauthorized") from None
        if user is not None:
            return user
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "Unauthorized")
        return await self._review_token(token.strip())

    async def _review_token(self, token: str) -> UserInfo:
        known = self._tokens.get(token)
        if known is None:
            try:
                review = await self.client.create(TOKEN_REVIEWS, {
                    "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
            except (ApiError, TransportError) as e:
                raise AuthError(401, "Unauthorized") from e
            status = review.get("status") or {}
            user = status.get("user") or {}
            known = UserInfo(user.get("username", ""), user.get("uid", ""), tuple(user.get("groups") or ()),
                             {k: tuple(v) for k, v in (user.get("extra") or {}).items()}) \
                if status.get("authenticated") else False
            self._tokens.put(token, known, TOKEN_TTL)
        if not known:
            raise AuthError(401, "Unauthorized")
        return known  # type: ignore[return-value]

    async def authorize(self, user: UserInfo, attrs: Attributes) -> bool:
        try:
            return await self._reviewer.allowed(user, {"verb": attrs.verb, "version": "v1", "resource": "nodes",
                                                       "subresource": attrs.subresource, "name": self.node_name})
        except (ApiError, TransportError) as e:
            raise AuthError(500, f"Authorization error (user={user.name}, verb={attrs.verb}, resource=nodes, "
                                 f"subresource={attrs.subresource})") from e
