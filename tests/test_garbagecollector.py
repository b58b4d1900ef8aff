"""The garbage collector against a real API server: kubectl's three cascades, blocking dependents,
dangling and cluster-scoped owners, custom resources found after start-up.

The trees are built by hand: a paused Deployment and a ReplicaSet of no replicas, and pods that the
ReplicaSet owns without controlling them (nor matching its selector), so that deployment and replicaset
controllers running alongside have nothing to do with them: what goes away, the collector removed.
"""

from __future__ import annotations

import yaml

from controller_testing import Api, eventually

NS = "/api/v1/namespaces/default"
APPS = "/apis/apps/v1/namespaces/default"


def owner_ref(obj: dict, block: bool = True, controller: bool = True) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": block}


def configmap(api: Api, name: str, owners: list[dict] = (), finalizers: list[str] = ()) -> dict:
    meta = {"name": name, "ownerReferences": list(owners), "finalizers": list(finalizers)}
    return api.post(f"{NS}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})


def deployment_tree(api: Api, name: str) -> tuple[dict, dict, list[dict]]:
    """A Deployment, its ReplicaSet and two pods, linked by ownerReferences as the controllers link them."""
    labels = {"app": name}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    dep = api.post(f"{APPS}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"tree": name}},
        "spec": {"replicas": 0, "paused": True, "selector": {"matchLabels": labels}, "template": template}})
    rs = api.post(f"{APPS}/replicasets", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{name}-1", "labels": {"tree": name, **labels},
                     "ownerReferences": [owner_ref(dep)]},
        "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": template}})
    pods = [api.post(f"{NS}/pods", {"apiVersion": "v1", "kind": "Pod",
                                    "metadata": {"name": f"{name}-1-{i}", "labels": {"tree": name},
                                                 "ownerReferences": [owner_ref(rs, controller=False)]},
                                    "spec": template["spec"]}) for i in range(2)]
    return dep, rs, pods


def names(kubectl, kind: str, *selector: str) -> list[str]:
    return kubectl("get", kind, *(("-l", *selector) if selector else ()), "-o", "name").split()


def test_background_cascade_removes_replicasets_and_pods(api, kubectl):
    deployment_tree(api, "web")
    kubectl("delete", "deployment", "web")
    eventually(lambda: names(kubectl, "replicasets", "tree=web") == [])
    eventually(lambda: names(kubectl, "pods", "tree=web") == [])


def test_orphan_cascade_keeps_dependents_and_drops_references(api, kubectl):
    dep, rs, pods = deployment_tree(api, "keep")
    kubectl("delete", "deployment", "keep", "--cascade=orphan")
    assert not api.exists(f"{APPS}/deployments/keep")
    left = api.get(f"{APPS}/replicasets/keep-1")
    assert left["metadata"]["uid"] == rs["metadata"]["uid"]
    assert not left["metadata"].get("ownerReferences")
    for pod in pods:  # the pods' owner, the ReplicaSet, is still there
        assert api.get(f"{NS}/pods/{pod['metadata']['name']}")["metadata"]["ownerReferences"][0]["uid"] == \
            rs["metadata"]["uid"]


def test_foreground_cascade_deletes_dependents_first(api, kubectl):
    deployment_tree(api, "fg")
    # kubectl waits until the Deployment is gone, which the collector allows only once nothing blocks it
    kubectl("delete", "deployment", "fg", "--cascade=foreground", "--timeout=30s")
    assert names(kubectl, "replicasets", "tree=fg") == []
    assert names(kubectl, "pods", "tree=fg") == []


def test_foreground_owner_waits_for_a_blocking_dependent(api):
    owner = configmap(api, "owner")
    configmap(api, "blocker", [owner_ref(owner)], finalizers=["example.com/hold"])
    configmap(api, "loose", [owner_ref(owner, block=False)])
    api.delete(f"{NS}/configmaps/owner", {"propagationPolicy": "Foreground"})
    # the blocker is asked to go (it stays for its finalizer), the non-blocking dependent goes
    eventually(lambda: api.get(f"{NS}/configmaps/blocker")["metadata"].get("deletionTimestamp"))
    eventually(lambda: not api.exists(f"{NS}/configmaps/loose"))
    held = api.get(f"{NS}/configmaps/owner")
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"] and held["metadata"]["deletionTimestamp"]
    api.patch(f"{NS}/configmaps/blocker", {"metadata": {"finalizers": None}})
    eventually(lambda: not api.exists(f"{NS}/configmaps/owner"))


def test_dangling_and_partial_owners(api):
    owner = configmap(api, "alive")
    never = {"apiVersion": "v1", "kind": "ConfigMap", "name": "never",
             "uid": "00000000-0000-0000-0000-000000000001"}
    configmap(api, "orphaned", [never])
    configmap(api, "two-owners", [owner_ref(owner, controller=False), never])
    eventually(lambda: not api.exists(f"{NS}/configmaps/orphaned"))
    refs = eventually(lambda: [r["uid"] for r in api.get(f"{NS}/configmaps/two-owners")["metadata"]
                               .get("ownerReferences", [])] == [owner["metadata"]["uid"]])
    assert refs
    # a new object that takes the name of a dead owner is not that owner
    configmap(api, "never")
    configmap(api, "fooled", [never])
    eventually(lambda: not api.exists(f"{NS}/configmaps/fooled"))
    assert api.exists(f"{NS}/configmaps/never")


def test_cluster_scoped_owner(api):
    role = api.post("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "gc-owner"},
        "rules": []})
    configmap(api, "of-role", [owner_ref(role)])
    api.delete("/apis/rbac.authorization.k8s.io/v1/clusterroles/gc-owner")
    eventually(lambda: not api.exists(f"{NS}/configmaps/of-role"))


def test_custom_resources_created_after_start(api, kubectl):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
    kubectl("apply", "-f", "-", input=yaml.safe_dump(crd))
    kubectl("wait", "--for=condition=Established", "crd/widgets.example.com")
    owner = configmap(api, "widget-owner")
    widget = eventually(lambda: api.post("/apis/example.com/v1/namespaces/default/widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "ownerReferences": [owner_ref(owner)]}}))
    # and a ConfigMap owned by the custom resource: the graph must know widgets to see this one's owner go
    configmap(api, "of-widget", [owner_ref(widget)])
    kubectl("delete", "configmap", "widget-owner")
    eventually(lambda: names(kubectl, "widgets") == [], timeout=15)
    eventually(lambda: not api.exists(f"{NS}/configmaps/of-widget"))
