"""`kubectl top` on real containers: a pod burning a core shows its cpu and memory from containerd's cgroup
stats, through the kubelets' /metrics/resource, metrics-server's scrapes and the API server's aggregation;
`kubectl top node` prints every node. One 2-node cluster for the file."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator

import pytest

from test_up_containerd import BUSYBOX, ContainerdUser, running

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("containerd"),
                                reason="containerd needs root and scripts/setup.sh's packages")
SCRAPES = 60.0  # a few of metrics-server's 15-second rounds


class TwoNodes(ContainerdUser):
    node_count = 2


@pytest.fixture(scope="module")
def user() -> Iterator[ContainerdUser]:
    with running(TwoNodes, "tm-mtc-") as u:
        yield u


def _millicores(text: str) -> int:
    return int(text.removesuffix("m")) if text.endswith("m") else int(float(text) * 1000)


def test_a_pod_burning_cpu_shows_in_top_pod_and_every_node_in_top_node(user: ContainerdUser) -> None:
    user.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "burn", "labels": {"app": "burn"}},
                "spec": {"containers": [{"name": "spin", "image": BUSYBOX,
                                         "command": ["sh", "-c", "while :; do :; done"]}]}})
    user.wait_running("app=burn", 1)
    deadline = time.monotonic() + SCRAPES
    while True:
        top = user.run_kubectl("top", "pod", "burn", "--containers", "--no-headers")
        if top.returncode == 0:
            pod, container, cpu, memory = top.stdout.split()
            if _millicores(cpu) > 100:
                break
        assert time.monotonic() < deadline, f"no cpu for burn: {top.stdout}{top.stderr}"
        time.sleep(2)
    assert (pod, container) == ("burn", "spin") and memory.endswith("Mi")
    metrics = json.loads(user.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burn"))
    usage = metrics["containers"][0]["usage"]
    assert usage["cpu"].endswith("n") and usage["memory"] != "0"  # a shell's working set: some Ki
    listed = user.kubectl("top", "pod", "-A", "--sort-by=cpu", "--no-headers").splitlines()
    assert listed[0].split()[:2] == ["default", "burn"]
    nodes = {line.split()[0]: line.split()[1:] for line in user.kubectl("top", "node", "--no-headers").splitlines()}
    assert set(nodes) == {"timoneiro-control-plane", "timoneiro-worker"}
    for cpu, _, memory, _ in nodes.values():
        assert _millicores(cpu) > 100 and memory.endswith("Mi") and int(memory[:-2]) > 0
