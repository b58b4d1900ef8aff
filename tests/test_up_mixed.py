"""A cluster of containerd nodes and simulated ones (`timoneiro up --runtime containerd --simulated-nodes N`),
as a user runs it with the real kubectl: real pods land on the containerd workers only, pods that tolerate
the simulated nodes' taint and select them run there with no process, node labels and `timoneiro status`
say which node runs what, and `down` then a bare `up` brings the same mix back. Where containerd cannot
run, `up --runtime containerd` says why and starts nothing.

One cluster for the file (its data dir short: containerd's sockets must fit in a unix socket path).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from test_up import User
from test_up_containerd import BUSYBOX, ContainerdUser, running
from timoneiro.cluster import preflight
from timoneiro.cluster.names import RUNTIME_LABEL, SIMULATED_TAINT, node_specs
from timoneiro.cluster.node_runtimes import NodeRuntimes
from timoneiro.cluster.topology import TOPOLOGY_FILE, Topology
from timoneiro.kubelet.cri.containerd import processes

needs_containerd = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("containerd"),
                                      reason="containerd needs root and scripts/setup.sh's packages")

WORKERS = ["timoneiro-worker", "timoneiro-worker2"]
SIMULATED = ["timoneiro-sim-worker", "timoneiro-sim-worker2"]
CONTAINERD_NODES = ["timoneiro-control-plane", *WORKERS]
# serves its pod's name over HTTP on 8080 (busybox's httpd)
WEB = 'mkdir /www && echo "$HOSTNAME" > /www/index.html && exec httpd -f -p 8080 -h /www'
MARKER = "timoneiro-mixed-marker-7f3a"  # in the simulated pods' command: a process with it would be theirs


def _deployment(name: str, replicas: int, command: list[str], **pod_spec: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": BUSYBOX, "command": command}], **pod_spec}}}}


class MixedUser(ContainerdUser):
    node_count = 3  # the containerd ones: what `running` sweeps up after

    def up(self) -> None:
        self.timoneiro("up", "--runtime", "containerd", "--nodes", "3", "--simulated-nodes", str(len(SIMULATED)))

    def node_objects(self) -> dict[str, dict]:
        return {n["metadata"]["name"]: n for n in json.loads(self.kubectl("get", "nodes", "-o", "json"))["items"]}


@pytest.fixture(scope="module")
def user() -> Iterator[MixedUser]:
    with running(MixedUser, "tm-upm-") as u:
        yield u


def _processes_with(marker: str) -> list[int]:
    return processes(lambda argv: marker.encode() in b"\0".join(argv))


@needs_containerd
def test_every_node_shows_and_says_which_runtime_it_runs(user: MixedUser) -> None:
    nodes = user.node_objects()
    assert sorted(nodes) == sorted(CONTAINERD_NODES + SIMULATED)
    for name, node in nodes.items():
        runtime = "simulated" if name in SIMULATED else "containerd"
        assert node["metadata"]["labels"][RUNTIME_LABEL] == runtime
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith(
            "sim://" if name in SIMULATED else "containerd://")
        assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"
        assert (SIMULATED_TAINT in node["spec"].get("taints", [])) == (name in SIMULATED)
    # kubectl's own view: every node, and a label column that says which runtime
    rows = [line.split() for line in user.kubectl("get", "nodes", "-L", RUNTIME_LABEL).splitlines()[1:]]
    assert {r[0]: r[-1] for r in rows} == {n: "simulated" if n in SIMULATED else "containerd" for n in nodes}
    # `timoneiro status` shows each node with its runtime
    status = {line.split()[0]: line.split()[-1] for line in user.timoneiro("status").stdout.splitlines()
              if line.startswith("timoneiro-")}
    assert {n: v.partition("://")[0] for n, v in status.items()} == {
        n: "sim" if n in SIMULATED else "containerd" for n in nodes}


@needs_containerd
def test_real_pods_land_on_the_containerd_workers_only_and_answer_http(user: MixedUser) -> None:
    # four replicas, more than the workers: without the taint the idle simulated nodes would get some
    user.apply(_deployment("web", 4, ["sh", "-c", WEB]))
    pods = user.wait_running("app=web", 4)
    assert {p["spec"]["nodeName"] for p in pods} <= set(WORKERS)
    for pod in pods:
        assert pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
        with urllib.request.urlopen(f"http://{pod['status']['podIP']}:8080/", timeout=10) as response:
            assert response.read().decode().strip() == pod["metadata"]["name"]


@needs_containerd
def test_pods_tolerating_the_simulated_nodes_run_there_with_no_process(user: MixedUser) -> None:
    toleration = {"key": SIMULATED_TAINT["key"], "operator": "Equal", "value": SIMULATED_TAINT["value"],
                  "effect": SIMULATED_TAINT["effect"]}
    user.apply(_deployment("fake", 4, ["nc", "-ll", "-p", "8080", "-e", "echo", MARKER],
                           nodeSelector={RUNTIME_LABEL: "simulated"}, tolerations=[toleration]))
    pods = user.wait_running("app=fake", 4)
    assert {p["spec"]["nodeName"] for p in pods} <= set(SIMULATED)
    assert all(p["status"]["containerStatuses"][0]["containerID"].startswith("sim://") for p in pods)
    assert _processes_with(MARKER) == []
    runtimes = NodeRuntimes("containerd", "timoneiro", user.data, node_specs("timoneiro", 3, len(SIMULATED)))
    assert runtimes.nodes == CONTAINERD_NODES  # the simulated nodes run no containerd either
    assert not any((user.data / "nodes" / name).exists() for name in SIMULATED)


@needs_containerd
def test_down_then_a_bare_up_keeps_the_mix(user: MixedUser) -> None:
    before = {name: node["metadata"]["uid"] for name, node in user.node_objects().items()}
    user.apply(_deployment("kept", 2, ["sh", "-c", WEB]))
    user.wait_running("app=kept", 2)
    user.timoneiro("down")
    assert user.running_pids() == []
    assert Topology.load(str(user.data)) == Topology(3, "containerd", len(SIMULATED))
    up = user.timoneiro("up")  # no options: the cluster as it last ran
    assert "Starting nodes 📦 📦 📦 + 2 simulated" in up.stderr
    nodes = user.node_objects()
    assert {name: node["metadata"]["uid"] for name, node in nodes.items()} == before
    assert {n: node["metadata"]["labels"][RUNTIME_LABEL] for n, node in nodes.items()} == {
        n: "simulated" if n in SIMULATED else "containerd" for n in nodes}
    assert {p["spec"]["nodeName"] for p in user.wait_running("app=kept", 2)} <= set(WORKERS)


# where containerd cannot run, and the pieces, without a cluster


def test_up_with_containerd_where_it_cannot_run_says_why_and_starts_nothing(tmp_path: Path) -> None:
    u = User(tmp_path)
    u.env["PATH"] = str(tmp_path)  # no containerd, runc, docker-registry nor skopeo (timoneiro runs as
    # sys.executable)
    up = u.timoneiro("up", "--runtime", "containerd", ok=False)
    assert up.returncode == 1
    assert ("ERROR: failed to create cluster: --runtime containerd cannot run here: "
            "containerd not found in system path; runc not found in system path") in up.stderr
    assert "or use --runtime simulated (the default" in up.stderr
    assert "Creating cluster" not in up.stderr
    assert u.running_pids() == [] and not (u.data / "cluster.json").exists()
    assert not (u.data / TOPOLOGY_FILE).exists()  # nothing kept of a cluster that never started


def test_containerd_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(os, "access", lambda path, mode: True)
    assert preflight.containerd_problems() == ["user is not running as root"]
    assert preflight.refusal(Topology(runtime="containerd")).startswith(
        "--runtime containerd cannot run here: user is not running as root. ")
    assert preflight.refusal(Topology(runtime="simulated")) is None  # the simulated runtime needs nothing
    assert "at most 256 nodes" in preflight.refusal(Topology(nodes=200, simulated_nodes=57))


def test_simulated_nodes_are_named_as_kind_would_extend_the_names_and_tainted() -> None:
    specs = node_specs("kind", 2, 3)
    assert [(n.name, n.simulated) for n in specs] == [
        ("kind-control-plane", False), ("kind-worker", False),
        ("kind-sim-worker", True), ("kind-sim-worker2", True), ("kind-sim-worker3", True)]
    assert [n.taints for n in specs[1:3]] == [[], [{"key": "timoneiro.io/container-runtime",
                                                    "value": "simulated", "effect": "NoSchedule"}]]
    runtimes = NodeRuntimes("containerd", "kind", "/tmp/x", specs)
    assert runtimes.nodes == ["kind-control-plane", "kind-worker"]
    assert [runtimes.labels(n.name)[RUNTIME_LABEL] for n in specs] == ["containerd"] * 2 + ["simulated"] * 3


def test_a_topology_is_kept_and_options_given_replace_its_parts(tmp_path: Path) -> None:
    assert Topology.load(str(tmp_path)) == Topology(3, "simulated", 0)  # never started: the defaults
    Topology(3, "containerd", 50).save(str(tmp_path))
    kept = Topology.load(str(tmp_path))
    assert kept == Topology(3, "containerd", 50)
    assert kept.overridden(nodes=None, runtime="simulated", simulated_nodes=None) == Topology(3, "simulated", 50)
