"""The Job and TTL-after-finished controllers against a real API server, with the pods moved along by
status writes (no kubelet): completions and parallelism, pod failures and the back-off limit, deadlines,
Indexed Jobs, suspension, the tracking finalizer and deletion after a TTL."""

from __future__ import annotations

import pytest
import yaml

from controller_testing import Api, eventually
from pod_progress import finish_pod, run_pod
from timoneiro.controllers.job import JobController
from timoneiro.controllers.job_pods import TRACKING_FINALIZER

BATCH = "/apis/batch/v1/namespaces/default/jobs"
PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """Failed pods are replaced at once instead of after 10s, 20s, 40s ..."""
    monkeypatch.setattr(JobController, "backoff_base", 0.01)


def job_manifest(name: str = "pi", **spec: object) -> str:
    template = {"spec": {"restartPolicy": "Never",
                         "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}
    return yaml.safe_dump({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                           "spec": {"template": template, **spec}})


def job(api: Api, name: str = "pi") -> dict:
    return api.get(f"{BATCH}/{name}")


def job_pods(api: Api, name: str = "pi") -> list[dict]:
    return api.get(f"{PODS}?labelSelector=batch.kubernetes.io/job-name={name}")["items"]


def active_pods(api: Api, name: str = "pi", count: int = 1) -> list[dict]:
    """Wait for exactly `count` unfinished, undeleted pods of the Job."""
    def check() -> list[dict]:
        pods = [p for p in job_pods(api, name) if p["status"].get("phase") not in ("Succeeded", "Failed")
                and not p["metadata"].get("deletionTimestamp")]
        assert len(pods) == count, [p["metadata"]["name"] for p in pods]
        return pods
    return eventually(check)


def conditions(obj: dict) -> dict[str, dict]:
    return {c["type"]: c for c in obj.get("status", {}).get("conditions") or ()}


def job_when(api: Api, type_: str, name: str = "pi", timeout: float = 10) -> dict:
    """The Job once it has a True condition of that type."""
    def check() -> dict:
        current = job(api, name)
        assert type_ in conditions(current), current["status"]
        return current
    return eventually(check, timeout)


def events(api: Api, name: str) -> list[tuple[str, str, str]]:
    items = api.get(f"/api/v1/namespaces/default/events?fieldSelector=involvedObject.name={name}")["items"]
    return [(e["type"], e["reason"], e["message"]) for e in items]


def test_job_runs_pods_to_completion(kubectl, api):
    kubectl("apply", "-f", "-", input=job_manifest(completions=2))
    (pod,) = active_pods(api)
    meta = pod["metadata"]
    assert meta["name"].startswith("pi-") and len(meta["name"]) == len("pi-") + 5
    assert TRACKING_FINALIZER in meta["finalizers"]
    assert meta["ownerReferences"][0]["kind"] == "Job" and meta["ownerReferences"][0]["controller"] is True
    eventually(lambda: job(api)["status"].get("active") == 1)

    run_pod(api, "default", meta["name"])
    eventually(lambda: job(api)["status"]["ready"] == 1)
    finish_pod(api, "default", meta["name"])
    (second,) = active_pods(api)
    assert second["metadata"]["name"] != meta["name"]
    eventually(lambda: job(api)["status"].get("succeeded") == 1)
    # the counted pod lost its finalizer
    assert TRACKING_FINALIZER not in (api.get(f"{PODS}/{meta['name']}")["metadata"].get("finalizers") or [])

    finish_pod(api, "default", second["metadata"]["name"])
    done = job_when(api, "Complete")
    status = done["status"]
    assert status["succeeded"] == 2 and "active" not in status and status["ready"] == 0
    assert status["terminating"] == 0 and status["uncountedTerminatedPods"] == {}
    assert status["completionTime"] >= status["startTime"]
    cond = conditions(done)
    assert cond["SuccessCriteriaMet"]["reason"] == "CompletionsReached"
    assert cond["Complete"]["status"] == "True"
    assert cond["Complete"]["message"] == "Reached expected number of succeeded pods"

    row = kubectl("get", "jobs").splitlines()[1].split()
    assert row[:3] == ["pi", "Complete", "2/2"]
    eventually(lambda: ("Normal", "Completed", "Job completed") in events(api, "pi"))
    got = events(api, "pi")
    created = [m for (_, reason, m) in got if reason == "SuccessfulCreate"]
    assert sorted(created) == sorted(f"Created pod: {n}" for n in (meta["name"], second["metadata"]["name"]))
    assert all(TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or []) for p in job_pods(api))


def test_failed_pods_count_against_the_backoff_limit(kubectl, api):
    kubectl("apply", "-f", "-", input=job_manifest(backoffLimit=1))
    (first,) = active_pods(api)
    finish_pod(api, "default", first["metadata"]["name"], succeeded=False)
    eventually(lambda: job(api)["status"].get("failed") == 1)
    (second,) = active_pods(api)
    finish_pod(api, "default", second["metadata"]["name"], succeeded=False)

    failed = job_when(api, "Failed")
    cond = conditions(failed)
    for type_ in ("FailureTarget", "Failed"):
        assert cond[type_]["reason"] == "BackoffLimitExceeded"
        assert cond[type_]["message"] == "Job has reached the specified backoff limit"
    assert failed["status"]["failed"] == 2 and "completionTime" not in failed["status"]
    assert kubectl("get", "job", "pi", "--no-headers").split()[1:3] == ["Failed", "0/1"]
    eventually(lambda: ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
               in events(api, "pi"))


def test_active_deadline_stops_running_pods(kubectl, api):
    kubectl("apply", "-f", "-", input=job_manifest(parallelism=2, completions=4, activeDeadlineSeconds=600))
    pods = active_pods(api, count=2)
    run_pod(api, "default", pods[0]["metadata"]["name"])
    # the deadline may be shortened (the field is mutable): once the test has seen the pods, it is past
    kubectl("patch", "job", "pi", "--type", "merge", "-p", '{"spec": {"activeDeadlineSeconds": 1}}')
    failed = job_when(api, "Failed", timeout=15)
    assert conditions(failed)["Failed"]["reason"] == "DeadlineExceeded"
    assert conditions(failed)["Failed"]["message"] == "Job was active longer than specified deadline"
    assert failed["status"]["failed"] == 2 and failed["status"]["ready"] == 0
    eventually(lambda: job_pods(api) == [])  # unbound pods go as soon as the controller lets them


def test_indexed_job_gives_each_pod_its_index(kubectl, api):
    kubectl("apply", "-f", "-", input=job_manifest("idx", completions=3, parallelism=3, completionMode="Indexed"))
    pods = active_pods(api, "idx", count=3)
    by_index = {int(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]): p for p in pods}
    assert sorted(by_index) == [0, 1, 2]
    for index, pod in by_index.items():
        assert pod["metadata"]["name"].startswith(f"idx-{index}-")
        assert pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == str(index)
        assert pod["spec"]["hostname"] == f"idx-{index}"
        env = pod["spec"]["containers"][0]["env"]
        assert env == [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.labels['batch.kubernetes.io/job-completion-index']"}}}]

    finish_pod(api, "default", by_index[1]["metadata"]["name"])
    eventually(lambda: job(api, "idx")["status"].get("completedIndexes") == "1")
    # a failed index is retried under the same index
    finish_pod(api, "default", by_index[2]["metadata"]["name"], succeeded=False)

    def replaced() -> dict:
        fresh = [p for p in active_pods(api, "idx", count=2) if p["metadata"]["uid"] != by_index[0]["metadata"]["uid"]]
        assert fresh and fresh[0]["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "2"
        return fresh[0]
    retry = eventually(replaced)
    for pod in (by_index[0], retry):
        finish_pod(api, "default", pod["metadata"]["name"])
    done = job_when(api, "Complete", "idx")
    assert done["status"]["completedIndexes"] == "0-2"
    assert done["status"]["succeeded"] == 3 and done["status"]["failed"] == 1


def test_suspended_job_runs_no_pods_until_resumed(kubectl, api):
    kubectl("apply", "-f", "-", input=job_manifest(parallelism=2, completions=2, suspend=True))
    suspended = job_when(api, "Suspended")
    assert conditions(suspended)["Suspended"]["reason"] == "JobSuspended"
    assert "startTime" not in suspended["status"] and job_pods(api) == []
    assert kubectl("get", "job", "pi", "--no-headers").split()[1] == "Suspended"

    kubectl("patch", "job", "pi", "--type=merge", "-p", '{"spec":{"suspend":false}}')
    active_pods(api, count=2)

    def resumed() -> dict:
        current = job(api)
        cond = conditions(current)["Suspended"]
        assert (cond["status"], cond["reason"], cond["message"]) == ("False", "JobResumed", "Job resumed")
        return current
    assert "startTime" in eventually(resumed)["status"]

    kubectl("patch", "job", "pi", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    eventually(lambda: job_pods(api) == [])
    eventually(lambda: job(api)["status"].get("active") is None and conditions(job(api))["Suspended"]["status"] == "True")
    reasons = [r for (_, r, _) in events(api, "pi")]
    assert {"Suspended", "Resumed", "SuccessfulDelete"} <= set(reasons)


def test_job_without_completions_ends_with_its_first_success(kubectl, api):
    kubectl("apply", "-f", "-", input=job_manifest(parallelism=2))
    first, second = active_pods(api, count=2)
    finish_pod(api, "default", first["metadata"]["name"])
    eventually(lambda: job(api)["status"].get("succeeded") == 1)
    assert len(active_pods(api, count=1)) == 1  # the other keeps running; none is added
    finish_pod(api, "default", second["metadata"]["name"])
    done = job_when(api, "Complete")
    assert done["status"]["succeeded"] == 2
    assert " 2/1 of 2 " in kubectl("get", "job", "pi", "--no-headers")


def test_orphaned_pods_lose_the_tracking_finalizer(kubectl, api):
    kubectl("apply", "-f", "-", input=job_manifest())
    (pod,) = active_pods(api)
    kubectl("delete", "job", "pi", "--cascade=orphan")
    eventually(lambda: not api.exists(f"{BATCH}/pi"))
    eventually(lambda: TRACKING_FINALIZER not in (api.get(f"{PODS}/{pod['metadata']['name']}")["metadata"]
                                                  .get("finalizers") or []))


def test_matching_orphan_pods_are_adopted(kubectl, api):
    manifest = yaml.safe_load(job_manifest(manualSelector=True, selector={"matchLabels": {"app": "pi"}},
                                           parallelism=1, completions=1))
    manifest["spec"]["template"]["metadata"] = {"labels": {"app": "pi"}}
    api.post(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray", "labels": {"app": "pi"}},
                    "spec": manifest["spec"]["template"]["spec"]})
    kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))

    def adopted() -> dict:
        stray = api.get(f"{PODS}/stray")
        assert stray["metadata"].get("ownerReferences"), "not adopted yet"
        return stray
    stray = eventually(adopted)
    assert stray["metadata"]["ownerReferences"][0]["name"] == "pi"
    assert TRACKING_FINALIZER in stray["metadata"]["finalizers"]
    assert [p["metadata"]["name"] for p in api.get(f"{PODS}?labelSelector=app=pi")["items"]] == ["stray"]
    finish_pod(api, "default", "stray")
    eventually(lambda: "Complete" in conditions(job(api)))


def test_finished_job_is_deleted_after_its_ttl(kubectl, api):
    kubectl("apply", "-f", "-", input=job_manifest(ttlSecondsAfterFinished=0))
    (pod,) = active_pods(api)
    finish_pod(api, "default", pod["metadata"]["name"])
    eventually(lambda: not api.exists(f"{BATCH}/pi"))
    eventually(lambda: not api.exists(f"{PODS}/{pod['metadata']['name']}"))  # foreground: pods went first
