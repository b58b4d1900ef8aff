"""`timoneiro up`, `status` and `down` as a user runs them: the real CLI in subprocesses and the real kubectl,
with a HOME, KUBECONFIG and data dir of the test's own. Every process a test starts is killed by pid at
its end, whatever happened."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from timoneiro.cluster.contexts import remove_context
from timoneiro.cluster.names import node_specs
from timoneiro.cluster.procs import Proc
from timoneiro.cluster.progress import Notifier, read_events
from timoneiro.pki import certs

SEED = str(Path(__file__).parent / "manifests" / "seed000.yaml")
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"


class User:
    """A shell of its own: runs `timoneiro` and kubectl with the test's HOME, KUBECONFIG and data dir."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.kubeconfig = self.home / "kubeconfig"
        self.data = tmp_path / "data"
        self.env = {**os.environ, "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig)}

    def timoneiro(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "timoneiro", *args, "--data-dir", str(self.data)],
                              capture_output=True, text=True, env=self.env, cwd=self.home, timeout=120)
        if ok and proc.returncode != 0:
            log = self.data / "cluster.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
            raise AssertionError(f"timoneiro {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
                                 f"\nthe end of cluster.log:\n{tail}")
        return proc

    def kubectl(self, *args: str) -> str:
        proc = subprocess.run([shutil.which("kubectl"), *args], capture_output=True, text=True, env=self.env,
                              cwd=self.home, timeout=60)
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def run_kubectl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([shutil.which("kubectl"), *args], capture_output=True, text=True, env=self.env,
                              cwd=self.home, timeout=120)

    def recorded_pids(self) -> list[int]:
        return [p["pid"] for p in json.loads((self.data / "cluster.json").read_text())["procs"]]

    def running_pids(self) -> list[int]:
        """Every live process started for this test's cluster: each has the data dir in its command line."""
        mine = str(self.data).encode()
        pids = []
        for entry in os.listdir("/proc"):
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError):
                continue
            if entry.isdigit() and mine in argv:
                pids.append(int(entry))
        return pids

    def config(self) -> dict:
        return yaml.safe_load(self.kubeconfig.read_text())

    def nodes(self) -> list[list[str]]:
        return [line.split() for line in self.kubectl("get", "nodes").splitlines()]


@pytest.fixture
def user(tmp_path: Path):
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not installed (the README's test command installs it)")
    u = User(tmp_path)
    try:
        yield u
    finally:
        for pid in u.running_pids():
            os.kill(pid, signal.SIGKILL)


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # exited; only its parent has yet to reap it


def test_up_status_down(user: User) -> None:
    up = user.timoneiro("up", "--name", "demo")
    for line in (' ✓ Starting storage and API server', ' ✓ Starting control-plane 🕹️',
                 ' ✓ Starting nodes 📦 📦 📦', 'Set kubectl context to "timoneiro-demo"',
                 "kubectl cluster-info --context timoneiro-demo"):
        assert line in up.stderr
    pids = user.recorded_pids()
    assert len(pids) == 3 and sorted(pids) == sorted(user.running_pids())

    rows = user.nodes()
    assert rows[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [(r[0], r[1], r[2], r[4]) for r in rows[1:]] == [
        ("demo-control-plane", "Ready", "control-plane", "v1.32.0"),
        ("demo-worker", "Ready", "<none>", "v1.32.0"),
        ("demo-worker2", "Ready", "<none>", "v1.32.0"),
    ]
    nodes = {n["metadata"]["name"]: n for n in json.loads(user.kubectl("get", "nodes", "-o", "json"))["items"]}
    assert nodes["demo-control-plane"]["metadata"]["labels"][CONTROL_PLANE] == ""
    assert [(t["key"], t["effect"]) for t in nodes["demo-control-plane"]["spec"]["taints"]] == [
        (CONTROL_PLANE, "NoSchedule")]
    assert not nodes["demo-worker"]["spec"].get("taints")

    config = user.config()
    assert config["current-context"] == "timoneiro-demo"
    url = next(c["cluster"]["server"] for c in config["clusters"] if c["name"] == "timoneiro-demo")
    assert url.startswith("https://127.0.0.1:")
    # as admin.conf: the cluster CA, and the administrator's client certificate and key
    context = next(c["context"] for c in config["contexts"] if c["name"] == "timoneiro-demo")
    credentials = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    admin = x509.load_pem_x509_certificate(base64.b64decode(credentials["client-certificate-data"]))
    assert (certs.common_name(admin), certs.organizations(admin), "client-key-data" in credentials) == (
        "kubernetes-admin", ["kubeadm:cluster-admins"], True)
    admin.verify_directly_issued_by(x509.load_pem_x509_certificate(
        base64.b64decode(cluster["certificate-authority-data"])))
    assert f"Kubernetes control plane is running at {url}" in user.kubectl("cluster-info", "--context",
                                                                           "timoneiro-demo")

    status = user.timoneiro("status", "--name", "demo").stdout
    assert 'Cluster "demo" is running' in status and url in status
    assert [line.split()[:3] for line in status.splitlines() if line.startswith("demo-")] == [
        ["demo-control-plane", "Ready", "control-plane"], ["demo-worker", "Ready", "<none>"],
        ["demo-worker2", "Ready", "<none>"]]

    again = user.timoneiro("up", "--name", "demo", ok=False)
    assert again.returncode == 1 and 'cluster "demo" is already running' in again.stderr
    assert all(not gone(pid) for pid in pids)

    down = user.timoneiro("down", "--name", "demo")
    assert 'Stopped nodes: ["demo-control-plane" "demo-worker" "demo-worker2"]' in down.stderr
    assert all(gone(pid) for pid in pids) and user.running_pids() == []
    config = user.config()
    assert config["current-context"] == ""
    assert not [e for section in ("clusters", "contexts", "users") for e in config[section]]
    stopped = user.timoneiro("status", "--name", "demo", ok=False)
    assert stopped.returncode == 1 and 'Cluster "demo" is not running' in stopped.stdout
    assert (user.data / "state.db").exists()


def test_restart_keeps_objects_and_nodes_register_again(user: User) -> None:
    user.timoneiro("up", "--nodes", "2")
    user.kubectl("create", "configmap", "kept", "--from-literal=answer=42")
    uids = user.kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.uid}")
    user.timoneiro("down")
    assert user.running_pids() == []

    user.timoneiro("up", "--nodes", "2")
    assert user.kubectl("get", "configmap", "kept", "-o", "jsonpath={.data.answer}") == "42"
    assert user.kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.uid}") == uids
    assert [r[:2] for r in user.nodes()[1:]] == [["timoneiro-control-plane", "Ready"], ["timoneiro-worker", "Ready"]]

    down = user.timoneiro("down", "--purge")
    assert f"Deleted {user.data}" in down.stderr
    assert not user.data.exists() and user.running_pids() == []


