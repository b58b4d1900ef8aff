"""What a local cluster calls things, as kind does: its nodes and its kubeconfig context."""

from __future__ import annotations

from dataclasses import dataclass

CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
POD_NETWORK = "10.244.0.0/16"  # kind's pod subnet: its nodes' ranges, /24s, come from the node IPAM controller
# the nodes' container runtimes (`up --runtime`), and the node label that says which one a node runs
SIMULATED, CONTAINERD = "simulated", "containerd"
RUNTIMES = (SIMULATED, CONTAINERD)
RUNTIME_LABEL = "timoneiro.io/container-runtime"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    control_plane: bool

    @property
    def taints(self) -> list[dict]:
        """kubeadm's taint on a control-plane node: only pods that tolerate it run there."""
        return [{"key": CONTROL_PLANE, "effect": "NoSchedule"}] if self.control_plane else []


def node_specs(cluster: str, count: int) -> list[NodeSpec]:
    """`NAME-control-plane`, then the workers `NAME-worker`, `NAME-worker2`, ..."""
    names = [f"{cluster}-control-plane" if i == 0 else f"{cluster}-worker{i if i > 1 else ''}" for i in range(count)]
    return [NodeSpec(name, i == 0) for i, name in enumerate(names)]


def context_name(cluster: str) -> str:
    """The kubeconfig cluster, user and context of a local cluster (kind's are `kind-NAME`)."""
    return f"timoneiro-{cluster}"
