"""The DaemonSet controller against a real API server, with Node objects and no kubelet or scheduler: a pod
pinned to each eligible node (selectors, taints, the automatic tolerations), nodes coming and going, status,
ControllerRevisions, failed pods, and rolling updates within maxUnavailable or maxSurge."""

from __future__ import annotations

from datetime import UTC, datetime

import yaml

from controller_testing import Api, eventually
from pod_progress import finish_pod, run_pod

NODES = "/api/v1/nodes"
PODS = "/api/v1/namespaces/default/pods"
DAEMONSETS = "/apis/apps/v1/namespaces/default/daemonsets"
REVISIONS = "/apis/apps/v1/namespaces/default/controllerrevisions"
HASH = "controller-revision-hash"
DAEMON_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def add_node(api: Api, name: str, labels: dict | None = None, taints: list[dict] | None = None) -> dict:
    """A node that reports Ready (so that the node lifecycle controller leaves it untainted)."""
    api.post(NODES, {"apiVersion": "v1", "kind": "Node",
                     "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
                     "spec": {"taints": taints or []}})
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return api.patch(f"{NODES}/{name}/status", {"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now,
         "lastTransitionTime": now}]}})


def daemonset_manifest(name: str = "agent", **spec: object) -> str:
    labels = {"app": name}
    pod_spec = {"containers": [{"name": "c", "image": "agent:1"}], **spec.pop("pod_spec", {})}
    return yaml.safe_dump({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
                           "spec": {"selector": {"matchLabels": labels},
                                    "template": {"metadata": {"labels": labels}, "spec": pod_spec}, **spec}})


def pods(api: Api) -> list[dict]:
    return [p for p in api.get(f"{PODS}?labelSelector=app=agent")["items"] if not p["metadata"].get("deletionTimestamp")]


def pinned_node(pod: dict) -> str:
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": terms[0]["matchFields"][0]["values"]}]}]
    return terms[0]["matchFields"][0]["values"][0]


def pods_on(api: Api, *nodes: str) -> dict[str, dict]:
    """Wait until there is exactly one pod on each of the nodes and none elsewhere."""
    def check() -> dict[str, dict]:
        by_node = {}
        for pod in pods(api):
            node = pinned_node(pod)
            assert node not in by_node, f"two pods on {node}"
            by_node[node] = pod
        assert sorted(by_node) == sorted(nodes), sorted(by_node)
        return by_node
    return eventually(check)


def status(api: Api, name: str = "agent") -> dict:
    return api.get(f"{DAEMONSETS}/{name}").get("status") or {}


def status_is(api: Api, **want: int) -> dict:
    def check() -> dict:
        got = status(api)
        assert {k: got.get(k, 0) for k in want} == want, got
        return got
    return eventually(check)


def test_a_pod_for_each_eligible_node(kubectl, api):
    add_node(api, "worker-1", {"role": "worker"})
    add_node(api, "worker-2", {"role": "worker"}, taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    add_node(api, "worker-3", {"role": "worker"},
             taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])
    add_node(api, "other", {"role": "other"})
    kubectl("apply", "-f", "-", input=daemonset_manifest(pod_spec={"nodeSelector": {"role": "worker"}}))

    by_node = pods_on(api, "worker-1", "worker-3")  # worker-2's taint is not tolerated; unschedulable is
    pod = by_node["worker-1"]
    assert pod["metadata"]["name"].startswith("agent-")
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    assert pod["spec"]["tolerations"] == DAEMON_TOLERATIONS
    assert pod["metadata"]["labels"]["pod-template-generation"] == "1"
    revision_hash = pod["metadata"]["labels"][HASH]

    (revision,) = api.get(REVISIONS)["items"]
    assert revision["metadata"]["name"] == f"agent-{revision_hash}" and revision["revision"] == 1
    assert revision["metadata"]["labels"] == {"app": "agent", HASH: revision_hash}
    assert revision["data"]["spec"]["template"]["$patch"] == "replace"

    got = status_is(api, desiredNumberScheduled=2, currentNumberScheduled=2, numberReady=0,
                    updatedNumberScheduled=2, numberAvailable=0, numberUnavailable=2, numberMisscheduled=0)
    assert got["observedGeneration"] == 1
    for p in by_node.values():
        run_pod(api, "default", p["metadata"]["name"])
    status_is(api, numberReady=2, numberAvailable=2, numberUnavailable=0)
    row = kubectl("get", "ds", "agent", "--no-headers").split()
    assert row[:7] == ["agent", "2", "2", "2", "2", "2", "role=worker"]


