"""An EKS managed node group whose nodes run containerd (the node group's label timoneiro.io/container-runtime,
or `timoneiro eks serve --node-runtime containerd` for every node group): its nodes run real containers whose
pods take addresses of the node's subnet as with the VPC CNI (the Node has no podCIDR), their InternalIP is
reachable, and their kubelets serve their API with a certificate from an approved kubelet-serving CSR, so
that `kubectl logs` and `kubectl exec` work; deleting the node group leaves no containerd or bridge behind.

One service, cluster and one-node node group for the file."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from eks_testing import EksService
from test_eks_nodegroups import cluster, kubectl, nodegroup, nodes, until
from timoneiro.cluster.names import CONTAINERD, RUNTIME_LABEL, NodeSpec
from timoneiro.cluster.node_runtimes import NodeRuntimes
from timoneiro.eks import ec2, node_network
from timoneiro.eks.nodegroup_scaling import nodegroup_dir
from timoneiro.pki import certs

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("containerd"),
                                reason="containerd needs root and scripts/setup.sh's packages")

GROUP = "real"


def _links() -> str:
    return subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout


def _sweep(directory: str, node_names: list[str]) -> None:
    """What a node agent that did not stop left: its containerds, registry and InternalIP bridges."""
    asyncio.run(NodeRuntimes(CONTAINERD, GROUP, directory, [NodeSpec(n, False) for n in node_names]).stop())
    for name in node_names:
        node_network.detach(node_network.device(directory, name))


@pytest.fixture(scope="module")
def eks() -> Iterator[EksService]:
    tmp = Path(tempfile.mkdtemp(prefix="tm-ekc-", dir="/tmp"))
    service = EksService(tmp / "eks").start()
    names: list[str] = []
    directory = ""
    try:
        cluster(service)
        directory = nodegroup_dir(service.eks, "demo", GROUP)
        nodegroup(service, GROUP, labels={RUNTIME_LABEL: CONTAINERD},
                  scalingConfig={"minSize": 1, "maxSize": 1, "desiredSize": 1})
        names = list(nodes(service))
        yield service
    finally:
        service.stop()
        if directory:
            _sweep(directory, names)
        shutil.rmtree(tmp, ignore_errors=True)


def _node(eks: EksService) -> dict:
    (node,) = nodes(eks).values()
    return node


def test_the_nodes_run_containerd_with_vpc_addresses(eks: EksService) -> None:
    node = _node(eks)
    assert node["metadata"]["labels"][RUNTIME_LABEL] == CONTAINERD
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert "podCIDR" not in node["spec"]  # pods take VPC addresses, as with the VPC CNI
    internal = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    assert ipaddress.ip_address(internal) in ec2._VPC
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    assert port > 0  # its API listens on its InternalIP, which is on a bridge of its own
    assert node_network.device(nodegroup_dir(eks.eks, "demo", GROUP), node["metadata"]["name"]) in _links()


def test_the_kubelet_serves_with_an_approved_kubelet_serving_certificate(eks: EksService) -> None:
    name = _node(eks)["metadata"]["name"]
    csrs = json.loads(kubectl(eks, "get", "csr", "-o", "json"))["items"]
    (csr,) = [c for c in csrs if c["spec"]["signerName"] == "kubernetes.io/kubelet-serving"
              and c["spec"]["username"] == f"system:node:{name}"]
    assert [c["type"] for c in csr["status"]["conditions"]] == ["Approved"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(csr["status"]["certificate"]))
    internal = next(a["address"] for a in _node(eks)["status"]["addresses"] if a["type"] == "InternalIP")
    assert certs.subject_alt_names(cert) == ([name], [internal])


def test_a_pod_takes_an_address_of_the_subnet_and_has_logs_and_exec(eks: EksService) -> None:
    node = _node(eks)
    name = node["metadata"]["name"]
    internal = ipaddress.ip_address(next(a["address"] for a in node["status"]["addresses"]
                                         if a["type"] == "InternalIP"))
    kubectl(eks, "apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "vpc-pod"},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.35.0",
                                 "command": ["sh", "-c", "echo hello from $(hostname); exec sleep 3600"]}]}}))

    def running() -> dict | None:
        pod = json.loads(kubectl(eks, "get", "pod", "vpc-pod", "-o", "json"))
        return pod if pod["status"].get("phase") == "Running" and pod["status"].get("podIP") else None

    pod = until(running, "vpc-pod Running", timeout=180)
    assert pod["spec"]["nodeName"] == name
    ip = ipaddress.ip_address(pod["status"]["podIP"])
    subnet = next(n for n in (ec2.subnet_cidr(i) for i in range(4)) if internal in n)
    assert ip in subnet and ip != internal
    assert until(lambda: kubectl(eks, "logs", "vpc-pod"), "its log") == "hello from vpc-pod\n"
    assert kubectl(eks, "exec", "vpc-pod", "--", "cat", "/etc/hostname") == "vpc-pod\n"


def test_deleting_the_node_group_stops_its_containerds(eks: EksService) -> None:
    directory = nodegroup_dir(eks.eks, "demo", GROUP)
    name = _node(eks)["metadata"]["name"]
    containerd = NodeRuntimes(CONTAINERD, GROUP, directory, []).containerd(name)
    assert containerd.daemon_pids()
    client = eks.client()
    client.delete_nodegroup(clusterName="demo", nodegroupName=GROUP)
    client.get_waiter("nodegroup_deleted").wait(clusterName="demo", nodegroupName=GROUP,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 180})
    until(lambda: not containerd.daemon_pids(), "its containerd to stop", timeout=60)
    links = _links()
    assert containerd.layout.bridge not in links
    assert node_network.device(directory, name) not in links
