"""Impersonation (upstream's WithImpersonation filter): a request with Impersonate-User (and optionally
Impersonate-Group, Impersonate-Uid, Impersonate-Extra-KEY) headers acts as that user, when the requester
may `impersonate` each of them: users, groups or serviceaccounts, uids and userextras/KEY."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from timoneiro.apiserver import errors
from timoneiro.apiserver.authn import ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, UserInfo
from timoneiro.apiserver.authz import Authorization, forbidden_message
from timoneiro.apiserver.requestinfo import RequestInfo

if TYPE_CHECKING:
    from timoneiro.apiserver.http import Request

USER_HEADER = "impersonate-user"
GROUP_HEADER = "impersonate-group"
UID_HEADER = "impersonate-uid"
EXTRA_PREFIX = "impersonate-extra-"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
AUTHENTICATION_GROUP = "authentication.k8s.io"


def _headers(req: Request) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in req.scope.get("headers", ())
            if k[:12].lower() == b"impersonate-"]


def impersonate(req: Request, user: UserInfo, authorization: Authorization) -> UserInfo:
    """The user the request acts as: `user` itself without Impersonate-* headers; 403 for one it may not
    impersonate."""
    headers = _headers(req)
    if not headers:
        return user
    name = next((v for k, v in headers if k == USER_HEADER), None)
    groups = [v for k, v in headers if k == GROUP_HEADER]
    uid = next((v for k, v in headers if k == UID_HEADER), "")
    extra: dict[str, list[str]] = {}
    for k, v in headers:
        if k.startswith(EXTRA_PREFIX):
            extra.setdefault(unquote(k[len(EXTRA_PREFIX):]), []).append(v)
    if not name:
        asked = [f"Group {g}" for g in groups] + [f"UserExtra {k}" for k in extra] + ([f"UID {uid}"] if uid else [])
        raise errors.internal(f"requested [{', '.join(asked)}] without impersonating a user")
    if name.startswith(SERVICE_ACCOUNT_PREFIX) and name.count(":") == 3:
        namespace, account = name[len(SERVICE_ACCOUNT_PREFIX):].split(":")
        checks = [RequestInfo(True, "", verb="impersonate", namespace=namespace, resource="serviceaccounts",
                              name=account)]
    else:
        checks = [RequestInfo(True, "", verb="impersonate", resource="users", name=name)]
    checks += [RequestInfo(True, "", verb="impersonate", resource="groups", name=g) for g in groups]
    checks += [RequestInfo(True, "", verb="impersonate", group=AUTHENTICATION_GROUP, resource="userextras",
                           subresource=key, name=value) for key, values in extra.items() for value in values]
    if uid:
        checks.append(RequestInfo(True, "", verb="impersonate", group=AUTHENTICATION_GROUP, resource="uids",
                                  name=uid))
    for attrs in checks:
        allowed, reason = authorization.authorize(user, attrs)
        if not allowed:
            raise errors.request_forbidden(attrs, forbidden_message(user, attrs), reason)
    if checks[0].resource == "serviceaccounts" and not groups:  # a ServiceAccount's groups are known
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{checks[0].namespace}"]
    if name == ANONYMOUS:
        if UNAUTHENTICATED not in groups:
            groups.append(UNAUTHENTICATED)
    elif AUTHENTICATED not in groups and UNAUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return UserInfo(name, uid, tuple(groups), {k: tuple(v) for k, v in extra.items()})
