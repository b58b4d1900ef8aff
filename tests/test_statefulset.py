"""The StatefulSet controller against a real API server, pods moved along by status writes: ordered and
parallel creation, stable identity and claims, scale down from the top, rolling updates by revision with a
partition, failed pods recreated, and status."""

from __future__ import annotations

import yaml

from controller_testing import Api, eventually
from pod_progress import finish_pod, run_pod
from timoneiro.controllers.stateful_claim_owners import has_stale_owner, owners_up_to_date, with_owners

PODS = "/api/v1/namespaces/default/pods"
PVCS = "/api/v1/namespaces/default/persistentvolumeclaims"
STATEFULSETS = "/apis/apps/v1/namespaces/default/statefulsets"
REVISIONS = "/apis/apps/v1/namespaces/default/controllerrevisions"
HASH = "controller-revision-hash"


def sts_manifest(replicas: int = 3, **spec: object) -> str:
    labels = {"app": "web"}
    template = {"metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}
    return yaml.safe_dump({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
                           "spec": {"replicas": replicas, "serviceName": "web", "selector": {"matchLabels": labels},
                                    "template": template, **spec}})


def pod_names(api: Api) -> list[str]:
    items = api.get(f"{PODS}?labelSelector=app=web")["items"]
    return sorted(p["metadata"]["name"] for p in items if not p["metadata"].get("deletionTimestamp"))


def names_are(api: Api, *names: str) -> None:
    """Wait until the set's pods (not being deleted) are exactly these."""
    def check() -> bool:
        assert pod_names(api) == sorted(names)
        return True
    eventually(check)


def pod(api: Api, name: str) -> dict:
    return api.get(f"{PODS}/{name}")


def ready(api: Api, *names: str) -> None:
    for name in names:
        run_pod(api, "default", name)


def status_is(api: Api, **want: object) -> dict:
    def check() -> dict:
        got = api.get(f"{STATEFULSETS}/web").get("status") or {}
        assert {k: got.get(k, 0) for k in want} == want, got
        return got
    return eventually(check)


def events(api: Api) -> list[tuple[str, str]]:
    items = api.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=web")["items"]
    return [(e["reason"], e["message"]) for e in items]


def test_ordered_creation_identity_and_claims(kubectl, api):
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                    "resources": {"requests": {"storage": "1Gi"}}}}
    kubectl("apply", "-f", "-", input=sts_manifest(volumeClaimTemplates=[claim]))
    names_are(api, "web-0")  # web-1 waits for web-0 to be Running and Ready
    first = pod(api, "web-0")
    assert first["spec"]["hostname"] == "web-0" and first["spec"]["subdomain"] == "web"
    labels = first["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "web-0" and labels["apps.kubernetes.io/pod-index"] == "0"
    assert first["spec"]["volumes"][0] == {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}}
    pvc = api.get(f"{PVCS}/data-web-0")
    assert pvc["metadata"]["labels"] == {"app": "web"} and pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    (revision,) = api.get(REVISIONS)["items"]
    assert labels[HASH] == revision["metadata"]["name"] and revision["metadata"]["name"].startswith("web-")

    ready(api, "web-0")
    names_are(api, "web-0", "web-1")
    run_pod(api, "default", "web-1", ready=False)  # running but not ready: web-2 still waits
    status_is(api, replicas=2, readyReplicas=1, currentReplicas=2, updatedReplicas=2)
    assert pod_names(api) == ["web-0", "web-1"]
    ready(api, "web-1")
    names_are(api, "web-0", "web-1", "web-2")
    ready(api, "web-2")
    got = status_is(api, replicas=3, readyReplicas=3, availableReplicas=3, currentReplicas=3, updatedReplicas=3)
    assert got["currentRevision"] == got["updateRevision"] == revision["metadata"]["name"]
    assert got["observedGeneration"] == 1 and got["collisionCount"] == 0
    assert sorted(p["metadata"]["name"] for p in api.get(PVCS)["items"]) == ["data-web-0", "data-web-1", "data-web-2"]
    assert kubectl("get", "sts", "web", "--no-headers").split()[:2] == ["web", "3/3"]
    got_events = events(api)
    assert ("SuccessfulCreate", "create Pod web-0 in StatefulSet web successful") in got_events
    assert ("SuccessfulCreate", "create Claim data-web-0 Pod web-0 in StatefulSet web success") in got_events


