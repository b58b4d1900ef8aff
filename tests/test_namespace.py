"""The namespace controller against a real API server: a terminating namespace carries upstream's deletion
conditions, saying what it waits for (objects held by finalizers, pods that outlive their grace period),
as `kubectl get ns -o yaml` and `kubectl describe ns` show them, and goes once nothing is left."""

from __future__ import annotations

import yaml

from controller_testing import Api, eventually

OK = {
    "NamespaceDeletionDiscoveryFailure": ("False", "ResourcesDiscovered", "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": ("False", "ParsedGroupVersions",
                                                    "All legacy kube types successfully parsed"),
    "NamespaceDeletionContentFailure": ("False", "ContentDeleted",
                                        "All content successfully deleted, may be waiting on finalization"),
    "NamespaceContentRemaining": ("False", "ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("False", "ContentRemoved", "All content successfully removed"),
}


def conditions_of(kubectl, name: str) -> dict[str, tuple[str, str, str]]:
    """The namespace's conditions as `kubectl get ns -o yaml` prints them, in the order written."""
    ns = yaml.safe_load(kubectl("get", "ns", name, "-o", "yaml"))
    assert ns["status"]["phase"] == "Terminating"
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in ns["status"].get("conditions") or ()}


def conditions_become(kubectl, name: str, want: dict[str, tuple[str, str, str]]) -> None:
    def check() -> bool:
        got = conditions_of(kubectl, name)
        assert got == want and list(got) == list(OK), got
        return True
    eventually(check, timeout=20)


def gone(kubectl, name: str) -> bool:
    return kubectl.run("get", "ns", name, check=False).returncode == 1


def test_a_namespace_held_by_a_finalizer_says_so_until_it_goes(kubectl, api: Api):
    kubectl("create", "namespace", "held")
    api.post("/api/v1/namespaces/held/configmaps",
             {"metadata": {"name": "kept", "finalizers": ["example.com/hold"]}, "data": {"a": "1"}})
    api.post("/api/v1/namespaces/held/configmaps", {"metadata": {"name": "plain"}})
    api.post("/api/v1/namespaces/held/secrets", {"metadata": {"name": "creds"}, "stringData": {"k": "v"}})
    kubectl("delete", "namespace", "held", "--wait=false")

    conditions_become(kubectl, "held", {
        **OK,
        "NamespaceContentRemaining": ("True", "SomeResourcesRemain",
                                      "Some resources are remaining: configmaps. has 1 resource instances"),
        "NamespaceFinalizersRemaining": ("True", "SomeFinalizerRemain",
                                         "Some finalizers are remaining: example.com/hold in 1 resource instances"),
    })
    assert kubectl("get", "cm,secrets", "-n", "held", "-o", "name").split() == ["configmap/kept"]
    described = kubectl("describe", "namespace", "held")
    assert "Status:       Terminating" in described
    assert "NamespaceFinalizersRemaining" in described and "SomeFinalizerRemain" in described

    kubectl("patch", "configmap", "kept", "-n", "held", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    eventually(lambda: gone(kubectl, "held"), timeout=20)


def test_a_pod_left_past_its_grace_period_is_a_content_failure(kubectl, api: Api):
    kubectl("create", "namespace", "stuck")
    # bound to a node whose kubelet never comes to finish it
    api.post("/api/v1/namespaces/stuck/pods", {"metadata": {"name": "p"}, "spec": {
        "nodeName": "absent", "terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": "nginx"}]}})
    kubectl("delete", "namespace", "stuck", "--wait=false")

    conditions_become(kubectl, "stuck", {
        **OK,
        "NamespaceDeletionContentFailure": (
            "True", "ContentDeletionFailed", "Failed to delete all resource types, 1 remaining: unexpected items "
            "still remain in namespace: stuck for gvr: /v1, Resource=pods"),
        "NamespaceContentRemaining": ("True", "SomeResourcesRemain",
                                      "Some resources are remaining: pods. has 1 resource instances"),
    })
    kubectl("delete", "pod", "p", "-n", "stuck", "--force", "--grace-period=0")
    eventually(lambda: gone(kubectl, "stuck"), timeout=30)
