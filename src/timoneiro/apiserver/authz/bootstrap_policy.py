"""The default RBAC policy and its reconciliation on every server start (kube-apiserver's
rbac/bootstrap-roles post-start hook): what is missing is created; objects annotated autoupdate=true get
the rules, selectors, subjects, labels and annotations they lack, and keep what was added to them."""

from __future__ import annotations

import asyncio
import copy
import functools
import re
from importlib import resources
from typing import TYPE_CHECKING

import yaml

from timoneiro.apiserver.authz.rules import missing
from timoneiro.apiserver.generic import Context, DeleteOptions

if TYPE_CHECKING:
    from timoneiro.apiserver.app import APIServer

RBAC_GROUP = "rbac.authorization.k8s.io"
BOOTSTRAPPING = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"
CONTROLLER_PREFIX = "system:controller:"
# kubeadm init binds its administrators' group (admin.conf's organization) to cluster-admin
KUBEADM_ADMINS = {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRoleBinding",
                  "metadata": {"name": "kubeadm:cluster-admins"},
                  "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "cluster-admin"},
                  "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": "kubeadm:cluster-admins"}]}


def parse_rule(text: str) -> dict:
    verbs, groups, what, *names = re.sub(r",\s+", ",", text).split()
    if groups == "urls":
        return {"verbs": verbs.split(","), "nonResourceURLs": what.split(",")}
    rule = {"verbs": verbs.split(","), "apiGroups": ["" if g == "core" else g for g in groups.split(",")],
            "resources": what.split(",")}
    if names:
        rule["resourceNames"] = names[0].split(",")
    return rule


def parse_subject(text: str) -> dict:
    kind, name = text.split(" ", 1)
    if kind == "ServiceAccount":
        namespace, name = name.split("/", 1)
        return {"kind": kind, "name": name, "namespace": namespace}
    return {"apiGroup": RBAC_GROUP, "kind": kind, "name": name}


def _meta(name: str, namespace: str | None = None, labels: dict | None = None) -> dict:
    m = {"name": name, "labels": {**BOOTSTRAPPING, **(labels or {})}, "annotations": {AUTOUPDATE: "true"}}
    if namespace:
        m["namespace"] = namespace
    return m


def _role(kind: str, name: str, rules: list[str], namespace: str | None = None, labels: dict | None = None
          ) -> dict:
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": kind, "metadata": _meta(name, namespace, labels),
            "rules": [parse_rule(r) for r in rules]}


def _binding(kind: str, name: str, role_kind: str, role: str, subjects: list[dict],
             namespace: str | None = None) -> dict:
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": kind, "metadata": _meta(name, namespace),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role}, "subjects": subjects}


@functools.cache
def _data() -> dict:
    return yaml.safe_load(resources.files(__package__).joinpath("bootstrap_policy.yaml").read_text())


@functools.cache
def policy() -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """(ClusterRoles, ClusterRoleBindings, Roles, RoleBindings) as the hook creates them."""
    data = _data()
    cluster_roles, cluster_bindings = [], []
    for name, spec in data["clusterroles"].items():
        labels = {f"{AGGREGATE_TO}{t}": "true" for t in spec.get("aggregate-to", ())}
        role = _role("ClusterRole", name, spec.get("rules", ()), labels=labels)
        if "aggregate" in spec:
            role["aggregationRule"] = {"clusterRoleSelectors": [
                {"matchLabels": {f"{AGGREGATE_TO}{spec['aggregate']}": "true"}}]}
            role["rules"] = None
        cluster_roles.append(role)
    for name, subjects in data["clusterrolebindings"].items():
        cluster_bindings.append(_binding("ClusterRoleBinding", name, "ClusterRole", name,
                                         [parse_subject(s) for s in subjects]))
    for controller, rules in data["controllers"].items():
        name = CONTROLLER_PREFIX + controller
        cluster_roles.append(_role("ClusterRole", name, rules))
        cluster_bindings.append(_binding("ClusterRoleBinding", name, "ClusterRole", name, [
            {"kind": "ServiceAccount", "name": controller, "namespace": "kube-system"}]))
    roles = [_role("Role", name, rules, namespace)
             for namespace, named in data["roles"].items() for name, rules in named.items()]
    bindings = [_binding("RoleBinding", name, "Role", spec["role"], [parse_subject(s) for s in spec["subjects"]],
                         namespace)
                for namespace, named in data["rolebindings"].items() for name, spec in named.items()]
    return cluster_roles, cluster_bindings, roles, bindings


@functools.cache
def node_rules() -> list[dict]:
    """The system:node ClusterRole's rules: what the Node authorizer grants kubelets beyond its graph."""
    return [parse_rule(r) for r in _data()["clusterroles"]["system:node"]["rules"]]


async def reconcile(api: APIServer) -> None:
    cluster_roles, cluster_bindings, roles, bindings = policy()
    for plural, objects in (("clusterroles", cluster_roles), ("clusterrolebindings", cluster_bindings),
                            ("roles", roles), ("rolebindings", bindings)):
        kind = api.registry.get(RBAC_GROUP, "v1", plural)
        # concurrently, so that the store commits them in a few batches rather than one fsync each
        await asyncio.gather(*(_reconcile_one(api, kind, copy.deepcopy(expected)) for expected in objects))
    kind = api.registry.get(RBAC_GROUP, "v1", "clusterrolebindings")
    if api.cache.get(kind.key(None, KUBEADM_ADMINS["metadata"]["name"])) is None:
        await api.generic.create(Context(), kind, copy.deepcopy(KUBEADM_ADMINS))


async def _reconcile_one(api: APIServer, kind, expected: dict) -> None:
    name, namespace = expected["metadata"]["name"], expected["metadata"].get("namespace")
    entry = api.cache.get(kind.key(namespace, name))
    ctx = Context(namespace=namespace)
    if entry is None:
        await api.generic.create(ctx, kind, expected)
        return
    current = await api.generic.get(kind, namespace, name)
    if (current["metadata"].get("annotations") or {}).get(AUTOUPDATE) != "true":
        return
    if "roleRef" in expected and current.get("roleRef") != expected["roleRef"]:  # immutable: replace it
        await api.generic.delete(Context(namespace=namespace), kind, name, DeleteOptions())
        await api.generic.create(Context(namespace=namespace), kind, expected)
        return
    reconciled = reconciled_object(current, expected)
    if reconciled is not None:
        await api.generic.modify(ctx, kind, name, lambda _current: reconciled)


def reconciled_object(current: dict, expected: dict) -> dict | None:
    """`current` with what `expected` has and it lacks (upstream's union reconciliation), or None when it
    lacks nothing."""
    new = copy.deepcopy(current)
    m = new["metadata"]
    for field in ("labels", "annotations"):
        m[field] = {**(expected["metadata"].get(field) or {}), **(m.get(field) or {})}
    if "roleRef" in expected:
        have = new.get("subjects") or []
        new["subjects"] = have + [s for s in expected.get("subjects") or [] if s not in have]
    else:
        new["rules"] = (new.get("rules") or []) + missing(new.get("rules") or [], expected.get("rules") or [])
        wanted = (expected.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
        if wanted:
            have = (new.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
            new["aggregationRule"] = {"clusterRoleSelectors": have + [s for s in wanted if s not in have]}
    return None if _equal(new, current) else new


def _equal(a: dict, b: dict) -> bool:
    def norm(o: dict) -> dict:
        return {**o, "rules": o.get("rules") or [], "subjects": o.get("subjects") or []}
    return norm(a) == norm(b)
