"""The Kubernetes authorizer library: `authorizer.group('apps').resource('deployments').namespace('ns')
.check('create').allowed()`, `authorizer.path('/healthz').check('get')`, `authorizer.serviceAccount(ns, n)`
and `authorizer.requestResource`, each check asking the server's authorizers about the request's user."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from celpy import celtypes

# (user, attributes) -> (allowed, reason); attributes as upstream's authorizer.AttributesRecord names them
Check = Callable[[object, dict], tuple[bool, str]]
S, B = celtypes.StringType, celtypes.BoolType


@dataclass(frozen=True)
class _Target:
    path: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


class Authorizer(celtypes.MapType):
    """The `authorizer` variable: a map only so that `authorizer.requestResource` selects a field."""

    def __init__(self, user: object, check: Check, request: _Target | None = None,
                 service_account: Callable[[str, str], object] | None = None) -> None:
        super().__init__()
        self.user, self.check, self.service_account = user, check, service_account
        if request is not None:
            self[S("requestResource")] = _Checkable(self, request)


class _Checkable(celtypes.MapType):
    def __init__(self, authz: Authorizer, target: _Target) -> None:
        super().__init__()
        self.authz, self.target = authz, target

    def with_(self, **changes: str) -> _Checkable:
        return _Checkable(self.authz, replace(self.target, **changes))


class Decision(celtypes.MapType):
    def __init__(self, allowed: bool, reason: str) -> None:
        super().__init__()
        self.is_allowed, self.why = allowed, reason


def request_target(group: str, resource: str, subresource: str, namespace: str, name: str) -> _Target:
    return _Target(group=group, resource=resource, subresource=subresource, namespace=namespace, name=name)


def _check(c: _Checkable, verb: str) -> Decision:
    t = c.target
    attrs = {"verb": str(verb), "path": t.path, "group": t.group, "resource": t.resource,
             "subresource": t.subresource, "namespace": t.namespace, "name": t.name,
             "is_resource": not t.path}
    allowed, reason = c.authz.check(c.authz.user, attrs)
    return Decision(allowed, reason)


def _service_account(a: Authorizer, namespace: str, name: str) -> Authorizer:
    user = a.service_account(str(namespace), str(name)) if a.service_account else a.user
    return Authorizer(user, a.check, service_account=a.service_account)


def _field(attribute: str) -> Callable[[_Checkable, str], _Checkable]:
    return lambda c, value: c.with_(**{attribute: str(value)})


FUNCTIONS: dict[str, Callable] = {
    "path": lambda a, p: _Checkable(a, _Target(path=str(p))),
    "group": lambda a, g: _Checkable(a, _Target(group=str(g))),
    "resource": _field("resource"), "subresource": _field("subresource"),
    "namespace": _field("namespace"), "name": _field("name"),
    "check": _check, "serviceAccount": _service_account,
    "allowed": lambda d: B(d.is_allowed), "reason": lambda d: S(d.why),
    "errored": lambda d: B(False), "error": lambda d: S(""),
}
