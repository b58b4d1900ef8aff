"""Authorization: may this user do this request? Authorizers are asked in order, as kube-apiserver's
union authorizer asks them (--authorization-mode=Node,RBAC): the first that allows or denies decides; if
none has an opinion the request is forbidden."""

from __future__ import annotations

import enum
from typing import Protocol

from timoneiro.apiserver.authn import UserInfo
from timoneiro.apiserver.requestinfo import RequestInfo

SUPERUSER_GROUP = "system:masters"


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


class Authorizer(Protocol):
    def authorize(self, user: UserInfo, info: RequestInfo) -> tuple[Decision, str]:
        """A decision and, for a denial or no opinion, a reason (may be empty)."""


class AlwaysAllow:
    def authorize(self, user: UserInfo, info: RequestInfo) -> tuple[Decision, str]:
        return Decision.ALLOW, ""


class Superuser:
    """system:masters may do anything, whatever RBAC holds (upstream's privileged-group authorizer)."""

    def authorize(self, user: UserInfo, info: RequestInfo) -> tuple[Decision, str]:
        return (Decision.ALLOW if SUPERUSER_GROUP in user.groups else Decision.NO_OPINION), ""


class Authorization:
    def __init__(self, authorizers: list[Authorizer]) -> None:
        self.authorizers = authorizers

    def authorize(self, user: UserInfo, info: RequestInfo) -> tuple[bool, str]:
        """(allowed, reason): the reason of the last authorizer that had one, as upstream joins them."""
        reasons = []
        for authorizer in self.authorizers:
            decision, reason = authorizer.authorize(user, info)
            if decision is Decision.ALLOW:
                return True, reason
            if reason:
                reasons.append(reason)
            if decision is Decision.DENY:
                break
        return False, ", ".join(reasons)


def forbidden_message(user: UserInfo, info: RequestInfo) -> str:
    """What a 403 says the user cannot do, in upstream's words (responsewriters.forbiddenMessage)."""
    if not info.is_resource:
        return f'User "{user.name}" cannot {info.verb} path "{info.path}"'
    resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
    where = f'in the namespace "{info.namespace}"' if info.namespace else "at the cluster scope"
    return f'User "{user.name}" cannot {info.verb} resource "{resource}" in API group "{info.group}" {where}'
