"""PodDisruptionBudget status against a real API server, and `kubectl drain` stopping at a budget.

Most pods here are controlled by a custom resource with a scale subresource that no controller acts on,
so the pods are exactly the ones the test makes; their readiness is written through pods/status.
"""

from __future__ import annotations

import pytest
import yaml

from controller_testing import Api, eventually

NS = "/api/v1/namespaces/default"
PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": True, "storage": True,
                              "subresources": {"scale": {"specReplicasPath": ".spec.replicas",
                                                         "statusReplicasPath": ".status.replicas"}},
                              "schema": {"openAPIV3Schema": {"type": "object",
                                                             "x-kubernetes-preserve-unknown-fields": True}}}]}}


@pytest.fixture
def api(api, kubectl):
    """The shared client, once the widgets CRD is established."""
    kubectl("apply", "-f", "-", input=yaml.safe_dump(CRD))
    kubectl("wait", "--for=condition=Established", "crd/widgets.example.com")
    return api


def widget(api: Api, name: str, replicas: int) -> dict:
    return eventually(lambda: api.post(WIDGETS, {"apiVersion": "example.com/v1", "kind": "Widget",
                                                 "metadata": {"name": name}, "spec": {"replicas": replicas}}))


def pod(api: Api, name: str, owner: dict | None, ready: bool = True, node: str | None = None,
        app: str = "web") -> None:
    meta: dict = {"name": name, "labels": {"app": app}}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "controller": True,
                                    "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}]
    spec: dict = {"containers": [{"name": "c", "image": "nginx"}], "nodeName": node}
    api.post(f"{NS}/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    set_ready(api, name, ready)


def set_ready(api: Api, name: str, ready: bool) -> None:
    api.patch(f"{NS}/pods/{name}/status", {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}})


def pdb(api: Api, name: str, app: str = "web", **spec) -> None:
    api.post(PDBS, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
                    "spec": {"selector": {"matchLabels": {"app": app}}, **spec}})


def status_is(api: Api, name: str, **want) -> dict:
    """The budget's status once its fields have the wanted values."""
    def check() -> dict:
        status = api.get(f"{PDBS}/{name}").get("status") or {}
        return status if all(status.get(k) == v for k, v in want.items()) else {}
    return eventually(check)


def allowed_condition(status: dict) -> dict:
    return next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")


def test_budget_from_a_controllers_scale(api, kubectl):
    w = widget(api, "w", 4)
    for i in range(3):
        pod(api, f"w-{i}", w)
    pod(api, "w-3", w, ready=False)
    pdb(api, "half", maxUnavailable="50%")
    status = status_is(api, "half", expectedPods=4, desiredHealthy=2, currentHealthy=3, disruptionsAllowed=1)
    cond = allowed_condition(status)
    assert (cond["status"], cond["reason"]) == ("True", "SufficientPods")
    assert status["observedGeneration"] == api.get(f"{PDBS}/half")["metadata"]["generation"]
    assert kubectl("get", "pdb", "half", "--no-headers").split()[1:4] == ["N/A", "50%", "1"]

    set_ready(api, "w-0", False)
    status = status_is(api, "half", currentHealthy=2, disruptionsAllowed=0)
    cond = allowed_condition(status)
    assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")

    # a selected pod whose controller has no scale: no disruption is allowed until that is fixed
    cm = api.post(f"{NS}/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odd"}})
    set_ready(api, "w-0", True)
    pod(api, "odd-one", cm)

    def failed() -> dict:
        c = allowed_condition(api.get(f"{PDBS}/half")["status"])
        return c if c["reason"] == "SyncFailed" else {}
    assert eventually(failed)["message"] == 'found no controllers for pod "odd-one"'
    assert api.get(f"{PDBS}/half")["status"]["disruptionsAllowed"] == 0


def test_min_available_counts_selected_pods_and_drain_stops_at_it(api, kubectl):
    api.post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    w = widget(api, "db", 3)
    for i in range(3):
        pod(api, f"db-{i}", w, node="n1", app="db")
    pod(api, "stray", None, node="n1", app="other")  # not covered by the budget, and of no controller
    pdb(api, "keep-two", app="db", minAvailable=2)
    status_is(api, "keep-two", expectedPods=3, desiredHealthy=2, currentHealthy=3, disruptionsAllowed=1)

    # drain evicts through pods/eviction: the budget lets one db pod go, then refuses the others
    proc = kubectl.run("drain", "n1", "--force", "--grace-period=0", "--timeout=8s", check=False, timeout=60)
    assert proc.returncode != 0
    # refused with 429 (disruption budget), or 409 while the eviction API cannot yet retry concurrent
    # spends of one budget (both stop drain: only a 429 is retried by it)
    assert "disruption budget" in proc.stderr or '"keep-two"' in proc.stderr, proc.stdout + proc.stderr
    left = [p["metadata"]["name"] for p in api.get(f"{NS}/pods")["items"]]
    assert "stray" not in left
    assert len([n for n in left if n.startswith("db-")]) == 2
    assert api.get("/api/v1/nodes/n1")["spec"]["unschedulable"] is True
    # the evicted pod is gone, so it no longer needs to be remembered as disrupted
    status_is(api, "keep-two", currentHealthy=2, disruptionsAllowed=0)
    eventually(lambda: not status_is(api, "keep-two").get("disruptedPods"))


def test_budget_of_a_deployment(api, kubectl):
    kubectl("create", "deployment", "site", "--image=nginx", "--replicas=3")
    names = eventually(lambda: [p["metadata"]["name"] for p in
                                api.get(f"{NS}/pods?labelSelector=app=site")["items"]] if
                       len(api.get(f"{NS}/pods?labelSelector=app=site")["items"]) == 3 else [], timeout=20)
    for name in names:
        set_ready(api, name, True)
    pdb(api, "site", app="site", maxUnavailable=1)
    status_is(api, "site", expectedPods=3, desiredHealthy=2, currentHealthy=3, disruptionsAllowed=1)
