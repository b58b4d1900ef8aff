"""How associated access policies take effect here: as RBAC objects the service writes in the cluster as
its super-admin. EKS evaluates access policies in an authorizer of its own; this service instead binds each
association's ClusterRole (see access_policies) to the access entry's username: a ClusterRoleBinding for a
cluster-scoped association, a RoleBinding in every namespace an association names (EKS's `*` wildcards
included) for a namespace-scoped one. The permissions are the same; unlike EKS's, they show in
`kubectl auth can-i --list` and in the cluster's RBAC objects, which carry the label LABEL.

The objects follow the cluster's document level-wise (`sync` makes them what the associations say, whatever
was there), after every access call, and whenever a namespace appears (keep_in_effect), so that a namespace
created after the association gets its RoleBinding too. An entry whose username is a template
({{SessionName}}, for a role's sessions) cannot be bound by name: its policies bind the usernames it has
rendered to, each added as a session first signs in (see usermapping), before the sign-in is answered."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import weakref
from typing import TYPE_CHECKING

from timoneiro.client import Client
from timoneiro.client.errors import ApiError, TransportError
from timoneiro.client.resources import NAMESPACES, Resource
from timoneiro.eks.access_policies import POLICIES
from timoneiro.eks.errors import AwsError

if TYPE_CHECKING:
    from timoneiro.eks.service import Eks

log = logging.getLogger("timoneiro.eks")
RBAC = "rbac.authorization.k8s.io"
CLUSTER_ROLES = Resource(RBAC, "v1", "clusterroles", namespaced=False)
CLUSTER_ROLE_BINDINGS = Resource(RBAC, "v1", "clusterrolebindings", namespaced=False)
ROLE_BINDINGS = Resource(RBAC, "v1", "rolebindings")
LABEL = "timoneiro.io/access-policy"  # on every object the service writes for access policies: the policy
PRINCIPAL = "timoneiro.io/principal-arn"  # the access entry a binding is for
RENDERED = "_renderedUsernames"  # in an access entry: username template -> the usernames it rendered to
WATCH_SECONDS = 300  # a namespace watch is begun again (with a full sync) at least this often
RETRY_SECONDS = 5.0
SERVING = ("ACTIVE", "UPDATING")  # cluster states in which its API server answers
# one sync at a time per cluster (of a service: each runs on its own event loop)
_locks: weakref.WeakKeyDictionary[Eks, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()

Key = tuple[str, str]  # (namespace, or "" for cluster-scoped objects; name)


def binding_name(policy_name: str, principal_arn: str) -> str:
    return f"eks:access-policy:{policy_name}:{hashlib.sha256(principal_arn.encode()).hexdigest()[:16]}"


def bound_usernames(entry: dict) -> list[str]:
    """Who an entry's policies bind: its username, or for a template the usernames it has rendered to for
    the sessions that signed in (RENDERED, recorded by the token webhook before it answers)."""
    username = entry.get("username") or ""
    if "{{" not in username:
        return [username] if username else []
    return list(entry.get(RENDERED, {}).get(username, []))


def matches(namespace: str, patterns: list[str]) -> bool:
    """Whether an association's namespaces name this one (`*` standing for any characters, as in EKS)."""
    return any(re.fullmatch(re.escape(p).replace(r"\*", ".*"), namespace) for p in patterns)


def wanted(doc: dict, namespaces: list[str]) -> dict[Resource, dict[Key, dict]]:
    """The RBAC objects a cluster's document calls for, given the namespaces that exist."""
    out: dict[Resource, dict[Key, dict]] = {CLUSTER_ROLES: {}, CLUSTER_ROLE_BINDINGS: {}, ROLE_BINDINGS: {}}
    for arn, associations in doc["associatedPolicies"].items():
        entry = doc["accessEntries"].get(arn)
        usernames = bound_usernames(entry) if entry is not None else []
        if not usernames:
            continue
        subjects = [{"apiGroup": RBAC, "kind": "User", "name": name} for name in usernames]
        for association in associations:
            policy = POLICIES[association["policyArn"]]
            meta = {"name": binding_name(policy.name, arn), "labels": {LABEL: policy.name},
                    "annotations": {PRINCIPAL: arn}}
            binding = {"apiVersion": f"{RBAC}/v1", "metadata": meta, "subjects": subjects,
                       "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": policy.cluster_role}}
            scope = association["accessScope"]
            if scope["type"] == "cluster":
                out[CLUSTER_ROLE_BINDINGS][("", meta["name"])] = {**binding, "kind": "ClusterRoleBinding"}
            for namespace in namespaces if scope["type"] == "namespace" else ():
                if matches(namespace, scope.get("namespaces") or []):
                    out[ROLE_BINDINGS][(namespace, meta["name"])] = {
                        **binding, "kind": "RoleBinding", "metadata": {**meta, "namespace": namespace}}
            if policy.rules:
                out[CLUSTER_ROLES][("", policy.cluster_role)] = {
                    "apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "rules": list(policy.rules),
                    "metadata": {"name": policy.cluster_role, "labels": {LABEL: policy.name}}}
    return out


