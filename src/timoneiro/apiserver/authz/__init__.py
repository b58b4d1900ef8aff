"""Authorization: may this user do this request? Authorizers are asked in order, as kube-apiserver's
union authorizer asks them (--authorization-mode=Node,RBAC): the first that allows or denies decides; if
none has an opinion the request is forbidden."""

from __future__ import annotations

import dataclasses
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


@dataclasses.dataclass
class Attributes(RequestInfo):
    """What authorizers are asked beyond the RequestInfo: a list or watch's field selector, as
    (field, "=" or "!=", value) requirements."""

    field_selector: tuple[tuple[str, str, str], ...] = ()


def attributes(info: RequestInfo, query: dict[str, str]) -> RequestInfo:
    """The request as upstream's RequestInfoFactory describes it to authorizers: a Namespace object's
    namespace is its name, and a list or watch selecting metadata.name=NAME names NAME."""
    selector = query.get("fieldSelector", "") if info.verb in ("list", "watch") else ""
    namespace = info.name if info.resource == "namespaces" and info.is_resource and info.name else info.namespace
    if not selector and namespace == info.namespace:
        return info
    requirements = tuple(parse_field_selector(selector))
    name = next((v for f, op, v in requirements if f == "metadata.name" and op == "="), info.name)
    return Attributes(**{**dataclasses.asdict(info), "namespace": namespace, "name": name},
                      field_selector=requirements)


def parse_field_selector(selector: str):
    for term in filter(None, (t.strip() for t in selector.split(","))):
        for op in ("!=", "==", "="):
            field, found, value = term.partition(op)
            if found:
                yield field.strip(), "!=" if op == "!=" else "=", value.strip()
                break


def field_selector(attrs: RequestInfo) -> tuple[tuple[str, str, str], ...]:
    return attrs.field_selector if isinstance(attrs, Attributes) else ()


class AlwaysAllow:
    def authorize(self, user: UserInfo, info: RequestInfo) -> tuple[Decision, str]:
        return Decision.ALLOW, ""

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[str], bool]:
        """Everything, as upstream's AlwaysAllow rule resolver answers: (rules, errors, incomplete)."""
        return [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                {"verbs": ["*"], "nonResourceURLs": ["*"]}], [], False


class Superuser:
    """system:masters may do anything, whatever RBAC holds (upstream's privileged-group authorizer)."""

    def authorize(self, user: UserInfo, info: RequestInfo) -> tuple[Decision, str]:
        return (Decision.ALLOW if SUPERUSER_GROUP in user.groups else Decision.NO_OPINION), ""


class Authorization:
    def __init__(self, authorizers: list[Authorizer]) -> None:
        self.authorizers = authorizers

    def authorize(self, user: UserInfo, info: RequestInfo) -> tuple[bool, str]:
        """(allowed, reason): the deciding authorizer's reason, or all reasons given, as upstream joins them."""
        reasons = []
        for authorizer in self.authorizers:
            decision, reason = authorizer.authorize(user, info)
            if decision is Decision.ALLOW:
                return True, reason
            if decision is Decision.DENY:
                return False, reason
            if reason:
                reasons.append(reason)
        return False, "\n".join(reasons)


def forbidden_message(user: UserInfo, info: RequestInfo) -> str:
    """What a 403 says the user cannot do, in upstream's words (responsewriters.forbiddenMessage)."""
    if not info.is_resource:
        return f'User "{user.name}" cannot {info.verb} path "{info.path}"'
    resource = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
    where = f'in the namespace "{info.namespace}"' if info.namespace else "at the cluster scope"
    return f'User "{user.name}" cannot {info.verb} resource "{resource}" in API group "{info.group}" {where}'
