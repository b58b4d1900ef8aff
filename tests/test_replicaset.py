"""The ReplicaSet and ReplicationController controllers against a real API server: pods created with
controller references, scaling both ways (cheapest pods first), adoption and release, status counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller_testing import Api, eventually
from pod_progress import run_pod
from timoneiro.client import ApiError
from timoneiro.controllers.pod_deletion import pods_to_delete
from timoneiro.controllers.replicaset import replica_status, slow_start

NS = "default"
RS_PATH = f"/apis/apps/v1/namespaces/{NS}/replicasets"
RC_PATH = f"/api/v1/namespaces/{NS}/replicationcontrollers"
PODS_PATH = f"/api/v1/namespaces/{NS}/pods"


def replica_set(name: str, replicas: int, labels: dict | None = None) -> dict:
    labels = labels or {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def pods_of(api: Api, owner_uid: str) -> list[dict]:
    items = api.get(PODS_PATH)["items"]
    return [p for p in items if any(r["uid"] == owner_uid for r in p["metadata"].get("ownerReferences") or ())]


def wait_pods(api: Api, owner_uid: str, count: int) -> list[dict]:
    def check() -> tuple[list[dict]]:
        pods = pods_of(api, owner_uid)
        assert len(pods) == count, f"{len(pods)} pods, want {count}"
        return (pods,)  # truthy even when empty
    return eventually(check)[0]


def wait_status(api: Api, path: str, **want: int) -> dict:
    def check() -> dict:
        status = api.get(path).get("status") or {}
        got = {k: status.get(k, 0) for k in want}
        assert got == want, f"status {got}, want {want}"
        return status
    return eventually(check)


def test_creates_pods_with_controller_refs_and_events(api):
    rs = api.post(RS_PATH, replica_set("web", 3))
    pods = wait_pods(api, rs["metadata"]["uid"], 3)
    for pod in pods:
        assert pod["metadata"]["generateName"] == "web-"
        assert pod["metadata"]["name"].startswith("web-")
        assert pod["metadata"]["labels"] == {"app": "web"}
        assert pod["metadata"]["ownerReferences"] == [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": rs["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}]
    status = wait_status(api, f"{RS_PATH}/web", replicas=3, fullyLabeledReplicas=3, observedGeneration=1)
    assert status.get("readyReplicas", 0) == 0

    def events() -> list[str]:
        items = api.get(f"/api/v1/namespaces/{NS}/events")["items"]
        found = sorted(e["message"] for e in items if e["reason"] == "SuccessfulCreate")
        assert found == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)
        return items
    event = eventually(events)[0]
    assert event["involvedObject"]["kind"] == "ReplicaSet" and event["source"]["component"] == "replicaset-controller"

    for pod in pods:
        run_pod(api, NS, pod["metadata"]["name"])
    wait_status(api, f"{RS_PATH}/web", replicas=3, readyReplicas=3, availableReplicas=3)


def test_scales_down_cheapest_pods_first_then_up(api, kubectl):
    rs = api.post(RS_PATH, replica_set("web", 3))
    uid = rs["metadata"]["uid"]
    pods = wait_pods(api, uid, 3)
    keep = pods[0]["metadata"]["name"]
    run_pod(api, NS, keep)  # the only ready one: the others go first
    wait_status(api, f"{RS_PATH}/web", readyReplicas=1)
    kubectl("scale", "rs/web", "--replicas=1")
    remaining = wait_pods(api, uid, 1)
    assert remaining[0]["metadata"]["name"] == keep
    wait_status(api, f"{RS_PATH}/web", replicas=1, readyReplicas=1, observedGeneration=2)
    messages = {e["message"] for e in api.get(f"/api/v1/namespaces/{NS}/events")["items"]
                if e["reason"] == "SuccessfulDelete"}
    assert messages == {f"Deleted pod: {p['metadata']['name']}" for p in pods[1:]}

    kubectl("scale", "rs/web", "--replicas=4")
    wait_pods(api, uid, 4)
    wait_status(api, f"{RS_PATH}/web", replicas=4, observedGeneration=3)


def test_releases_pods_that_stop_matching_and_adopts_orphans(api):
    orphan = api.post(PODS_PATH, {"apiVersion": "v1", "kind": "Pod",
                                  "metadata": {"name": "stray", "labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    rs = api.post(RS_PATH, replica_set("web", 2))
    uid = rs["metadata"]["uid"]
    pods = wait_pods(api, uid, 2)
    assert "stray" in {p["metadata"]["name"] for p in pods}  # adopted, so only one pod was created
    adopted = api.get(f"{PODS_PATH}/stray")
    assert adopted["metadata"]["uid"] == orphan["metadata"]["uid"]
    assert adopted["metadata"]["ownerReferences"][0]["controller"] is True

    api.patch(f"{PODS_PATH}/stray", {"metadata": {"labels": {"app": "other"}}})
    eventually(lambda: not api.get(f"{PODS_PATH}/stray")["metadata"].get("ownerReferences"))
    replacement = wait_pods(api, uid, 2)
    assert "stray" not in {p["metadata"]["name"] for p in replacement}


def test_replication_controller(api, kubectl):
    rc = api.post(RC_PATH, {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "old"},
                            "spec": {"replicas": 2, "selector": {"app": "old"},
                                     "template": {"metadata": {"labels": {"app": "old"}},
                                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
    pods = wait_pods(api, rc["metadata"]["uid"], 2)
    assert pods[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"
    assert pods[0]["metadata"]["generateName"] == "old-"
    for pod in pods:
        run_pod(api, NS, pod["metadata"]["name"])
    wait_status(api, f"{RC_PATH}/old", replicas=2, readyReplicas=2, availableReplicas=2, observedGeneration=1)
    kubectl("scale", "rc/old", "--replicas=0")
    wait_pods(api, rc["metadata"]["uid"], 0)


def test_min_ready_seconds_holds_back_availability(api):
    body = replica_set("slow", 1)
    body["spec"]["minReadySeconds"] = 2
    rs = api.post(RS_PATH, body)
    pod = wait_pods(api, rs["metadata"]["uid"], 1)[0]
    run_pod(api, NS, pod["metadata"]["name"])
    wait_status(api, f"{RS_PATH}/slow", readyReplicas=1, availableReplicas=0)
    wait_status(api, f"{RS_PATH}/slow", readyReplicas=1, availableReplicas=1)


# the pure parts


def _pod(name: str, node: str = "", phase: str = "Pending", ready_since: datetime | None = None,
         created: datetime | None = None, uid: str = "") -> dict:
    status: dict = {"phase": phase}
    if ready_since is not None:
        status["conditions"] = [{"type": "Ready", "status": "True",
                                 "lastTransitionTime": ready_since.strftime("%Y-%m-%dT%H:%M:%SZ")}]
    meta = {"name": name, "uid": uid or name}
    if created is not None:
        meta["creationTimestamp"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": meta, "spec": {"nodeName": node}, "status": status}


def test_deletion_order():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    old, recent = now - timedelta(hours=5), now - timedelta(seconds=30)
    pods = [
        _pod("ready-old", "n1", "Running", old, old),
        _pod("ready-recent", "n2", "Running", recent, recent),
        _pod("running", "n1", "Running"),
        _pod("pending", "n1"),
        _pod("unscheduled"),
    ]
    order = [p["metadata"]["name"] for p in pods_to_delete(pods, [], 4, now)]
    assert order == ["unscheduled", "pending", "running", "ready-recent"]
    # doubled up on a node with more siblings goes first, other things equal
    a, b = _pod("a", "busy", "Running", old, old), _pod("b", "quiet", "Running", old, old)
    related = [a, b, _pod("c", "busy", "Running")]
    assert pods_to_delete([b, a], related, 1, now)[0]["metadata"]["name"] == "a"
    # a lower pod-deletion-cost goes first
    b["metadata"]["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": "-5"}
    assert pods_to_delete([a, b], related, 1, now)[0]["metadata"]["name"] == "b"


def test_status_reports_replica_failure():
    rs = replica_set("web", 3)
    rs["metadata"]["generation"] = 1
    error = ApiError({"code": 403, "reason": "Forbidden", "message": "exceeded quota"})
    now = datetime(2025, 1, 1, tzinfo=UTC)
    status = replica_status(rs, [], error, now)
    assert status["conditions"] == [{"type": "ReplicaFailure", "status": "True",
                                     "lastTransitionTime": "2025-01-01T00:00:00Z",
                                     "reason": "FailedCreate", "message": "exceeded quota"}]
    rs["status"] = status
    assert "conditions" not in replica_status(rs, [], None, now)


async def test_slow_start_stops_after_a_failing_batch():
    calls = 0

    async def create() -> None:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise RuntimeError("quota")
    done, error = await slow_start(10, create)
    assert (calls, done, str(error)) == (7, 3, "quota")  # batches of 1, 2, then 4 with failures

    async def fine() -> None:
        pass
    assert await slow_start(7, fine) == (7, None)
