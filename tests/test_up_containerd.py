"""`timoneiro up --runtime containerd` as a user runs it, with the real kubectl: nodes that run containerd,
pods that are real processes with IPs in their nodes' ranges, reaching each other across nodes; `down`
leaves no process, bridge, network namespace, mount or cgroup behind, and `up` again brings the pods back.

One cluster for the file (its data dir short: containerd's sockets must fit in a unix socket path).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from test_up import User
from timoneiro.cluster.names import RUNTIME_LABEL, node_specs
from timoneiro.cluster.node_runtimes import NodeRuntimes
from timoneiro.kubelet.cri import cgroups

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("containerd"),
                                reason="containerd needs root and scripts/setup.sh's packages")

WORKERS = ("timoneiro-worker", "timoneiro-worker2")
U = TypeVar("U", bound="ContainerdUser")
BUSYBOX = "busybox:1.35.0"  # docker.io/library/busybox, served by the cluster's own registry
SERVER = {  # answers "hi" to every connection on 8080
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hi"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "hi"}}, "template": {
        "metadata": {"labels": {"app": "hi"}},
        "spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                     {"labelSelector": {"matchLabels": {"app": "hi"}}, "topologyKey": "kubernetes.io/hostname"}]}},
                 "containers": [{"name": "hi", "image": BUSYBOX,
                                 "command": ["nc", "-ll", "-p", "8080", "-e", "echo", "hi"]}]}}}}


def _job(name: str, script: str, node: str | None = None, env: list[dict] | None = None) -> dict:
    spec: dict = {"restartPolicy": "Never", "containers": [{"name": "main", "image": BUSYBOX,
                                                            "command": ["sh", "-c", script], "env": env or []}]}
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": spec}}}


class ContainerdUser(User):
    node_count = 3

    def up(self) -> None:
        self.timoneiro("up", "--runtime", "containerd", "--nodes", str(self.node_count))

    def apply(self, *objects: dict) -> None:
        proc = subprocess.run([shutil.which("kubectl"), "apply", "-f", "-"], input=json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": list(objects)}), capture_output=True, text=True,
            env=self.env, cwd=self.home, timeout=60)
        assert proc.returncode == 0, proc.stderr

    def pods(self, selector: str) -> list[dict]:
        return json.loads(self.kubectl("get", "pods", "-l", selector, "-o", "json"))["items"]

    def wait_running(self, selector: str, count: int) -> list[dict]:
        for _ in range(300):
            pods = self.pods(selector)
            if len(pods) == count and all(p["status"].get("phase") == "Running" and p["status"].get("podIP")
                                          for p in pods):
                return pods
            time.sleep(0.2)
        raise AssertionError(f"pods {selector} not Running: {self.kubectl('get', 'pods', '-o', 'wide')}")

    def wait_job(self, name: str) -> dict:
        """The job's pod once its container terminated."""
        for _ in range(300):
            pods = self.pods(f"job-name={name}")
            states = [s.get("state", {}) for p in pods for s in p["status"].get("containerStatuses") or ()]
            if states and "terminated" in states[0]:
                return pods[0]
            time.sleep(0.2)
        raise AssertionError(f"job {name} did not finish: {self.kubectl('describe', 'pods', '-l', f'job-name={name}')}")


def _netns() -> set[str]:
    return set(os.listdir("/var/run/netns")) if os.path.isdir("/var/run/netns") else set()


