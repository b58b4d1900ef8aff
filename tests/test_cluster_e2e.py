"""Issue 3's proof against one real `timoneiro up` cluster, driven by the real kubectl: rollouts, drain with a
PodDisruptionBudget, DaemonSets, StatefulSets, Jobs and scheduling failures, as a user sees them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import pytest

from test_up import SEED, User

SIM = "sim.timoneiro.io"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not installed (the README's test command installs it)")
    user = User(tmp_path_factory.mktemp("cluster"))
    try:
        user.timoneiro("up", "--name", "e2e", "--nodes", "3")
        yield user
        user.timoneiro("down", "--name", "e2e")
    finally:
        for pid in user.running_pids():
            os.kill(pid, signal.SIGKILL)


def until(check, timeout: float = 60.0, every: float = 0.2):
    """Poll check() until it returns something truthy; its last value on timeout is an assertion failure."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, "timed out waiting"
            return value
        time.sleep(every)


def apply(user: User, namespace: str, manifest: dict) -> None:
    path = user.home / f"{manifest['kind']}-{manifest['metadata']['name']}.json"
    path.write_text(json.dumps(manifest))
    user.kubectl("apply", "-n", namespace, "-f", str(path))


def pods(user: User, namespace: str, selector: str = "") -> list[dict]:
    args = ["get", "pods", "-n", namespace, "-o", "json"] + (["-l", selector] if selector else [])
    return json.loads(user.kubectl(*args))["items"]


def running(items: list[dict]) -> list[dict]:
    return [p for p in items if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def test_seed_deployment_rolls_out_updates_and_undoes(cluster):
    cluster.kubectl("create", "namespace", "rollout")
    cluster.kubectl("apply", "-n", "rollout", "-f", SEED)
    cluster.kubectl("rollout", "status", "-n", "rollout", "deployment/helloworld", "--timeout=60s")
    first = running(pods(cluster, "rollout", "run=helloworld-backend"))
    assert len(first) == 2
    assert {p["spec"]["nodeName"] for p in first} == {"e2e-worker", "e2e-worker2"}  # spread over the workers
    cluster.kubectl("set", "image", "-n", "rollout", "deployment/helloworld", "helloworld=nginx:1.27")
    cluster.kubectl("rollout", "status", "-n", "rollout", "deployment/helloworld", "--timeout=60s")
    images = {p["spec"]["containers"][0]["image"] for p in running(pods(cluster, "rollout"))}
    assert images == {"nginx:1.27"}
    history = cluster.kubectl("rollout", "history", "-n", "rollout", "deployment/helloworld")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    cluster.kubectl("rollout", "undo", "-n", "rollout", "deployment/helloworld")
    cluster.kubectl("rollout", "status", "-n", "rollout", "deployment/helloworld", "--timeout=60s")
    until(lambda: {p["spec"]["containers"][0]["image"] for p in running(pods(cluster, "rollout"))}
          == {"public.ecr.aws/nginx/nginx:1.21-perl"})
    cluster.kubectl("scale", "-n", "rollout", "deployment/helloworld", "--replicas=4")
    until(lambda: len(running(pods(cluster, "rollout"))) == 4)


def test_drain_waits_for_the_disruption_budget(cluster):
    cluster.kubectl("create", "namespace", "drain")
    apply(cluster, "drain", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})
    apply(cluster, "drain", {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
                             "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}})
    cluster.kubectl("rollout", "status", "-n", "drain", "deployment/web", "--timeout=60s")
    until(lambda: json.loads(cluster.kubectl("get", "pdb", "-n", "drain", "web", "-o", "json"))
          .get("status", {}).get("currentHealthy") == 2)
    cluster.kubectl("cordon", "e2e-worker")
    nodes = {line.split()[0]: line.split()[1] for line in cluster.kubectl("get", "nodes").splitlines()[1:]}
    assert nodes["e2e-worker"] == "Ready,SchedulingDisabled"
    proc = cluster.run_kubectl("drain", "e2e-worker", "--ignore-daemonsets", "--delete-emptydir-data",
                               "--timeout=3s")
    assert proc.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in proc.stderr
    cluster.kubectl("uncordon", "e2e-worker")


def test_daemonset_runs_one_pod_per_schedulable_node(cluster):
    cluster.kubectl("create", "namespace", "ds")
    apply(cluster, "ds", {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "agent", "image": "busybox"}]}}}})
    ready = until(lambda: running(pods(cluster, "ds")) if len(running(pods(cluster, "ds"))) == 2 else None)
    assert sorted(p["spec"]["nodeName"] for p in ready) == ["e2e-worker", "e2e-worker2"]  # not the tainted one


