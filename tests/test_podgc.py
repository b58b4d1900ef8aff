"""The pod garbage collector against a real API server, with a short period, quarantine and threshold."""

from __future__ import annotations

import time

import pytest

from controller_testing import Api, eventually, tuned_server
from timoneiro.controllers.podgc import PodGCController

PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture
def server(tmp_path, monkeypatch):
    with tuned_server(tmp_path, monkeypatch, {
            PodGCController: {"period": 0.1, "quarantine": 1.0, "terminated_threshold": 2}}) as srv:
        yield srv


def pod(api: Api, name: str, node: str | None = None, phase: str = "Running", reason: str | None = None) -> None:
    api.post(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]}})
    status = {"phase": phase, **({"reason": reason} if reason else {})}
    api.patch(f"{PODS}/{name}/status", {"status": status})


def names(api: Api) -> set[str]:
    return {p["metadata"]["name"] for p in api.get(PODS)["items"]}


def node(api: Api, name: str, **spec) -> None:
    api.post("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec})


def test_pods_of_deleted_nodes_go_after_the_quarantine(api, kubectl):
    node(api, "real")
    pod(api, "kept", "real")
    started = time.monotonic()
    pod(api, "orphan", "ghost")
    pod(api, "latecomer", "late")
    node(api, "late")  # registers within the quarantine: its pod stays
    eventually(lambda: "orphan" not in names(api), timeout=10)
    assert time.monotonic() - started >= 1.0  # not before the quarantine
    assert {"kept", "latecomer"} <= names(api)
    # a node deleted later takes its pods with it, once quarantined
    kubectl("delete", "node", "real")
    eventually(lambda: "kept" not in names(api), timeout=10)
    assert "latecomer" in names(api)


def test_finished_pods_above_the_threshold_oldest_and_evicted_first(api):
    pod(api, "done-0", phase="Succeeded")
    pod(api, "done-1", phase="Failed")
    pod(api, "done-2", phase="Succeeded")
    pod(api, "evicted", phase="Failed", reason="Evicted")
    pod(api, "running")
    eventually(lambda: names(api) == {"done-1", "done-2", "running"})


def test_terminating_pods_on_an_out_of_service_node_are_removed(api):
    node(api, "broken", taints=[{"key": "node.kubernetes.io/out-of-service", "effect": "NoExecute"}])
    api.patch("/api/v1/nodes/broken/status", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    pod(api, "stuck", "broken")
    api.delete(f"{PODS}/stuck")  # bound: it waits for a kubelet that will not come
    eventually(lambda: "stuck" not in names(api))
