"""The admission plugins run in kube-apiserver's order, which shows where a request breaks more than one
plugin's rule, or where one plugin's change decides another's answer: NamespaceLifecycle first; the
ServiceAccount plugin (mutating) before PodSecurity; Priority and DefaultStorageClass (mutating) before
ResourceQuota, which is last, after PodSecurity. (LimitRanger's defaults before ResourceQuota:
test_limitranger.test_defaults_satisfy_a_quota_that_requires_requests.)"""

from __future__ import annotations

import pytest
import yaml

from controller_testing import eventually

NS = "ordered"
PRIVILEGED = {"securityContext": {"privileged": True}}
COMPLIANT = {"securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                 "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}}


def pod(name: str, container: dict | None = None, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"containers": [{"name": "c", "image": "nginx", **(container or {})}], **spec}}


def refusal(kubectl, obj: dict) -> str:
    answer = kubectl.run("create", "-f", "-", input=yaml.safe_dump(obj), check=False)
    assert answer.returncode == 1, answer.stdout
    return answer.stderr.strip()


def quota_counted(api, name: str = "q") -> None:
    eventually(lambda: (api.get(f"/api/v1/namespaces/{NS}/resourcequotas/{name}").get("status") or {}).get("used"))


@pytest.fixture
def restricted(kubectl, api):
    kubectl("create", "namespace", NS)
    kubectl("label", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted")
    eventually(lambda: api.exists(f"/api/v1/namespaces/{NS}/serviceaccounts/default"))


def test_a_terminating_namespace_refuses_before_any_other_plugin(kubectl, api, restricted):
    kubectl("create", "quota", "q", "--hard=pods=0", "-n", NS)
    quota_counted(api)
    api.post(f"/api/v1/namespaces/{NS}/configmaps", {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    kubectl("delete", "namespace", NS, "--wait=false")
    assert refusal(kubectl, pod("p", PRIVILEGED, serviceAccountName="ghost")) == (
        f'Error from server (Forbidden): error when creating "STDIN": pods "p" is forbidden: unable to create new '
        f"content in namespace {NS} because it is being terminated")
    api.patch(f"/api/v1/namespaces/{NS}/configmaps/held", {"metadata": {"finalizers": None}})


def test_a_missing_service_account_is_refused_before_pod_security(kubectl, restricted):
    assert refusal(kubectl, pod("p", PRIVILEGED, serviceAccountName="ghost")) == (
        f'Error from server (Forbidden): error when creating "STDIN": pods "p" is forbidden: error looking up '
        f'service account {NS}/ghost: serviceaccount "ghost" not found')


def test_pod_security_refuses_before_resource_quota(kubectl, api, restricted):
    kubectl("create", "quota", "q", "--hard=pods=0", "-n", NS)
    quota_counted(api)
    assert refusal(kubectl, pod("p", PRIVILEGED)).startswith(
        'Error from server (Forbidden): error when creating "STDIN": pods "p" is forbidden: violates PodSecurity '
        '"restricted:latest": privileged (container "c" must not set securityContext.privileged=true)')
    assert refusal(kubectl, pod("p", COMPLIANT)) == (
        'Error from server (Forbidden): error when creating "STDIN": pods "p" is forbidden: exceeded quota: q, '
        "requested: pods=1, used: pods=0, limited: pods=0")


def test_the_default_priority_class_is_set_before_quota_scopes_are_matched(kubectl, api, restricted):
    kubectl("create", "priorityclass", "everyday", "--value=1000", "--global-default")
    kubectl("create", "-f", "-", input=yaml.safe_dump({
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "everyday-pods", "namespace": NS},
        "spec": {"hard": {"pods": "0"}, "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["everyday"]}]}}}))
    quota_counted(api, "everyday-pods")
    assert refusal(kubectl, pod("p", COMPLIANT)) == (  # the pod names no class: Priority gave it "everyday"
        'Error from server (Forbidden): error when creating "STDIN": pods "p" is forbidden: exceeded quota: '
        "everyday-pods, requested: pods=1, used: pods=0, limited: pods=0")


def test_the_default_storage_class_is_set_before_the_claim_is_charged(kubectl, api, restricted):
    kubectl("create", "-f", "-", input=yaml.safe_dump({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "example.com/disk",
        "metadata": {"name": "gold", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}))
    kubectl("create", "quota", "q", "--hard=gold.storageclass.storage.k8s.io/requests.storage=500Mi", "-n", NS)
    quota_counted(api)
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": NS},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "600Mi"}}}}
    assert refusal(kubectl, claim) == (
        'Error from server (Forbidden): error when creating "STDIN": persistentvolumeclaims "data" is forbidden: '
        "exceeded quota: q, requested: gold.storageclass.storage.k8s.io/requests.storage=600Mi, used: "
        "gold.storageclass.storage.k8s.io/requests.storage=0, limited: gold.storageclass.storage.k8s.io/"
        "requests.storage=500Mi")
