"""The container runtimes of a local cluster's nodes: simulated (no processes), or containerd, real
containers: one registry on loopback per cluster (localhost:PORT, the port kept across restarts) serving
the locally built images (pause, busybox, nginx, also under their docker.io and public.ecr.aws names) and
the user's, and one containerd per node pulling from it.

Each node's containerd keeps everything under DATA_DIR/nodes/NODE (its pods' logs in .../pods), has a pod
bridge of its own (`tm` and a hash of the data dir and node: at most 15 characters, unique per node) and
puts its pods' cgroups under /timoneiro/CLUSTER-HASH/NODE. A cluster's simulated nodes (NodeSpec.simulated)
run the simulated runtime beside containerd ones. Nodes say which runtime they run in the label
RUNTIME_LABEL. stop(), or sweep() after a components process that died, leaves no process, pod, bridge,
mount or cgroup behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

from timoneiro.cluster.names import RUNTIME_LABEL, RUNTIMES, SIMULATED, NodeSpec, device_name
from timoneiro.images import local
from timoneiro.images.registry import LocalRegistry
from timoneiro.kubelet.cri.containerd import Containerd
from timoneiro.kubelet.runtime.base import Runtime
from timoneiro.kubelet.runtime.cri import CriRuntime
from timoneiro.kubelet.runtime.simulated import SimulatedRuntime

log = logging.getLogger("timoneiro.cluster.node_runtimes")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class NodeRuntimes:
    """The runtimes of one cluster's nodes, made by start() and ended by stop()."""

    def __init__(self, kind: str, cluster: str, data_dir: str | Path, nodes: list[NodeSpec]) -> None:
        if kind not in RUNTIMES:
            raise ValueError(f"unknown container runtime {kind!r}: one of {', '.join(RUNTIMES)}")
        self.kind = kind
        self.cluster = cluster
        self.data_dir = Path(data_dir).absolute()
        self.nodes = [node.name for node in nodes if not node.simulated]  # those that run `kind`
        self.simulated = {node.name for node in nodes if node.simulated}
        self.registry = LocalRegistry(self.data_dir / "registry")
        self._containerds: dict[str, Containerd] = {}
        self._clients: list[CriRuntime] = []  # the runtimes handed out, closed on stop
        self._sandbox_image = ""  # the pause image's reference, once published

    def node_dir(self, node: str) -> Path:
        return self.data_dir / "nodes" / node

    def containerd(self, node: str, sandbox_image: str = "", pod_cidr: str | None = None) -> Containerd:
        """The node's containerd (sandbox_image and pod_cidr, a pod range of the node's own, matter only to
        start one)."""
        registry = self.registry
        cgroup = f"/timoneiro/{self.cluster}-{_digest(str(self.data_dir))[:8]}/{node}"
        return Containerd(self.node_dir(node), sandbox_image=sandbox_image,
                          bridge=device_name(str(self.data_dir), node), cgroup_parent=cgroup,
                          registries=dict.fromkeys((registry.host, registry.name, *local.MIRRORED),
                                                   registry.url), pod_cidr=pod_cidr)

    def running_sockets(self) -> dict[str, str]:
        """The CRI sockets of the nodes whose containerd runs, by node (for `timoneiro image load`)."""
        containerds = {node: self.containerd(node) for node in self.nodes}
        return {node: c.socket for node, c in containerds.items() if c.daemon_pids()}

    async def start(self) -> None:
        """For containerd: the registry with the images published, then every node's containerd at once."""
        if self.kind == SIMULATED:
            return
        try:
            await self.registry.start()
            self._sandbox_image = (await local.publish(self.registry, self.data_dir / "images"))["pause"]
            self._containerds = {node: self.containerd(node, self._sandbox_image) for node in self.nodes}
            await asyncio.gather(*(c.start() for c in self._containerds.values()))
        except BaseException:
            await self.stop()
            raise

    async def add_node(self, node: str, pod_cidr: str | None = None) -> None:
        """Start one more node's containerd, after start() (an EKS node group's agent adds nodes as its
        group scales). pod_cidr: the node's own pod range, where the kubelet's pod CIDR is not used."""
        containerd = self.containerd(node, self._sandbox_image, pod_cidr)
        self._containerds[node] = containerd
        if node not in self.nodes:
            self.nodes.append(node)
        await containerd.start()

    async def remove_node(self, node: str) -> None:
        """Stop one node's containerd, its pods removed, and close the runtimes handed out for it."""
        containerd = self._containerds.pop(node, None) or self.containerd(node)
        if node in self.nodes:
            self.nodes.remove(node)
        clients = [c for c in self._clients if c.socket_path == containerd.socket]
        self._clients = [c for c in self._clients if c not in clients]
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await containerd.stop()

    def runtime(self, node: str) -> Runtime:
        if self.kind_of(node) == SIMULATED:
            return SimulatedRuntime()
        runtime = self._containerds[node].runtime(self.node_dir(node) / "pods")
        self._clients.append(runtime)
        return runtime

    def kind_of(self, node: str) -> str:
        return SIMULATED if node in self.simulated else self.kind

    def labels(self, node: str) -> dict[str, str]:
        return {RUNTIME_LABEL: self.kind_of(node)}

    async def stop(self) -> None:
        """Stop every node's containerd (its pods removed) and the registry; also those a components
        process that died left running, found by their data dirs (so a new NodeRuntimes sweeps up after
        one that was never stopped)."""
        if self.kind == SIMULATED:
            return
        clients, self._clients = self._clients, []
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        containerds = self._containerds or {node: self.containerd(node) for node in self.nodes}
        results = await asyncio.gather(*(c.stop() for c in containerds.values()), return_exceptions=True)
        for node, result in zip(containerds, results, strict=True):
            if isinstance(result, BaseException):
                log.error("stopping the containerd of node %s failed: %s", node, result)
        self._containerds = {}
        await self.registry.stop()