def test_pods_follow_nodes_joining_leaving_and_changing(api, kubectl):
    add_node(api, "a")
    kubectl("apply", "-f", "-", input=daemonset_manifest(pod_spec={"hostNetwork": True}))
    pod = pods_on(api, "a")["a"]
    assert {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"} \
        in pod["spec"]["tolerations"]
    add_node(api, "b")
    pods_on(api, "a", "b")
    # an untolerated NoExecute taint evicts, an untolerated NoSchedule one only keeps new pods out
    api.patch(f"{NODES}/a", {"spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}})
    api.patch(f"{NODES}/b", {"spec": {"taints": [{"key": "maintenance", "effect": "NoExecute"}]}})
    pods_on(api, "a")
    status_is(api, desiredNumberScheduled=0, currentNumberScheduled=0, numberMisscheduled=1)
    api.delete(f"{NODES}/a")
    eventually(lambda: pods(api) == [])  # a pod pinned to a node that is gone is never scheduled


def test_a_failed_pod_is_replaced(api, kubectl):
    add_node(api, "a")
    kubectl("apply", "-f", "-", input=daemonset_manifest())
    first = pods_on(api, "a")["a"]
    finish_pod(api, "default", first["metadata"]["name"], succeeded=False)
    replacement = eventually(lambda: (p := pods_on(api, "a")["a"])["metadata"]["uid"] != first["metadata"]["uid"] and p)
    assert replacement["metadata"]["name"] != first["metadata"]["name"]
    events = api.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=agent")["items"]
    assert any(e["reason"] == "FailedDaemonPod" and first["metadata"]["name"] in e["message"] for e in events)


def roll(api: Api, kubectl, nodes: list[str], **strategy: object) -> tuple[str, str]:
    """Start a DaemonSet on ready pods, change its image; answers (old hash, new hash)."""
    for node in nodes:
        add_node(api, node)
    kubectl("apply", "-f", "-", input=daemonset_manifest(updateStrategy={"type": "RollingUpdate", "rollingUpdate": strategy}))
    for pod in pods_on(api, *nodes).values():
        run_pod(api, "default", pod["metadata"]["name"])
    old = status_is(api, numberAvailable=len(nodes))
    assert old
    old_hash = pods(api)[0]["metadata"]["labels"][HASH]
    kubectl("set", "image", "ds/agent", "c=agent:2")
    new_hash = eventually(lambda: [r["metadata"]["labels"][HASH] for r in api.get(REVISIONS)["items"]
                                   if r["revision"] == 2])[0]
    return old_hash, new_hash


def test_rolling_update_keeps_within_max_unavailable(api, kubectl):
    old_hash, new_hash = roll(api, kubectl, ["a", "b", "c"], maxUnavailable=1)
    assert new_hash != old_hash
    for step in range(3):
        # exactly one node at a time gets a new (not yet ready) pod; the rest keep their old ready pods
        def one_new() -> dict:
            current = pods(api)
            fresh = [p for p in current if p["metadata"]["labels"][HASH] == new_hash and not p["status"].get("conditions")]
            assert len(fresh) == 1 and len(current) == 3, [(pinned_node(p), p["metadata"]["labels"][HASH]) for p in current]
            return fresh[0]
        new = eventually(one_new)
        olds = [p for p in pods(api) if p["metadata"]["labels"][HASH] == old_hash]
        assert len(olds) == 2 - step
        run_pod(api, "default", new["metadata"]["name"])
    status_is(api, updatedNumberScheduled=3, numberAvailable=3, numberReady=3)
    assert kubectl("rollout", "status", "ds/agent", "--timeout=10s").strip() == 'daemon set "agent" successfully rolled out'


def test_rolling_update_surges_before_removing(api, kubectl):
    old_hash, new_hash = roll(api, kubectl, ["a", "b"], maxSurge=1, maxUnavailable=0)
    for _ in range(2):
        # a new pod starts next to an old one; the old one goes once the new one is ready
        def surged() -> dict:
            by_hash = {}
            for pod in pods(api):
                by_hash.setdefault(pod["metadata"]["labels"][HASH], []).append(pod)
            waiting = [p for p in by_hash.get(new_hash, []) if not p["status"].get("conditions")]
            assert len(waiting) == 1, by_hash.keys()
            assert pinned_node(waiting[0]) in [pinned_node(p) for p in by_hash[old_hash]]
            return waiting[0]
        new = eventually(surged)
        run_pod(api, "default", new["metadata"]["name"])
        eventually(lambda n=pinned_node(new): [p["metadata"]["labels"][HASH] for p in pods(api) if pinned_node(p) == n] == [new_hash])
    status_is(api, updatedNumberScheduled=2, numberAvailable=2)
    assert sorted(r["revision"] for r in api.get(REVISIONS)["items"]) == [1, 2]
