"""Node health, taints and taint-based eviction against a real API server, with short periods.

There is no kubelet: a test "kubelet" posts Ready conditions through nodes/status and renews Leases in
kube-node-lease; a node whose lease the test stops renewing has lost its kubelet.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from controller_testing import Api, eventually, tuned_server
from timoneiro.apiserver.admission.defaulttolerationseconds import DefaultTolerationSeconds
from timoneiro.controllers.nodelifecycle import NodeLifecycleController

LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A server whose node controller judges nodes after 1.5s, and whose pods tolerate unreachable and
    not-ready nodes for 2s unless they say otherwise."""
    with tuned_server(tmp_path, monkeypatch, {
            NodeLifecycleController: {"grace_period": 1.5, "startup_grace_period": 1.5, "monitor_period": 0.1,
                                      "eviction_rate": 100.0},
            DefaultTolerationSeconds: {"not_ready_seconds": 2, "unreachable_seconds": 2}}) as srv:
        yield srv


def now(micro: bool = False) -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


class Kubelet:
    """Keeps a node's lease renewed from a thread until stopped; posts its Ready condition on demand."""

    def __init__(self, api: Api, name: str, ready: str = "True") -> None:
        self.api, self.name = api, name
        api.post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        self.post(ready)
        api.post(LEASES, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
                          "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now(True)}})
        self.start()

    def start(self) -> None:
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._renew, daemon=True)
        self.thread.start()

    def post(self, ready: str) -> None:
        stamp = now()
        reason = "KubeletReady" if ready == "True" else "KubeletNotReady"
        conditions = [{"type": "Ready", "status": ready, "reason": reason, "lastHeartbeatTime": stamp,
                       "lastTransitionTime": stamp}]
        self.api.patch(f"/api/v1/nodes/{self.name}/status", {"status": {"conditions": conditions}})

    def _renew(self) -> None:
        while not self.stopped.wait(0.2):
            self.api.patch(f"{LEASES}/{self.name}", {"spec": {"renewTime": now(True)}})

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


@pytest.fixture
def kubelets(api):
    running: list[Kubelet] = []
    yield lambda name, ready="True": running.append(Kubelet(api, name, ready)) or running[-1]
    for k in running:
        k.stop()  # stopping twice is harmless


def node(api: Api, name: str) -> dict:
    return api.get(f"/api/v1/nodes/{name}")


def taint_set(n: dict) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (n.get("spec") or {}).get("taints") or ()}


def ready(n: dict) -> dict:
    return next(c for c in n["status"]["conditions"] if c["type"] == "Ready")


def bound_pod(api: Api, name: str, node_name: str, tolerations: list[dict] = ()) -> None:
    api.post(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"nodeName": node_name, "tolerations": list(tolerations),
                             "containers": [{"name": "c", "image": "nginx"}]}})
    api.patch(f"{PODS}/{name}/status", {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True"}]}})


def deleting(api: Api, name: str) -> bool:
    return bool(api.get(f"{PODS}/{name}")["metadata"].get("deletionTimestamp"))


UNREACHABLE = "node.kubernetes.io/unreachable"


def test_silent_node_is_unknown_tainted_and_its_pods_evicted(api, kubectl, kubelets):
    kubelets("alive")
    dead = kubelets("dead")
    bound_pod(api, "plain", "dead")  # tolerates unreachable for the default 2s
    bound_pod(api, "quick", "dead", [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                                      "tolerationSeconds": 0}])
    bound_pod(api, "forever", "dead", [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}])
    bound_pod(api, "elsewhere", "alive")
    dead.stop()

    gone = eventually(lambda: ready(node(api, "dead"))["status"] == "Unknown" and node(api, "dead"), timeout=10)
    r = ready(gone)
    assert (r["reason"], r["message"]) == ("NodeStatusUnknown", "Kubelet stopped posting node status.")
    never = {c["type"]: c for c in gone["status"]["conditions"]}["MemoryPressure"]
    assert (never["status"], never["reason"]) == ("Unknown", "NodeStatusNeverUpdated")
    assert "NotReady" in kubectl("get", "node", "dead")
    eventually(lambda: taint_set(node(api, "dead")) == {(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")})
    assert next(t for t in node(api, "dead")["spec"]["taints"] if t["effect"] == "NoExecute")["timeAdded"]

    eventually(lambda: deleting(api, "quick"))
    assert not deleting(api, "plain")  # still within its 2s
    evicted = api.get(f"{PODS}/quick")["status"]["conditions"]
    assert {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager"}.items() <= \
        next(c for c in evicted if c["type"] == "DisruptionTarget").items()
    eventually(lambda: deleting(api, "plain"), timeout=10)
    assert not deleting(api, "forever")
    assert not deleting(api, "elsewhere")
    # the pods on the silent node no longer count as ready; the others do
    assert ready(api.get(f"{PODS}/forever"))["status"] == "False"
    assert ready(api.get(f"{PODS}/elsewhere"))["status"] == "True"
    assert ready(node(api, "alive"))["status"] == "True" and taint_set(node(api, "alive")) == set()

    # the kubelet comes back: the node is judged by its own report again, and untainted
    dead.post("True")
    dead.start()
    eventually(lambda: taint_set(node(api, "dead")) == set(), timeout=10)


def test_not_ready_nodes_and_full_disruption(api, kubectl, kubelets):
    kubelets("solo", ready="False")
    # the only node is not ready: every zone is fully disrupted, so nothing is tainted for eviction
    eventually(lambda: taint_set(node(api, "solo")) == {("node.kubernetes.io/not-ready", "NoSchedule")})
    kubectl("cordon", "solo")
    eventually(lambda: ("node.kubernetes.io/unschedulable", "NoSchedule") in taint_set(node(api, "solo")))
    kubectl("uncordon", "solo")
    eventually(lambda: ("node.kubernetes.io/unschedulable", "NoSchedule") not in taint_set(node(api, "solo")))
    assert ("node.kubernetes.io/not-ready", "NoExecute") not in taint_set(node(api, "solo"))
    # a healthy node joins: the zone is no longer fully disrupted and the not-ready node is tainted
    kubelets("helper")
    eventually(lambda: taint_set(node(api, "solo")) == {("node.kubernetes.io/not-ready", "NoSchedule"),
                                                      ("node.kubernetes.io/not-ready", "NoExecute")}, timeout=10)
    assert taint_set(node(api, "helper")) == set()
