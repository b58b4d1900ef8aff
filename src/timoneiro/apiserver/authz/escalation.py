"""RBAC's guard against privilege escalation (upstream's rbac registry policybased storage): a user may write
a Role or ClusterRole only with every permission it grants (or the `escalate` verb on it), and a binding
only with every permission of the role it binds (or the `bind` verb on that role). system:masters and the
server itself are exempt."""

from __future__ import annotations

import copy

from timoneiro.api.kinds import Kind, Registry
from timoneiro.apiserver import errors
from timoneiro.apiserver.authn import UserInfo
from timoneiro.apiserver.authz import SUPERUSER_GROUP, Authorization
from timoneiro.apiserver.authz.rbac import RBACAuthorizer
from timoneiro.apiserver.authz.rules import compact, compact_string, go_quote, go_quote_list, missing
from timoneiro.apiserver.generic import Context
from timoneiro.apiserver.requestinfo import RequestInfo

RBAC_GROUP = "rbac.authorization.k8s.io"
FULL_AUTHORITY = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                  {"verbs": ["*"], "nonResourceURLs": ["*"]}]
# what a write may change without being checked: what the garbage collector needs to delete the object
GC_FIELDS = ("ownerReferences", "finalizers", "deletionTimestamp", "deletionGracePeriodSeconds",
             "resourceVersion", "managedFields", "selfLink")


def only_gc_fields_changed(new: dict, old: dict) -> bool:
    def strip(obj: dict) -> dict:
        obj = copy.copy(obj)
        obj["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in GC_FIELDS}
        return obj
    return strip(new) == strip(old)


class EscalationCheck:
    """A generic.validators hook for writes of roles, clusterroles, rolebindings and clusterrolebindings."""

    def __init__(self, rbac: RBACAuthorizer, authorization: Authorization, registry: Registry) -> None:
        self.rbac = rbac
        self.authorization = authorization
        self.registry = registry

    def __call__(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        user = ctx.user
        if kind.group != RBAC_GROUP or not isinstance(user, UserInfo) or SUPERUSER_GROUP in user.groups:
            return
        if old is not None and only_gc_fields_changed(new, old):
            return
        if kind.plural in ("roles", "clusterroles"):
            self._role(ctx, kind, user, new, old)
        elif kind.plural in ("rolebindings", "clusterrolebindings"):
            self._binding(ctx, kind, user, new)

    def _allowed(self, user: UserInfo, verb: str, resource: str, name: str, namespace: str) -> bool:
        attrs = RequestInfo(True, "", verb=verb, group=RBAC_GROUP, version="*", namespace=namespace,
                            resource=resource, name=name)
        return self.authorization.authorize(user, attrs)[0]

    def _role(self, ctx: Context, kind: Kind, user: UserInfo, new: dict, old: dict | None) -> None:
        name, namespace = new["metadata"]["name"], ctx.namespace or ""
        # a create names no object in its request, so `escalate` on one name only lets it be updated
        if self._allowed(user, "escalate", kind.plural, name if old is not None else "", namespace):
            return
        owned, problems, _ = self.rbac.rules_for(user, namespace)
        self._confirm(kind, name, user, owned, problems, new.get("rules") or [])
        if kind.plural == "clusterroles" and (new.get("aggregationRule") or (old or {}).get("aggregationRule")) \
                and missing(owned, FULL_AUTHORITY):
            raise errors.forbidden(kind, name, "must have cluster-admin privileges to use the aggregationRule")

    def _binding(self, ctx: Context, kind: Kind, user: UserInfo, new: dict) -> None:
        name, namespace = new["metadata"]["name"], ctx.namespace or ""
        ref = new.get("roleRef") or {}
        role_plural = {"ClusterRole": "clusterroles", "Role": "roles"}.get(ref.get("kind", ""))
        if role_plural and self._allowed(user, "bind", role_plural, ref.get("name", ""), namespace):
            return
        rules = self.rbac.role_rules(ref.get("kind", ""), namespace, ref.get("name", ""))
        if rules is None:
            role_kind = self.registry.get(RBAC_GROUP, "v1", role_plural or "clusterroles")
            raise errors.not_found(role_kind, ref.get("name", ""))
        owned, problems, _ = self.rbac.rules_for(user, namespace)
        self._confirm(kind, name, user, owned, problems, rules)

    @staticmethod
    def _confirm(kind: Kind, name: str, user: UserInfo, owned: list[dict], problems: list[str],
                 wanted: list[dict]) -> None:
        gaps = missing(owned, wanted)
        if not gaps:
            return
        lines = sorted({compact_string(rule) for rule in compact(gaps)})
        why = (f"user {go_quote(user.name)} (groups={go_quote_list(user.groups)}) is attempting to grant RBAC "
               "permissions not currently held:\n" + "\n".join(lines))
        if problems:
            why += f"; resolution errors: [{' '.join(problems)}]"
        raise errors.forbidden(kind, name, why)
