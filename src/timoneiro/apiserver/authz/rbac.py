"""The RBAC authorizer: a request is allowed when a rule of a role bound to the user (or one of its groups,
or its ServiceAccount) allows it. Roles and bindings are read from the watch cache and indexed by
subject; the index is rebuilt when anything under the rbac prefix changes, so a decision is a few dict
lookups and rule matches."""

from __future__ import annotations

from typing import NamedTuple

import orjson

from timoneiro.apiserver.authn import UserInfo
from timoneiro.apiserver.authz import Decision
from timoneiro.apiserver.authz.follow import Follower
from timoneiro.apiserver.authz.rules import Rule, allows, compile_rule, go_quote
from timoneiro.apiserver.requestinfo import RequestInfo
from timoneiro.storage.cache import WatchCache

PREFIX = "/rbac.authorization.k8s.io/"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
MEMO_LIMIT = 10000  # users x namespaces whose bindings are remembered between index rebuilds


class Grant(NamedTuple):
    """What one binding gives one of its subjects: the rules of its role, or why they could not be read."""

    order: int
    rules: tuple[Rule, ...]
    source: str  # as upstream describes it in "RBAC: allowed by ..."
    error: str


def subject_key(subject: dict, binding_namespace: str) -> str | None:
    """The user or group name a subject matches, as "u:NAME" or "g:NAME" (a ServiceAccount is a user)."""
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return "u:" + name
    if kind == "Group":
        return "g:" + name
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return f"u:{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}" if namespace else None
    return None


def describe_subject(subject: dict, binding_namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return f'ServiceAccount {go_quote(subject.get("name", "") + "/" + namespace)}'
    return f'{subject.get("kind")} {go_quote(subject.get("name", ""))}'


def aggregate_errors(errors: list[str]) -> str:
    """Several errors as upstream's utilerrors.NewAggregate prints them."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


class RBACAuthorizer:
    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache
        self._follower = Follower(cache, PREFIX)
        self._cluster: dict[str, list[Grant]] = {}
        self._namespaced: dict[str, dict[str, list[Grant]]] = {}
        self.roles: dict[tuple[str, str], list[dict]] = {}  # (namespace or "", name) -> rules
        self._grants: dict[tuple, list[Grant]] = {}

    def _fresh(self) -> None:
        if self._follower.changes() != []:
            self._rebuild()

    def _objects(self, plural: str) -> list[dict]:
        return [orjson.loads(e.data) for e in self.cache.list(f"{PREFIX}{plural}/")]

    def _rebuild(self) -> None:
        roles: dict[tuple[str, str], list[dict]] = {}
        for role in self._objects("clusterroles") + self._objects("roles"):
            m = role["metadata"]
            roles[(m.get("namespace", ""), m["name"])] = role.get("rules") or []
        self.roles = roles
        self._cluster, self._namespaced, self._grants = {}, {}, {}
        order = 0
        for plural in ("clusterrolebindings", "rolebindings"):
            for binding in self._objects(plural):
                order += 1
                self._index(binding, order)

    def _index(self, binding: dict, order: int) -> None:
        m, ref = binding["metadata"], binding.get("roleRef") or {}
        namespace = m.get("namespace", "")
        role_namespace = namespace if ref.get("kind") == "Role" else ""
        rules = self.roles.get((role_namespace, ref.get("name", "")))
        error = "" if rules is not None else \
            f'{ref.get("kind", "").lower()}.rbac.authorization.k8s.io {go_quote(ref.get("name", ""))} not found'
        compiled = tuple(compile_rule(r) for r in rules or ())
        binding_kind = "RoleBinding" if namespace else "ClusterRoleBinding"
        shown = f"{m['name']}/{namespace}" if namespace else m["name"]
        index = self._namespaced.setdefault(namespace, {}) if namespace else self._cluster
        for subject in binding.get("subjects") or []:
            key = subject_key(subject, namespace)
            if key is None:
                continue
            source = (f"{binding_kind} {go_quote(shown)} of {ref.get('kind')} {go_quote(ref.get('name', ''))} "
                      f"to {describe_subject(subject, namespace)}")
            index.setdefault(key, []).append(Grant(order, compiled, source, error))

    def grants(self, user: UserInfo, namespace: str) -> list[Grant]:
        """The bindings that apply to the user in the namespace (cluster-wide ones first), each once."""
        self._fresh()
        memo = (user.name, user.groups, namespace)
        found = self._grants.get(memo)
        if found is None:
            if len(self._grants) > MEMO_LIMIT:
                self._grants.clear()
            keys = ["u:" + user.name, *("g:" + g for g in user.groups)]
            indexes = [self._cluster] + ([self._namespaced.get(namespace, {})] if namespace else [])
            seen: dict[int, Grant] = {}
            for index in indexes:
                for key in keys:
                    for grant in index.get(key, ()):
                        seen.setdefault(grant.order, grant)
            found = self._grants[memo] = [seen[o] for o in sorted(seen)]
        return found

    def authorize(self, user: UserInfo, attrs: RequestInfo) -> tuple[Decision, str]:
        errors = []
        for grant in self.grants(user, attrs.namespace):
            if grant.error:
                errors.append(grant.error)
            for rule in grant.rules:
                if allows(rule, attrs):
                    return Decision.ALLOW, f"RBAC: allowed by {grant.source}"
        return Decision.NO_OPINION, f"RBAC: {aggregate_errors(errors)}" if errors else ""

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[str], bool]:
        """Every rule the user holds in the namespace (cluster-wide if ""), the bindings' errors, and
        False: the list is complete."""
        grants = self.grants(user, namespace)
        return [r.source for g in grants for r in g.rules], [g.error for g in grants if g.error], False

    def role_rules(self, kind: str, namespace: str, name: str) -> list[dict] | None:
        """The rules of the Role (in namespace) or ClusterRole a roleRef names; None if there is none."""
        self._fresh()
        return self.roles.get((namespace if kind == "Role" else "", name))