@contextlib.contextmanager
def running(kind: type[U], prefix: str) -> Iterator[U]:
    """A cluster up for a test module (its data dir short: containerd's sockets must fit in a unix socket
    path), and nothing of it left after."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    u = kind(tmp)
    try:
        u.up()
        yield u
    finally:
        u.timoneiro("down", ok=False)
        for pid in u.running_pids():
            os.kill(pid, signal.SIGKILL)
        # what a down that failed left: found by the data dir, as the supervisor sweeps
        asyncio.run(NodeRuntimes("containerd", "timoneiro", u.data, node_specs("timoneiro", u.node_count)).stop())
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def user() -> Iterator[ContainerdUser]:
    with running(ContainerdUser, "tm-upc-") as u:
        yield u


def test_nodes_run_containerd_with_their_own_pod_ranges(user: ContainerdUser) -> None:
    nodes = json.loads(user.kubectl("get", "nodes", "-o", "json"))["items"]
    assert len(nodes) == 3
    for node in nodes:
        assert node["metadata"]["labels"][RUNTIME_LABEL] == "containerd"
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
        assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"
    ranges = [ipaddress.ip_network(n["spec"]["podCIDR"]) for n in nodes]
    assert len(set(ranges)) == 3
    network = ipaddress.ip_network((Path(user.data) / "pod-network").read_text().strip())  # its own, kept
    assert network.prefixlen == 16 and network.subnet_of(ipaddress.ip_network("10.240.0.0/12"))
    assert all(r.subnet_of(network) for r in ranges)


def test_pods_run_on_the_workers_and_reach_each_other_across_nodes(user: ContainerdUser) -> None:
    user.apply(SERVER)
    pods = user.wait_running("app=hi", 2)
    ranges = {n["metadata"]["name"]: ipaddress.ip_network(n["spec"]["podCIDR"])
              for n in json.loads(user.kubectl("get", "nodes", "-o", "json"))["items"]}
    assert sorted(p["spec"]["nodeName"] for p in pods) == list(WORKERS)
    for pod in pods:
        assert ipaddress.ip_address(pod["status"]["podIP"]) in ranges[pod["spec"]["nodeName"]]
    wide = user.kubectl("get", "pods", "-l", "app=hi", "-o", "wide")
    assert all(p["status"]["podIP"] in wide for p in pods)
    # a pod on one worker asks the server pod on the other one
    server = next(p for p in pods if p["spec"]["nodeName"] == WORKERS[1])
    user.apply(_job("reach", f'test "$(nc -w 5 {server["status"]["podIP"]} 8080)" = hi', node=WORKERS[0]))
    pod = user.wait_job("reach")
    assert pod["spec"]["nodeName"] == WORKERS[0]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0, pod["status"]


def test_jobs_run_real_processes_with_their_env_and_exit_codes(user: ContainerdUser) -> None:
    user.apply(_job("greet", 'test "$GREETING" = hello', env=[{"name": "GREETING", "value": "hello"}]),
               _job("fail", "exit 3"))
    greet, fail = user.wait_job("greet"), user.wait_job("fail")
    assert greet["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert fail["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    assert fail["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error"
    assert greet["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")


def test_down_leaves_nothing_behind_and_up_again_brings_the_pods_back(user: ContainerdUser) -> None:
    before = _netns()
    user.apply(SERVER)
    user.wait_running("app=hi", 2)
    ours = _netns() - before
    runtimes = NodeRuntimes("containerd", "timoneiro", user.data, node_specs("timoneiro", 3))
    bridges = [runtimes.containerd(n).layout.bridge for n in runtimes.nodes]
    user.timoneiro("down")
    assert user.running_pids() == []  # containerds, shims, the registry: each names the data dir
    assert not any(Path(f"/sys/class/net/{b}").exists() for b in bridges)
    assert not ours & _netns()
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(user.data) not in mounts
    parent = runtimes.containerd(runtimes.nodes[0]).cgroup_parent.rsplit("/", 1)[0].strip("/")
    assert not any((h / parent).exists() for h in cgroups.hierarchies())
    user.up()
    assert len(user.wait_running("app=hi", 2)) == 2


def test_env_from_config_maps_and_fields_working_dir_and_an_oom_kill(user: ContainerdUser) -> None:
    user.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                "data": {"COLOUR": "blue", "size": "9"}})
    checks = ('test "$COLOUR" = blue && test "$APP_size" = 9 && test "$SIZE" = 9 && test "$POD" = "$HOSTNAME"'
              ' && test "$ECHO" = "blue!" && test "$(pwd)" = /tmp && test "$MEMORY" = 64')
    job = _job("configured", checks, env=[
        {"name": "SIZE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "size"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "ECHO", "value": "$(COLOUR)!"},
        {"name": "MEMORY", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}])
    container = job["spec"]["template"]["spec"]["containers"][0]
    container.update(envFrom=[{"configMapRef": {"name": "settings"}},
                              {"prefix": "APP_", "configMapRef": {"name": "settings"}}],
                     workingDir="/tmp", resources={"limits": {"memory": "64Mi", "cpu": "500m"}})
    hog = _job("hog", "tail /dev/zero")  # buffers a line that never ends
    hog["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"memory": "20Mi"}}
    user.apply(job, hog)
    configured, oom = user.wait_job("configured"), user.wait_job("hog")
    assert configured["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    terminated = oom["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)
