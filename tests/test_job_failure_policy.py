"""The Job controller's failure handling against a real API server: spec.podFailurePolicy (FailJob, Ignore,
Count, FailIndex, on exit codes and on the DisruptionTarget condition), backoffLimitPerIndex and
maxFailedIndexes of Indexed Jobs, and podReplacementPolicy with status.terminating. Pods are moved along by
status writes, as a kubelet writes them; the last two run them on a kubelet with the simulated runtime (an
exit code, an eviction by a NoExecute taint)."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from controller_testing import eventually
from pod_progress import finish_pod, run_pod
from test_job import (
    BATCH,
    PODS,
    active_pods,
    conditions,
    events,
    job,
    job_manifest,
    job_pods,
    job_when,
    quick_backoff,  # noqa: F401  (an autouse fixture: failed pods are replaced at once)
)
from timoneiro.controllers.job_index_failures import FAILURE_COUNT
from timoneiro.controllers.job_indexes import COMPLETION_INDEX
from timoneiro.kubelet import Kubelet, KubeletSettings

FAIL_ON_42 = {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}
IGNORE_DISRUPTION = {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
DISRUPTED = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
             "message": "Taint manager: deleting due to NoExecute taint"}


def by_index(pods: list[dict]) -> dict[int, dict]:
    return {int(p["metadata"]["annotations"][COMPLETION_INDEX]): p for p in pods}


def name_of(pod: dict) -> str:
    return pod["metadata"]["name"]


def test_a_fail_job_rule_fails_the_job_at_once(kubectl, api):
    policy = {"rules": [IGNORE_DISRUPTION, FAIL_ON_42]}
    kubectl("apply", "-f", "-", input=job_manifest(parallelism=2, completions=4, podFailurePolicy=policy))
    first, second = active_pods(api, count=2)
    run_pod(api, "default", name_of(second))
    finish_pod(api, "default", name_of(first), succeeded=False, exit_code=42)

    failed = job_when(api, "Failed")
    want = f"Container c for pod default/{name_of(first)} failed with exit code 42 matching FailJob rule at index 1"
    cond = conditions(failed)
    for type_ in ("FailureTarget", "Failed"):
        assert (cond[type_]["reason"], cond[type_]["message"]) == ("PodFailurePolicy", want)
    # the running pod was deleted and counted failed too, the Job ended once no pod was left
    assert failed["status"]["failed"] == 2 and failed["status"]["terminating"] == 0
    assert "active" not in failed["status"] and failed["status"]["uncountedTerminatedPods"] == {}
    assert kubectl("get", "job", "pi", "--no-headers").split()[1] == "Failed"
    eventually(lambda: ("Warning", "PodFailurePolicy", want) in events(api, "pi"))


def test_an_ignored_disruption_is_not_counted_and_the_pod_is_replaced(kubectl, api):
    policy = {"rules": [FAIL_ON_42, IGNORE_DISRUPTION]}
    kubectl("apply", "-f", "-", input=job_manifest(backoffLimit=0, podFailurePolicy=policy))
    (evicted,) = active_pods(api)
    finish_pod(api, "default", name_of(evicted), succeeded=False, exit_code=137, conditions=[DISRUPTED])
    (replacement,) = eventually(lambda: [p for p in active_pods(api) if p["metadata"]["uid"] != evicted["metadata"]["uid"]])
    # its finalizer went, yet it was not counted: backoffLimit 0 is not exceeded
    eventually(lambda: not api.get(f"{PODS}/{name_of(evicted)}")["metadata"].get("finalizers"))
    current = job(api)
    assert "failed" not in current["status"] and "Failed" not in conditions(current)

    # a failure no rule matches counts, as without a policy
    finish_pod(api, "default", name_of(replacement), succeeded=False, exit_code=3)
    failed = job_when(api, "Failed")
    assert conditions(failed)["Failed"]["reason"] == "BackoffLimitExceeded"
    assert failed["status"]["failed"] == 1


def test_a_count_rule_counts_like_no_rule(kubectl, api):
    policy = {"rules": [{"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [42]}}, FAIL_ON_42]}
    kubectl("apply", "-f", "-", input=job_manifest(backoffLimit=1, podFailurePolicy=policy))
    (first,) = active_pods(api)
    finish_pod(api, "default", name_of(first), succeeded=False, exit_code=5)
    eventually(lambda: job(api)["status"].get("failed") == 1)
    (second,) = active_pods(api)
    finish_pod(api, "default", name_of(second), succeeded=True)
    done = job_when(api, "Complete")
    assert (done["status"]["succeeded"], done["status"]["failed"]) == (1, 1)


def test_each_index_has_its_own_backoff_limit(kubectl, api):
    kubectl("apply", "-f", "-", input=job_manifest("idx", completions=3, parallelism=3, completionMode="Indexed",
                                                   backoffLimitPerIndex=1))
    pods = by_index(active_pods(api, "idx", count=3))
    assert all(p["metadata"]["annotations"][FAILURE_COUNT] == "0" for p in pods.values())
    finish_pod(api, "default", name_of(pods[1]), succeeded=False)

    def retried() -> dict:
        retry = by_index(active_pods(api, "idx", count=3))[1]
        assert retry["metadata"]["uid"] != pods[1]["metadata"]["uid"]
        return retry
    retry = eventually(retried)
    assert retry["metadata"]["annotations"][FAILURE_COUNT] == "1"
    # once the retry carries the count, the failed pod lets go and is counted
    eventually(lambda: job(api, "idx")["status"].get("failed") == 1)
    assert job(api, "idx")["status"]["failedIndexes"] == ""

    finish_pod(api, "default", name_of(retry), succeeded=False)  # index 1 is out of retries
    eventually(lambda: job(api, "idx")["status"].get("failedIndexes") == "1")
    assert sorted(by_index(active_pods(api, "idx", count=2))) == [0, 2]  # index 1 is not run again
    for index in (0, 2):
        finish_pod(api, "default", name_of(pods[index]))

    failed = job_when(api, "Failed", "idx")
    cond = conditions(failed)["Failed"]
    assert (cond["reason"], cond["message"]) == ("FailedIndexes", "Job has failed indexes")
    status = failed["status"]
    assert (status["completedIndexes"], status["failedIndexes"]) == ("0,2", "1")
    assert (status["succeeded"], status["failed"]) == (2, 2)
    assert kubectl("get", "job", "idx", "--no-headers").split()[1:3] == ["Failed", "2/3"]


def test_too_many_failed_indexes_fail_the_job(kubectl, api):
    policy = {"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [42]}}]}
    kubectl("apply", "-f", "-", input=job_manifest(
        "idx", completions=4, parallelism=4, completionMode="Indexed", backoffLimitPerIndex=3, maxFailedIndexes=1,
        podFailurePolicy=policy))
    pods = by_index(active_pods(api, "idx", count=4))
    finish_pod(api, "default", name_of(pods[0]), succeeded=False, exit_code=42)  # fails index 0 at once
    eventually(lambda: job(api, "idx")["status"].get("failedIndexes") == "0")
    assert sorted(by_index(active_pods(api, "idx", count=3))) == [1, 2, 3]
    run_pod(api, "default", name_of(pods[1]))
    finish_pod(api, "default", name_of(pods[3]), succeeded=False, exit_code=42)

    failed = job_when(api, "Failed", "idx")
    cond = conditions(failed)["Failed"]
    assert (cond["reason"], cond["message"]) == (
        "MaxFailedIndexesExceeded", "Job has exceeded the specified maximal number of failed indexes")
    assert failed["status"]["failedIndexes"] == "0,3"
    assert failed["status"]["failed"] == 4 and failed["status"]["ready"] == 0  # the running ones were stopped
    eventually(lambda: sorted(by_index(job_pods(api, "idx"))) == [0, 3])  # only the failed pods are left


def test_a_deleted_pod_is_replaced_only_once_it_has_failed(kubectl, api):
    kubectl("apply", "-f", "-", input=job_manifest(podReplacementPolicy="Failed"))
    (pod,) = active_pods(api)
    run_pod(api, "default", name_of(pod))
    kubectl("delete", "pod", name_of(pod), "--wait=false")  # the tracking finalizer keeps it, terminating

    def terminating() -> dict:
        status = job(api)["status"]
        assert (status.get("terminating"), status.get("active")) == (1, None), status
        return status
    eventually(terminating)
    assert [p["metadata"]["uid"] for p in job_pods(api)] == [pod["metadata"]["uid"]]  # not replaced yet

    finish_pod(api, "default", name_of(pod), succeeded=False)  # the kubelet saw it stop
    (replacement,) = active_pods(api)
    assert replacement["metadata"]["uid"] != pod["metadata"]["uid"]
    eventually(lambda: job(api)["status"].get("failed") == 1 and job(api)["status"]["terminating"] == 0)


def test_a_deleted_pod_is_replaced_at_once_by_default(kubectl, api):
    kubectl("apply", "-f", "-", input=job_manifest())
    assert job(api)["spec"]["podReplacementPolicy"] == "TerminatingOrFailed"
    (pod,) = active_pods(api)
    kubectl("delete", "pod", name_of(pod), "--wait=false")
    (replacement,) = active_pods(api)
    assert replacement["metadata"]["uid"] != pod["metadata"]["uid"]
    eventually(lambda: job(api)["status"].get("failed") == 1)


@pytest.fixture
async def node(server):
    """A kubelet with the simulated runtime, node-1, for the pods the Jobs here bind to it."""
    settings = KubeletSettings(node_status_update_frequency=0.5, node_status_report_frequency=0.5)
    kubelet = Kubelet(server.admin, "node-1", pod_cidr="10.244.9.0/24", settings=settings)
    await kubelet.start()
    yield kubelet
    await kubelet.stop()


def on_node(manifest: str, **annotations: str) -> dict:
    """The Job with its pods bound to node-1 (no scheduler here), running container `main`."""
    job_ = yaml.safe_load(manifest)
    job_["spec"]["template"] = {"metadata": {"annotations": annotations},
                                "spec": {"nodeName": "node-1", "restartPolicy": "Never",
                                         "containers": [{"name": "main", "image": "busybox"}]}}
    return job_


async def test_an_exit_code_from_the_runtime_fails_the_job(node, kubectl, api):
    """A container of the simulated runtime exits 42; the Job fails by its FailJob rule."""
    rule = {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}}
    manifest = on_node(job_manifest(podFailurePolicy={"rules": [rule]}), **{"sim.timoneiro.io/exit-code.main": "42"})
    await asyncio.to_thread(api.post, BATCH, manifest)
    failed = await asyncio.to_thread(job_when, api, "Failed", "pi", 30)
    (pod,) = await asyncio.to_thread(job_pods, api)
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 42
    cond = conditions(failed)["Failed"]
    assert (cond["reason"], cond["message"]) == (
        "PodFailurePolicy",
        f"Container main for pod default/{name_of(pod)} failed with exit code 42 matching FailJob rule at index 0")
    assert "reason: PodFailurePolicy" in await asyncio.to_thread(kubectl, "get", "job", "pi", "-o", "yaml")


async def test_a_pod_evicted_by_a_taint_is_ignored(node, kubectl, api):
    """The taint manager evicts the running pod (DisruptionTarget), the kubelet stops it (Failed): an Ignore
    rule keeps it from counting against backoffLimit 0, and the Job goes on with a new pod."""
    # it ignores the stop signal: killed at the end of its 1s grace period (137), it fails
    manifest = on_node(job_manifest(backoffLimit=0, podFailurePolicy={"rules": [IGNORE_DISRUPTION]}),
                       **{"sim.timoneiro.io/stop-seconds": "60"})
    # tolerated for a second: the kubelet admits it (and any replacement), the taint manager evicts it
    manifest["spec"]["template"]["spec"].update(terminationGracePeriodSeconds=1, tolerations=[
        {"key": "example.com/drain", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1}])
    await asyncio.to_thread(api.post, BATCH, manifest)

    def running() -> dict:
        (pod,) = active_pods(api)
        assert pod["status"].get("phase") == "Running", pod["status"]
        return pod
    first = await asyncio.to_thread(eventually, running, 30)
    keep = {"metadata": {"finalizers": [*first["metadata"]["finalizers"], "test/keep"]}}
    await asyncio.to_thread(api.patch, f"{PODS}/{name_of(first)}", keep)  # to look at it once the Job let go
    await asyncio.to_thread(kubectl, "taint", "nodes", "node-1", "example.com/drain=now:NoExecute")

    def evicted() -> dict:
        pod = api.get(f"{PODS}/{name_of(first)}")
        assert pod["status"]["phase"] == "Failed" and pod["metadata"]["finalizers"] == ["test/keep"], pod
        return pod
    stopped = await asyncio.to_thread(eventually, evicted, 30)
    disruption = next(c for c in stopped["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert (disruption["status"], disruption["reason"]) == ("True", "DeletionByTaintManager")
    await asyncio.to_thread(kubectl, "taint", "nodes", "node-1", "example.com/drain=now:NoExecute-")

    def replaced() -> dict:
        current = job(api)
        assert [p for p in active_pods(api) if p["metadata"]["uid"] != first["metadata"]["uid"]]
        return current
    current = await asyncio.to_thread(eventually, replaced, 30)
    assert "Failed" not in conditions(current) and not current["status"].get("failed")
    await asyncio.to_thread(api.patch, f"{PODS}/{name_of(first)}", {"metadata": {"finalizers": None}})
