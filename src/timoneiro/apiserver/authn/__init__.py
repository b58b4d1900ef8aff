"""Authentication: who sent a request. Authenticators are tried in order, as kube-apiserver's union
authenticator tries them; the first to recognise the request's credentials names its user. A request that
carries credentials none accepts, or none where anonymous access is not allowed, gets 401."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from timoneiro.apiserver.http import Request

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
# where upstream's anonymous authentication is allowed when limited to conditions (1.32's
# AuthenticationConfiguration.anonymous.conditions, as kubeadm recommends), plus what `join` must read
ANONYMOUS_PATHS = ("/healthz", "/livez", "/readyz", "/version",
                   "/api/v1/namespaces/kube-public/configmaps/cluster-info")


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)

    def as_api(self) -> dict:
        """authentication.k8s.io/v1 UserInfo, as TokenReview and SelfSubjectReview report it."""
        out: dict = {"username": self.name}
        if self.uid:
            out["uid"] = self.uid
        if self.groups:
            out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


def authenticated(name: str, groups: tuple[str, ...] = (), uid: str = "",
                  extra: dict[str, tuple[str, ...]] | None = None) -> UserInfo:
    """A user as an authenticator names it: with system:authenticated added, as upstream adds it."""
    if AUTHENTICATED not in groups:
        groups = (*groups, AUTHENTICATED)
    return UserInfo(name, uid, groups, extra or {})


ANONYMOUS_USER = UserInfo(ANONYMOUS, groups=(UNAUTHENTICATED,))


class Unauthorized(Exception):
    """Credentials were presented and are not valid: the request gets 401 whatever else it carries."""


class Authenticator(Protocol):
    def authenticate(self, req: Request) -> UserInfo | None | Awaitable[UserInfo | None]:
        """The request's user, None if this authenticator does not recognise its credentials, or raise
        Unauthorized if it recognises them as its kind and finds them invalid. One that asks a remote
        service (the token webhook) answers with an awaitable."""


async def identify(authenticator: Authenticator, req: Request) -> UserInfo | None:
    """One authenticator's answer, awaited if it is a remote one's."""
    user = authenticator.authenticate(req)
    return await user if inspect.isawaitable(user) else user


class Authentication:
    """The authenticators in order, then anonymous where allowed."""

    def __init__(self, authenticators: list[Authenticator] | None = None, anonymous: bool = True,
                 anonymous_paths: tuple[str, ...] = ANONYMOUS_PATHS) -> None:
        self.authenticators: list[Authenticator] = authenticators or []
        self.anonymous = anonymous
        self.anonymous_paths = frozenset(anonymous_paths)

    async def authenticate(self, req: Request) -> UserInfo | None:
        """The user, or None for 401."""
        try:
            for authenticator in self.authenticators:
                user = await identify(authenticator, req)
                if user is not None:
                    return user
        except Unauthorized:
            return None
        if self.anonymous and "authorization" not in req.headers and \
                (req.path.rstrip("/") or "/") in self.anonymous_paths:
            return ANONYMOUS_USER
        return None


def bearer_token(req: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, as upstream's bearertoken authenticator reads it."""
    header = req.headers.get("authorization", "")
    parts = header.split(" ")
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


class Everyone:
    """What a server without security (`secure=False`, for benchmarks comparing the two) sees: every
    request is the superuser."""

    USER = authenticated("system:admin", ("system:masters",))

    def authenticate(self, req: Request) -> UserInfo | None:
        return self.USER