def test_scale_down_removes_the_highest_ordinal_first(kubectl, api):
    kubectl("apply", "-f", "-", input=sts_manifest(3))
    for n in range(3):
        names_are(api, *(f"web-{i}" for i in range(n + 1)))
        ready(api, f"web-{n}")
    api.patch(f"{PODS}/web-2", {"metadata": {"finalizers": ["test/hold"]}})  # web-2 will linger, terminating
    kubectl("scale", "sts", "web", "--replicas=1")
    names_are(api, "web-0", "web-1")  # web-2 goes first ...
    eventually(lambda: pod(api, "web-2")["metadata"].get("deletionTimestamp"))
    status_is(api, replicas=3, currentReplicas=2)  # a sync saw web-2 terminating (it still counts as created)
    assert pod_names(api) == ["web-0", "web-1"]  # ... and web-1 waits until it is gone
    api.patch(f"{PODS}/web-2", {"metadata": {"finalizers": None}})
    names_are(api, "web-0")
    status_is(api, replicas=1, readyReplicas=1)
    assert ("SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful") in events(api)


def test_parallel_creates_all_at_once(kubectl, api):
    kubectl("apply", "-f", "-", input=sts_manifest(3, podManagementPolicy="Parallel"))
    names_are(api, "web-0", "web-1", "web-2")


def test_rolling_update_from_the_top_down_to_the_partition(kubectl, api):
    kubectl("apply", "-f", "-", input=sts_manifest(3, podManagementPolicy="Parallel"))
    names_are(api, "web-0", "web-1", "web-2")
    ready(api, "web-0", "web-1", "web-2")
    old = status_is(api, readyReplicas=3)["currentRevision"]
    kubectl("patch", "sts", "web", "--type=merge", "-p",
            '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":1}}}}')
    kubectl("set", "image", "sts/web", "c=nginx:2")
    new = eventually(lambda: (s := status_is(api)).get("updateRevision") != old and s["updateRevision"])

    for name in ("web-2", "web-1"):
        def updated(name: str = name) -> dict:
            p = pod(api, name)
            assert p["metadata"]["labels"][HASH] == new and not p["status"].get("conditions"), p["metadata"]["labels"]
            return p
        recreated = eventually(updated)
        assert recreated["spec"]["containers"][0]["image"] == "nginx:2"
        ready(api, name)
    # web-0 is below the partition: it keeps the old revision
    got = status_is(api, readyReplicas=3, updatedReplicas=2, currentReplicas=1)
    assert (got["currentRevision"], got["updateRevision"]) == (old, new)
    assert pod(api, "web-0")["metadata"]["labels"][HASH] == old

    kubectl("patch", "sts", "web", "--type=merge", "-p", '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}')
    eventually(lambda: pod(api, "web-0")["metadata"]["labels"][HASH] == new)
    ready(api, "web-0")
    got = status_is(api, readyReplicas=3, updatedReplicas=3, currentReplicas=3)
    assert got["currentRevision"] == got["updateRevision"] == new
    assert sorted(r["revision"] for r in api.get(REVISIONS)["items"]) == [1, 2]
    assert "partitioned roll out complete" in kubectl("rollout", "status", "sts/web", "--timeout=10s") or \
        "roll out complete" in kubectl("rollout", "status", "sts/web", "--timeout=10s")


def test_a_failed_pod_is_recreated_under_its_name(kubectl, api):
    kubectl("apply", "-f", "-", input=sts_manifest(1))
    names_are(api, "web-0")
    uid = pod(api, "web-0")["metadata"]["uid"]
    finish_pod(api, "default", "web-0", succeeded=False)
    eventually(lambda: api.exists(f"{PODS}/web-0") and pod(api, "web-0")["metadata"]["uid"] != uid)
    assert ("RecreatingFailedPod", "StatefulSet default/web is recreating failed Pod web-0") in events(api)


CLAIM = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                "resources": {"requests": {"storage": "1Gi"}}}}


def claims(api: Api) -> dict[str, list[tuple[str, str, bool]]]:
    """The claims (not being deleted), each with its owners as (kind, name, controller)."""
    return {c["metadata"]["name"]: [(r["kind"], r["name"], r.get("controller", False))
                                    for r in c["metadata"].get("ownerReferences") or ()]
            for c in api.get(PVCS)["items"] if not c["metadata"].get("deletionTimestamp")}


def claims_are(api: Api, want: dict[str, list[tuple[str, str, bool]]]) -> None:
    def check() -> bool:
        assert claims(api) == want
        return True
    eventually(check)