def test_statefulset_creates_web_0_then_web_1(cluster):
    cluster.kubectl("create", "namespace", "sts")
    apply(cluster, "sts", {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
        "spec": {"serviceName": "web", "replicas": 2, "selector": {"matchLabels": {"app": "sts"}},
                 "template": {"metadata": {"labels": {"app": "sts"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})
    ready = until(lambda: running(pods(cluster, "sts")) if len(running(pods(cluster, "sts"))) == 2 else None)
    by_name = {p["metadata"]["name"]: p for p in ready}
    assert sorted(by_name) == ["web-0", "web-1"]
    started = {n: p["status"]["startTime"] for n, p in by_name.items()}
    assert started["web-0"] <= started["web-1"]
    assert by_name["web-1"]["metadata"]["creationTimestamp"] >= by_name["web-0"]["status"]["startTime"]


def test_jobs_complete_and_fail_as_upstream_reports(cluster):
    cluster.kubectl("create", "namespace", "jobs")
    template = {"metadata": {"annotations": {f"{SIM}/run-seconds": "1"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}
    apply(cluster, "jobs", {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
                            "spec": {"completions": 2, "template": template}})
    failing = json.loads(json.dumps(template))
    failing["metadata"]["annotations"][f"{SIM}/exit-code"] = "1"
    apply(cluster, "jobs", {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "broken"},
                            "spec": {"backoffLimit": 1, "template": failing}})
    cluster.kubectl("wait", "-n", "jobs", "--for=condition=complete", "job/pi", "--timeout=90s")
    cluster.kubectl("wait", "-n", "jobs", "--for=condition=failed", "job/broken", "--timeout=90s")
    rows = {line.split()[0]: line.split() for line in cluster.kubectl("get", "jobs", "-n", "jobs").splitlines()[1:]}
    assert rows["pi"][1:3] == ["Complete", "2/2"]
    assert rows["broken"][1:3] == ["Failed", "0/1"]
    broken = json.loads(cluster.kubectl("get", "job", "-n", "jobs", "broken", "-o", "json"))
    failed = next(c for c in broken["status"]["conditions"] if c["type"] == "Failed")
    assert (failed["reason"], failed["message"]) == ("BackoffLimitExceeded",
                                                     "Job has reached the specified backoff limit")


def test_a_pod_too_big_for_any_node_stays_pending_with_the_schedulers_reason(cluster):
    cluster.kubectl("create", "namespace", "big")
    apply(cluster, "big", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"},
                           "spec": {"containers": [{"name": "c", "image": "nginx",
                                                    "resources": {"requests": {"cpu": "1000"}}}]}})

    def failed_scheduling() -> str | None:
        events = json.loads(cluster.kubectl("get", "events", "-n", "big", "-o", "json"))["items"]
        return next((e["message"] for e in events if e["reason"] == "FailedScheduling"), None)

    message = until(failed_scheduling)
    assert message.startswith("0/3 nodes are available: 1 node(s) had untolerated taint "
                              "{node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu.")
    pod = json.loads(cluster.kubectl("get", "pod", "-n", "big", "huge", "-o", "json"))
    assert pod["status"]["phase"] == "Pending"
    scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
