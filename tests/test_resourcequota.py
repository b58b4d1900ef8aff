"""ResourceQuota: admission refuses what would exceed a quota and charges what fits, the quota controller
keeps status.used counted (giving back what deleted or finished objects used), and kubectl shows it."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
import yaml

from controller_testing import Api, async_http_client, eventually, tuned_server
from timoneiro.apiserver.quota.evaluators import (
    ClaimEvaluator,
    PodEvaluator,
    ServiceEvaluator,
    calculate_usage,
    evaluator_for,
)
from timoneiro.apiserver.quota.resources import to_json
from timoneiro.controllers.resourcequota import ResourceQuotaController

NS = "team"


def pod(name: str, cpu: str | None = None, **spec) -> dict:
    resources = {"requests": {"cpu": cpu}} if cpu else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"containers": [{"name": "c", "image": "nginx", "resources": resources}], **spec}}


def create(kubectl, obj: dict, check: bool = True):
    return kubectl.run("create", "-f", "-", input=yaml.safe_dump(obj), check=check)


def used(api, name: str = "q") -> dict:
    return (api.get(f"/api/v1/namespaces/{NS}/resourcequotas/{name}").get("status") or {}).get("used")


@pytest.fixture
def team(kubectl):
    kubectl("create", "namespace", NS)


def test_pods_are_admitted_until_the_quota_is_used(api, kubectl, team):
    kubectl("create", "quota", "q", "--hard=pods=2,requests.cpu=1", "-n", NS)
    # the controller sets the status; until then the quota does not count
    eventually(lambda: used(api) == {"pods": "0", "requests.cpu": "0"})
    refused = create(kubectl, pod("nothing"), check=False)
    assert refused.returncode == 1
    assert 'pods "nothing" is forbidden: failed quota: q: must specify requests.cpu for: c' in refused.stderr
    create(kubectl, pod("p1", "500m"))
    assert used(api) == {"pods": "1", "requests.cpu": "500m"}
    refused = create(kubectl, pod("p2", "600m"), check=False)
    assert 'pods "p2" is forbidden: exceeded quota: q, requested: requests.cpu=600m, used: requests.cpu=500m, ' \
           'limited: requests.cpu=1' in refused.stderr
    create(kubectl, pod("p2", "500m"))
    refused = create(kubectl, pod("p3", "100m"), check=False)
    assert 'pods "p3" is forbidden: exceeded quota: q, requested: pods=1,requests.cpu=100m, used: pods=2,' \
           'requests.cpu=1, limited: pods=2,requests.cpu=1' in refused.stderr

    described = kubectl("describe", "quota", "q", "-n", NS)
    assert re.search(r"^pods\s+2\s+2$", described, re.M), described
    assert re.search(r"^requests\.cpu\s+1\s+1$", described, re.M), described
    header, row = kubectl("get", "quota", "-n", NS).splitlines()
    assert header.split() == ["NAME", "REQUEST", "LIMIT", "AGE"]
    assert row.startswith("q ") and "pods: 2/2, requests.cpu: 1/1" in row

    # a dry run is checked but not charged
    kubectl("delete", "pod", "p1", "-n", NS)
    eventually(lambda: used(api) == {"pods": "1", "requests.cpu": "500m"})
    kubectl.run("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod("p3", "500m")))
    assert used(api) == {"pods": "1", "requests.cpu": "500m"}
    create(kubectl, pod("p3", "500m"))
    assert used(api) == {"pods": "2", "requests.cpu": "1"}


def test_concurrent_creates_cannot_exceed_the_quota(api, kubectl, server, team):
    kubectl("create", "quota", "q", "--hard=pods=3", "-n", NS)
    eventually(lambda: used(api) == {"pods": "0"})

    async def create_all() -> list[int]:
        async with async_http_client(server.admin) as http:
            answers = await asyncio.gather(*(http.post(f"/api/v1/namespaces/{NS}/pods", json=pod(f"p{i}"))
                                             for i in range(10)))
        return [a.status_code for a in answers]

    codes = asyncio.run(create_all())
    assert sorted(codes) == [201] * 3 + [403] * 7
    assert used(api) == {"pods": "3"}
    assert len(api.get(f"/api/v1/namespaces/{NS}/pods")["items"]) == 3


def test_object_counts_services_and_the_controller_recount(api, kubectl, team):
    kubectl("create", "configmap", "first", "-n", NS)
    kubectl("create", "quota", "q", "--hard=configmaps=2,count/deployments.apps=1,services.loadbalancers=0,"
            "services.nodeports=2", "-n", NS)
    # what was there before the quota is counted (the namespace's kube-root-ca.crt and "first")
    eventually(lambda: used(api) == {"configmaps": "2", "count/deployments.apps": "0",
                                     "services.loadbalancers": "0", "services.nodeports": "0"})
    refused = kubectl.run("create", "configmap", "second", "-n", NS, check=False)
    assert 'configmaps "second" is forbidden: exceeded quota: q, requested: configmaps=1, used: configmaps=2, ' \
           'limited: configmaps=2' in refused.stderr
    refused = kubectl.run("create", "service", "loadbalancer", "lb", "--tcp=80:80", "-n", NS, check=False)
    assert 'services "lb" is forbidden: exceeded quota: q, requested: services.loadbalancers=1, ' \
           'used: services.loadbalancers=0, limited: services.loadbalancers=0' in refused.stderr
    kubectl("create", "service", "nodeport", "np", "--tcp=80:80,443:443", "-n", NS)
    assert used(api)["services.nodeports"] == "2"
    kubectl("create", "deployment", "d1", "--image=nginx", "-n", NS)
    refused = kubectl.run("create", "deployment", "d2", "--image=nginx", "-n", NS, check=False)
    assert 'deployments.apps "d2" is forbidden: exceeded quota: q, requested: count/deployments.apps=1' \
           in refused.stderr
    # deletions are given back by the controller's recount
    kubectl("delete", "deployment", "d1", "-n", NS)
    kubectl("delete", "configmap", "first", "-n", NS)
    kubectl("patch", "service", "np", "-n", NS, "--type=json", "-p", json.dumps(
        [{"op": "replace", "path": "/spec/type", "value": "ClusterIP"},
         {"op": "remove", "path": "/spec/externalTrafficPolicy"},
         {"op": "remove", "path": "/spec/ports/0/nodePort"}, {"op": "remove", "path": "/spec/ports/1/nodePort"}]))
    eventually(lambda: used(api) == {"configmaps": "1", "count/deployments.apps": "0",
                                     "services.loadbalancers": "0", "services.nodeports": "0"})
    kubectl("create", "deployment", "d2", "--image=nginx", "-n", NS)


def test_scopes_and_finished_pods(api, kubectl, team):
    kubectl("create", "quota", "q", "--hard=pods=1", "--scopes=BestEffort", "-n", NS)
    eventually(lambda: used(api) == {"pods": "0"})
    create(kubectl, pod("be1"))
    refused = create(kubectl, pod("be2"), check=False)
    assert "exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1" in refused.stderr
    create(kubectl, pod("burstable", "100m"))  # outside the quota's scope
    assert used(api) == {"pods": "1"}
    # a finished pod no longer uses the quota
    api.request("PATCH", f"/api/v1/namespaces/{NS}/pods/be1/status", {"status": {"phase": "Succeeded"}},
                content_type="application/merge-patch+json")
    eventually(lambda: used(api) == {"pods": "0"})
    create(kubectl, pod("be2"))


def test_claims_are_charged_by_storage_class(api, kubectl, team):
    kubectl("create", "quota", "q", "--hard=requests.storage=1Gi,gold.storageclass.storage.k8s.io/requests.storage"
            "=500Mi,persistentvolumeclaims=5", "-n", NS)
    eventually(lambda: used(api) is not None)

    def claim(name: str, size: str, storage_class: str) -> dict:
        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NS},
                "spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": size}}}}

    refused = create(kubectl, claim("gold", "600Mi", "gold"), check=False)
    assert 'persistentvolumeclaims "gold" is forbidden: exceeded quota: q, requested: gold.storageclass.storage.k8s.io' \
           '/requests.storage=600Mi, used: gold.storageclass.storage.k8s.io/requests.storage=0, limited: ' \
           'gold.storageclass.storage.k8s.io/requests.storage=500Mi' in refused.stderr
    create(kubectl, claim("silver", "600Mi", "silver"))
    assert used(api) == {"gold.storageclass.storage.k8s.io/requests.storage": "0", "persistentvolumeclaims": "1",
                         "requests.storage": "600Mi"}
    refused = create(kubectl, claim("more", "500Mi", "silver"), check=False)
    assert "exceeded quota: q, requested: requests.storage=500Mi, used: requests.storage=600Mi, " \
           "limited: requests.storage=1Gi" in refused.stderr


# --- what objects use (pure)

def test_pod_usage_counts_sidecars_init_containers_and_overhead():
    spec = {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                                       "limits": {"cpu": "200m"}}}],
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "1", "memory": "32Mi"}}}],
            "overhead": {"cpu": "10m"}}
    usage = to_json(PodEvaluator().usage({"metadata": {}, "spec": spec}))
    assert usage == {"count/pods": "1", "pods": "1", "cpu": "1060m", "requests.cpu": "1060m", "memory": "64Mi",
                     "requests.memory": "64Mi", "limits.cpu": "210m"}
    assert to_json(PodEvaluator().usage({"metadata": {}, "spec": spec, "status": {"phase": "Failed"}})) == \
        {"count/pods": "1"}


def test_pod_scopes():
    pods = PodEvaluator()
    terminating = {"spec": {"activeDeadlineSeconds": 30, "priorityClassName": "high"}}
    plain = {"spec": {"affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "podAffinityTerm": {"topologyKey": "x", "namespaceSelector": {}}}]}}}}
    scope = lambda name, op="Exists", values=(): {"scopeName": name, "operator": op, "values": list(values)}  # noqa: E731
    assert pods.matches_scope(scope("Terminating"), terminating) and not pods.matches_scope(scope("Terminating"), plain)
    assert pods.matches_scope(scope("NotTerminating"), plain)
    assert pods.matches_scope(scope("PriorityClass", "In", ["high", "mid"]), terminating)
    assert not pods.matches_scope(scope("PriorityClass", "In", ["high"]), plain)
    assert pods.matches_scope(scope("PriorityClass", "NotIn", ["high"]), plain)
    assert pods.matches_scope(scope("CrossNamespacePodAffinity"), plain)
    assert not pods.matches_scope(scope("CrossNamespacePodAffinity"), terminating)
    assert pods.matches_scope(scope("BestEffort"), plain)


def test_service_and_claim_usage():
    lb = {"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False,
                   "ports": [{"port": 80, "nodePort": 30001}, {"port": 81}]}}
    assert to_json(ServiceEvaluator().usage(lb)) == {"count/services": "1", "services": "1",
                                                      "services.loadbalancers": "1", "services.nodeports": "1"}
    claim = {"metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "gold"}},
             "spec": {"storageClassName": "silver", "resources": {"requests": {"storage": "1.5"}}},
             "status": {"allocatedResources": {"storage": "1Gi"}}}
    assert to_json(ClaimEvaluator().usage(claim)) == {
        "count/persistentvolumeclaims": "1", "gold.storageclass.storage.k8s.io/persistentvolumeclaims": "1",
        "gold.storageclass.storage.k8s.io/requests.storage": "1Gi", "persistentvolumeclaims": "1",
        "requests.storage": "1Gi"}


def test_calculate_usage_masks_to_the_quota_and_skips_what_cannot_be_listed():
    quota = {"spec": {"hard": {"pods": "5", "count/widgets.example.com": "3", "secrets": "1"}}}
    widgets = evaluator_for("example.com", "widgets")
    objects = {widgets: [{}, {}], evaluator_for("", "pods"): [{"spec": {}}]}
    assert to_json(calculate_usage(quota, objects.get)) == {"count/widgets.example.com": "2", "pods": "1"}


def test_the_full_resync_recounts_every_quota(tmp_path, monkeypatch):
    """A status write (not a limit change) is not acted on at once, but the periodic recount corrects it."""
    with tuned_server(tmp_path, monkeypatch, {ResourceQuotaController: {"resync_period": 0.5}}) as srv:
        api = Api(srv.admin)
        try:
            api.post("/api/v1/namespaces", {"metadata": {"name": NS}})
            api.post(f"/api/v1/namespaces/{NS}/resourcequotas",
                     {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "4"}}})
            eventually(lambda: used(api) == {"pods": "0"})
            api.post(f"/api/v1/namespaces/{NS}/pods", pod("p"))
            api.request("PATCH", f"/api/v1/namespaces/{NS}/resourcequotas/q/status",
                        {"status": {"used": {"pods": "3"}}}, content_type="application/merge-patch+json")
            eventually(lambda: used(api) == {"pods": "1"})
        finally:
            api.close()