def test_claims_go_with_the_set_when_deleted_is_delete(kubectl, api):
    policy = {"whenDeleted": "Retain", "whenScaled": "Retain"}
    kubectl("apply", "-f", "-", input=sts_manifest(2, podManagementPolicy="Parallel", volumeClaimTemplates=[CLAIM],
                                                   persistentVolumeClaimRetentionPolicy=policy))
    names_are(api, "web-0", "web-1")
    claims_are(api, {"data-web-0": [], "data-web-1": []})
    uid = api.get(f"{STATEFULSETS}/web")["metadata"]["uid"]

    kubectl("patch", "sts", "web", "--type=merge", "-p",
            '{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Delete"}}}')
    owned = [("StatefulSet", "web", True)]
    claims_are(api, {"data-web-0": owned, "data-web-1": owned})
    ref = api.get(f"{PVCS}/data-web-0")["metadata"]["ownerReferences"][0]
    assert (ref["apiVersion"], ref["uid"], ref["blockOwnerDeletion"]) == ("apps/v1", uid, True)

    kubectl("scale", "sts", "web", "--replicas=1")  # scaling retains: data-web-1 stays, owned by the set
    names_are(api, "web-0")
    assert claims(api) == {"data-web-0": owned, "data-web-1": owned}

    kubectl("delete", "sts", "web")  # the garbage collector takes the claims along
    eventually(lambda: api.get(PVCS)["items"] == [])


def test_claims_of_removed_pods_go_when_scaled_is_delete(kubectl, api):
    policy = {"whenDeleted": "Retain", "whenScaled": "Delete"}
    kubectl("apply", "-f", "-", input=sts_manifest(3, podManagementPolicy="Parallel", volumeClaimTemplates=[CLAIM],
                                                   persistentVolumeClaimRetentionPolicy=policy))
    names_are(api, "web-0", "web-1", "web-2")
    ready(api, "web-0", "web-1", "web-2")
    claims_are(api, {"data-web-0": [], "data-web-1": [], "data-web-2": []})
    held = pod(api, "web-2")["metadata"]["uid"]
    api.patch(f"{PODS}/web-2", {"metadata": {"finalizers": ["test/hold"]}})  # web-2 lingers, terminating

    kubectl("scale", "sts", "web", "--replicas=1")
    names_are(api, "web-0")
    # each removed pod owned its claim before it went: web-1's claim went with it, web-2's waits for it
    claims_are(api, {"data-web-0": [], "data-web-2": [("Pod", "web-2", True)]})
    assert api.get(f"{PVCS}/data-web-2")["metadata"]["ownerReferences"][0]["uid"] == held

    kubectl("scale", "sts", "web", "--replicas=3")  # web-2's name waits until its old claim is gone
    names_are(api, "web-0", "web-1")
    status_is(api, replicas=3)  # web-1 and the terminating web-2
    api.patch(f"{PODS}/web-2", {"metadata": {"finalizers": None}})
    names_are(api, "web-0", "web-1", "web-2")
    claims_are(api, {"data-web-0": [], "data-web-1": [], "data-web-2": []})  # a new claim for the new web-2
    new_pod, new_claim = pod(api, "web-2")["metadata"], api.get(f"{PVCS}/data-web-2")["metadata"]
    assert new_pod["uid"] != held
    # neither was written since it was made (no kubelet here): the new claim came first, so the pod was
    # not made while the old claim, about to be collected, was still there
    assert int(new_claim["resourceVersion"]) < int(new_pod["resourceVersion"])

    kubectl("delete", "sts", "web")  # deleting the set retains them
    eventually(lambda: pod_names(api) == [])
    assert sorted(claims(api)) == ["data-web-0", "data-web-1", "data-web-2"]


def test_claim_owners_as_the_policy_wants_unless_another_controller_has_them():
    sts = {"metadata": {"name": "web", "uid": "set-uid", "namespace": "default"}, "spec": {
        "replicas": 1, "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"}}}
    kept, removed = ({"metadata": {"name": f"web-{i}", "uid": f"pod-{i}"}} for i in range(2))
    claim = {"metadata": {"name": "data-web-1"}}
    owners = lambda c: [(r["kind"], r["name"], r["controller"]) for r in c["metadata"]["ownerReferences"]]  # noqa: E731
    assert not owners_up_to_date(claim, sts, removed)
    assert owners(with_owners(claim, sts, removed)) == [("Pod", "web-1", True)]  # goes with its pod
    assert owners(with_owners(claim, sts, kept)) == [("StatefulSet", "web", True)]  # goes with the set
    assert owners_up_to_date(with_owners(claim, sts, kept), sts, kept)

    other = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": "rs", "controller": True}
    theirs = {"metadata": {"name": "data-web-1", "ownerReferences": [other]}}
    assert owners_up_to_date(theirs, sts, removed)  # left alone
    ours_too = with_owners(claim, sts, removed)
    ours_too["metadata"]["ownerReferences"].append(other)
    assert not owners_up_to_date(ours_too, sts, removed)  # ours must go
    assert with_owners(ours_too, sts, removed)["metadata"]["ownerReferences"] == [other]

    earlier = {"metadata": {"name": "data-web-1", "ownerReferences": [
        {"apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": "an-earlier-web-1", "controller": True}]}}
    assert has_stale_owner(earlier, removed, ("v1", "Pod")) and owners_up_to_date(earlier, sts, removed)
