"""A node joined with `timoneiro join --runtime containerd` to a `timoneiro up --runtime containerd` control
plane, as a kubeadm user adds a worker: it runs a containerd of its own and takes its pod range from the
cluster's node IPAM; its kubelet asks for a serving certificate with a kubernetes.io/kubelet-serving CSR,
which the controller manager approves (the names are the node's addresses) and signs; then a pod on it is
a real process whose `kubectl logs` and `kubectl exec` go through its kubelet API. Stopping the join stops
its containerd, leaving none of its processes or its bridge behind.

One cluster and one joined node for the file, with short data dirs (containerd's sockets must fit in a unix
socket path)."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from test_up_containerd import BUSYBOX, ContainerdUser
from timoneiro.cluster.names import RUNTIME_LABEL, NodeSpec, node_specs
from timoneiro.cluster.node_runtimes import NodeRuntimes
from timoneiro.kubelet.cri.containerd import processes
from timoneiro.kubelet.node_status import is_ready
from timoneiro.pki import certs

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("containerd"),
                                reason="containerd needs root and scripts/setup.sh's packages")

NODE = "jc-worker"


class JoiningUser(ContainerdUser):
    """A control plane alone: `up --runtime containerd --nodes 1`, whose output has the join command."""

    node_count = 1
    up_output = ""

    def up(self) -> None:
        self.up_output = self.timoneiro("up", "--runtime", "containerd", "--nodes", "1").stderr


class Joined:
    """The control plane's user, and the joined node: its process and its data dir."""

    def __init__(self, user: JoiningUser, node_dir: Path) -> None:
        self.user = user
        self.node_dir = node_dir
        self.proc: subprocess.Popen | None = None

    def join(self) -> None:
        match = re.search(r"(timoneiro join \S+ --token \S+) \\\n\s+(--discovery-token-ca-cert-hash sha256:\w+)",
                          self.user.up_output)
        assert match, self.user.up_output
        args = (match.group(1) + " " + match.group(2)).split()[2:]
        self.proc = subprocess.Popen([sys.executable, "-m", "timoneiro", "join", *args, "--runtime", "containerd",
                                      "--node-name", NODE, "--data-dir", str(self.node_dir)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=self.user.env, cwd=self.user.home)

    def wait_ready(self) -> dict:
        for _ in range(600):
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"join exited {self.proc.returncode}:\n{self.proc.stdout.read()}")
            nodes = json.loads(self.user.kubectl("get", "nodes", "-o", "json"))["items"]
            for node in nodes:
                if node["metadata"]["name"] == NODE and is_ready(node):
                    return node
            time.sleep(0.2)
        raise AssertionError(f"{NODE} not Ready: {self.user.kubectl('get', 'nodes', '-o', 'wide')}")

    def stop(self) -> int | None:
        """SIGTERM, as a user stops it; its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def _node_processes(node_dir: Path) -> list[int]:
    """Live processes started with the joined node's data dir in their command line (its containerd)."""
    return processes(lambda argv: str(node_dir).encode() in b"\0".join(argv))


@pytest.fixture(scope="module")
def joined() -> Iterator[Joined]:
    tmp = Path(tempfile.mkdtemp(prefix="tm-jc-", dir="/tmp"))
    user = JoiningUser(tmp)
    node = Joined(user, tmp / "n")
    runtimes = NodeRuntimes("containerd", NODE, node.node_dir, [NodeSpec(NODE, False)])
    try:
        user.up()
        node.join()
        node.wait_ready()
        yield node
    finally:
        node.stop()
        asyncio.run(runtimes.stop())  # what a join that failed to stop left
        user.timoneiro("down", ok=False)
        for pid in user.running_pids():
            os.kill(pid, signal.SIGKILL)
        asyncio.run(NodeRuntimes("containerd", "timoneiro", user.data, node_specs("timoneiro", 1)).stop())
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_joined_node_runs_containerd_with_a_range_of_the_pod_network(joined: Joined) -> None:
    node = json.loads(joined.user.kubectl("get", "node", NODE, "-o", "json"))
    assert node["metadata"]["labels"][RUNTIME_LABEL] == "containerd"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    network = ipaddress.ip_network((joined.user.data / "pod-network").read_text().strip())
    assert ipaddress.ip_network(node["spec"]["podCIDR"]).subnet_of(network)
    assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]


def test_its_serving_certificate_came_through_an_approved_kubelet_serving_csr(joined: Joined) -> None:
    csrs = json.loads(joined.user.kubectl("get", "csr", "-o", "json"))["items"]
    serving = [c for c in csrs if c["spec"]["signerName"] == "kubernetes.io/kubelet-serving"
               and c["spec"]["username"] == f"system:node:{NODE}"]
    assert serving, [c["metadata"]["name"] for c in csrs]
    csr = serving[-1]
    assert csr["metadata"]["name"].startswith("csr-")
    assert set(csr["spec"]["usages"]) == {"digital signature", "server auth"}
    assert "system:nodes" in csr["spec"]["groups"]
    assert [c["type"] for c in csr["status"]["conditions"]] == ["Approved"]
    row = next(r for r in joined.user.kubectl("get", "csr").splitlines() if r.startswith(csr["metadata"]["name"]))
    assert row.split()[-1] == "Approved,Issued"
    cert = x509.load_pem_x509_certificate(base64.b64decode(csr["status"]["certificate"]))
    assert certs.common_name(cert) == f"system:node:{NODE}" and certs.organizations(cert) == ["system:nodes"]
    assert certs.subject_alt_names(cert) == ([NODE], ["127.0.0.1"])
    ca = x509.load_pem_x509_certificate((joined.user.data / "pki" / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    # the kubelet serves with it (what the API server checks before it hands on logs and exec)
    port = json.loads(joined.user.kubectl("get", "node", NODE, "-o", "json"))["status"]["daemonEndpoints"][
        "kubeletEndpoint"]["Port"]
    served = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-showcerts"],
                            input="", capture_output=True, text=True, timeout=30).stdout
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", served, re.S)
    assert pem and x509.load_pem_x509_certificate(pem.group(0).encode()) == cert


def test_a_pod_on_it_is_a_real_process_with_logs_and_exec(joined: Joined) -> None:
    user = joined.user
    user.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "on-joined", "labels": {"app": "jc"}},
                "spec": {"nodeSelector": {"kubernetes.io/hostname": NODE},
                         "containers": [{"name": "main", "image": BUSYBOX, "command": [
                             "sh", "-c", "echo started on $(hostname); exec sleep 3600"]}]}})
    pod = user.wait_running("app=jc", 1)[0]
    assert pod["spec"]["nodeName"] == NODE
    node = json.loads(user.kubectl("get", "node", NODE, "-o", "json"))
    assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(node["spec"]["podCIDR"])
    for _ in range(100):
        logs = user.kubectl("logs", "on-joined")
        if logs:
            break
        time.sleep(0.1)
    assert logs == "started on on-joined\n"
    assert user.kubectl("exec", "on-joined", "--", "cat", "/etc/hostname") == "on-joined\n"
    assert user.kubectl("exec", "on-joined", "--", "sh", "-c", "echo $((6 * 7))") == "42\n"


def test_stopping_the_join_stops_its_containerd(joined: Joined) -> None:
    assert _node_processes(joined.node_dir)  # its containerd (and the pods' shims) run
    bridge = NodeRuntimes("containerd", NODE, joined.node_dir, [NodeSpec(NODE, False)]).containerd(NODE).layout.bridge
    assert joined.stop() == 0
    assert _node_processes(joined.node_dir) == []
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    assert bridge not in links