def _lock(eks: Eks, cluster: str) -> asyncio.Lock:
    return _locks.setdefault(eks, {}).setdefault(cluster, asyncio.Lock())


async def sync(eks: Eks, cluster: str) -> None:
    """Make the cluster's access-policy RBAC objects what its document says."""
    async with Client(eks.control_plane(cluster).admin) as client:
        await _sync(client, eks, cluster)


async def sync_soon(eks: Eks, cluster: str) -> None:
    """sync after a change to the document, if the cluster serves (a cluster being created is synced once
    it does); should it not answer now, keep_in_effect's next sync catches up."""
    if eks.doc(cluster)["cluster"]["status"] not in SERVING:
        return
    try:
        await sync(eks, cluster)
    except (ApiError, TransportError) as e:
        log.warning("cluster %s: access policies not yet in effect: %s", cluster, e)


async def _sync(client: Client, eks: Eks, cluster: str) -> str:
    """sync, through a client of the cluster; the resourceVersion its namespaces were listed at."""
    async with _lock(eks, cluster):
        listing = await client.list_all(NAMESPACES)
        await _converge(client, wanted(eks.doc(cluster), [n["metadata"]["name"] for n in listing["items"]]))
    return listing["metadata"]["resourceVersion"]


async def _converge(client: Client, objects_by_resource: dict[Resource, dict[Key, dict]]) -> None:
    for resource, objects in objects_by_resource.items():
        have = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
                for o in (await client.list_all(resource, label_selector=LABEL))["items"]}
        for key, body in objects.items():
            current = have.pop(key, None)
            if current is not None and current.get("roleRef", {}) != body.get("roleRef", {}):  # immutable
                await _delete(client, resource, key)
                current = None
            if current is None:
                try:
                    await client.create(resource, body, key[0] or None)
                except ApiError as e:
                    if e.code != 409:
                        raise
            elif any(current.get(f) != body.get(f) for f in ("subjects", "rules")) or \
                    current["metadata"].get("annotations") != body["metadata"].get("annotations"):
                meta = {**body["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}
                await client.update(resource, {**body, "metadata": meta})
        for key in have:
            await _delete(client, resource, key)


async def _delete(client: Client, resource: Resource, key: Key) -> None:
    try:
        await client.delete(resource, key[1], key[0] or None)
    except ApiError as e:
        if e.code != 404:
            raise


def keep_in_effect(eks: Eks, cluster: str) -> None:
    """Follow the cluster's namespaces in the background, for as long as it exists."""
    eks.spawn(_follow_namespaces(eks, cluster), f"following the namespaces of cluster {cluster}")


async def _follow_namespaces(eks: Eks, cluster: str) -> None:
    """While the cluster exists: sync, then watch its namespaces and sync as each appears."""
    doc = eks.store.clusters.get(cluster)
    while doc is not None and eks.store.clusters.get(cluster) is doc:  # not another cluster of the same name
        try:
            async with Client(eks.control_plane(cluster).admin) as client:
                version = await _sync(client, eks, cluster)
                async with client.watch(NAMESPACES, resource_version=version, timeout_seconds=WATCH_SECONDS,
                                        allow_bookmarks=False) as events:
                    async for event in events:
                        if event.type == "ADDED":
                            await _sync(client, eks, cluster)
            continue
        except (ApiError, TransportError, AwsError) as e:  # AwsError: the cluster went meanwhile
            log.debug("cluster %s: following namespaces: %s", cluster, e)
        await asyncio.sleep(RETRY_SECONDS)