def test_quick_start_runs_the_seed_on_the_workers(user: User) -> None:
    """The README's quick start: the seed's Deployment gets two pods, Running on the workers."""
    user.timoneiro("up")
    user.kubectl("apply", "-f", SEED)
    deadline = time.monotonic() + 30
    while True:
        rows = [line.split() for line in user.kubectl("get", "pods", "-o", "wide").splitlines()[1:]]
        if len(rows) == 2 and all(r[2] == "Running" for r in rows) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [r[2] for r in rows] == ["Running", "Running"], rows
    assert {r[6] for r in rows} <= {"timoneiro-worker", "timoneiro-worker2"}
    # each node has a range of the pod network of its own (the node IPAM controller's), its pods' IPs in it
    ranges = {n["metadata"]["name"]: n["spec"]["podCIDR"]
              for n in json.loads(user.kubectl("get", "nodes", "-o", "json"))["items"]}
    assert len(set(ranges.values())) == 3
    assert all(ipaddress.ip_network(cidr).subnet_of(ipaddress.ip_network("10.244.0.0/16")) for cidr in ranges.values())
    assert all(ipaddress.ip_address(r[5]) in ipaddress.ip_network(ranges[r[6]]) for r in rows), (rows, ranges)
    user.timoneiro("down")


def test_a_failed_up_says_why_and_leaves_nothing_running(user: User) -> None:
    (user.data / "state.db").mkdir(parents=True)  # storage cannot open its database
    up = user.timoneiro("up", ok=False)
    assert up.returncode == 1
    assert " ✗ Starting storage and API server" in up.stderr
    assert "ERROR: failed to create cluster: apiserver: unable to open database file" in up.stderr
    assert f"The cluster's log: {user.data / 'cluster.log'}" in up.stderr
    assert user.running_pids() == [] and not (user.data / "cluster.json").exists()
    assert not user.kubeconfig.exists()


def test_up_refuses_a_port_in_use(user: User) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = user.timoneiro("up", "--port", str(port), ok=False)
    assert up.returncode == 1
    assert f"ERROR: failed to create cluster: something listens on 127.0.0.1:{port}" in up.stderr
    assert user.running_pids() == []


# the pieces, without a cluster


def test_nodes_are_named_as_kind_names_them() -> None:
    assert [(n.name, n.control_plane) for n in node_specs("kind", 4)] == [
        ("kind-control-plane", True), ("kind-worker", False), ("kind-worker2", False), ("kind-worker3", False)]
    assert [n.taints for n in node_specs("kind", 2)] == [
        [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}], []]
    assert [n.name for n in node_specs("solo", 1)] == ["solo-control-plane"]


def test_remove_context_keeps_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config"
    monkeypatch.setenv("KUBECONFIG", str(path))
    entry = {"clusters": {"server": "http://x"}, "contexts": {"cluster": "c", "user": "u"}, "users": {}}
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "other",
           **{section: [{"name": name, field: entry[section]} for name in ("timoneiro-a", "other")]
              for section, field in (("clusters", "cluster"), ("contexts", "context"), ("users", "user"))}}
    path.write_text(yaml.safe_dump(doc))
    assert remove_context("a") == [str(path)]
    after = yaml.safe_load(path.read_text())
    assert after["current-context"] == "other"
    assert [[e["name"] for e in after[s]] for s in ("clusters", "contexts", "users")] == [["other"]] * 3
    assert remove_context("a") == []  # nothing left to remove: the file is not rewritten


def test_progress_lines_cross_the_pipe_whole() -> None:
    read_fd, write_fd = os.pipe()
    notify = Notifier(write_fd)
    notify.send("apiserver", "http://127.0.0.1:1")
    notify.send("failed", "two\nlines")
    notify.close()
    assert list(read_events(read_fd, 5, lambda: True)) == [
        ("apiserver", "http://127.0.0.1:1"), ("failed", "two lines")]
    os.close(read_fd)
    notify.send("ready")  # closed: a no-op, never an error


def test_a_recorded_process_is_known_by_its_start_too() -> None:
    me = Proc.of("test", os.getpid())
    assert me.alive()
    assert not Proc("test", os.getpid(), (me.start or 0) + 1).alive()  # the pid, reused by another process
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not Proc.of("test", child.pid).alive()
