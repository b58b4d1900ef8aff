"""What a local cluster calls things, as kind does: its nodes and its kubeconfig context; and the network
devices of its nodes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
POD_NETWORK = "10.244.0.0/16"  # kind's pod subnet: its nodes' ranges, /24s, come from the node IPAM controller
# the nodes' container runtimes (`up --runtime`), and the node label that says which one a node runs
SIMULATED, CONTAINERD = "simulated", "containerd"
RUNTIMES = (SIMULATED, CONTAINERD)
RUNTIME_LABEL = "timoneiro.io/container-runtime"
# the taint of the simulated nodes beside a cluster's own (`up --simulated-nodes`), as KWOK's fake nodes carry
# `kwok.x-k8s.io/node=fake:NoSchedule`: only pods that tolerate running no process land there
SIMULATED_TAINT = {"key": RUNTIME_LABEL, "value": SIMULATED, "effect": "NoSchedule"}


@dataclass(frozen=True)
class NodeSpec:
    name: str
    control_plane: bool
    simulated: bool = False  # one of `up --simulated-nodes`: runs no process whatever the cluster's runtime

    @property
    def taints(self) -> list[dict]:
        """kubeadm's taint on a control-plane node, SIMULATED_TAINT on a simulated one beside the cluster's
        own: only pods that tolerate it run there."""
        return ([{"key": CONTROL_PLANE, "effect": "NoSchedule"}] if self.control_plane else []) + (
            [dict(SIMULATED_TAINT)] if self.simulated else [])


def node_specs(cluster: str, count: int, simulated: int = 0) -> list[NodeSpec]:
    """`NAME-control-plane`, then the workers `NAME-worker`, `NAME-worker2`, ...; then `simulated` nodes
    named as kind would extend the names: `NAME-sim-worker`, `NAME-sim-worker2`, ..."""
    own = [NodeSpec(f"{cluster}-control-plane" if i == 0 else _worker(f"{cluster}-", i), i == 0)
           for i in range(count)]
    return own + [NodeSpec(_worker(f"{cluster}-sim-", i), False, True) for i in range(1, simulated + 1)]


def _worker(prefix: str, number: int) -> str:
    return f"{prefix}worker{number if number > 1 else ''}"


def device_name(*parts: str) -> str:
    """A network device of a node's (its pod bridge, an EKS node's ENI bridge): `tm` and a hash of parts (the
    data dir, the node, what the device is for), 12 characters where the kernel allows 15."""
    return "tm" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]


def context_name(cluster: str) -> str:
    """The kubeconfig cluster, user and context of a local cluster (kind's are `kind-NAME`)."""
    return f"timoneiro-{cluster}"
