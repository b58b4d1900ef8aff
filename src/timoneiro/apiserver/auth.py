"""Authentication and authorization stages of the request path.

For now every request is the cluster's own administrator and every request is allowed, as on an
insecure port; the security work replaces these two objects with x509, token and RBAC ones, and the
request path stays as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from timoneiro.apiserver.requestinfo import RequestInfo


@dataclass(frozen=True)
class UserInfo:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


ADMIN = UserInfo("system:admin", groups=("system:masters", "system:authenticated"))


class AllowAll:
    """Authenticates every request as the administrator and authorizes everything."""

    def authenticate(self, headers: dict[str, str]) -> UserInfo | None:
        return ADMIN

    def authorize(self, user: UserInfo, info: RequestInfo) -> tuple[bool, str]:
        return True, ""
