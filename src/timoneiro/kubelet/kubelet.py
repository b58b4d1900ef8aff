"""The kubelet: the node agent that registers its Node, keeps its status and Lease fresh, and runs the pods
bound to it through a container runtime (by default the simulated one)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from timoneiro.client import Client, ClientConfig
from timoneiro.kubelet import addresses, shared
from timoneiro.kubelet.lease import NodeLease
from timoneiro.kubelet.node_status import NodeStatus, node_labels
from timoneiro.kubelet.pods import PodLifecycle
from timoneiro.kubelet.retry import until_done
from timoneiro.kubelet.runtime.base import Runtime
from timoneiro.kubelet.runtime.simulated import SimulatedRuntime
from timoneiro.kubelet.settings import KubeletSettings


@dataclass
class _Running:
    """The parts that talk to the API server, made by start() (they share the loop's client)."""

    client: Client
    node_status: NodeStatus
    lease: NodeLease
    pods: PodLifecycle
    tasks: list[asyncio.Task] = field(default_factory=list)


class Kubelet:
    def __init__(self, config: ClientConfig | str, node_name: str, *, runtime: Runtime | None = None,
                 labels: dict | None = None, taints: list | None = None, capacity: dict | None = None,
                 reserved: dict | None = None, provider_id: str | None = None,
                 node_addresses: list[dict] | None = None, control_plane: bool = False,
                 pod_cidr: str | None = None, settings: KubeletSettings | None = None) -> None:
        """`capacity` overrides the machine's (--kube-reserved style `reserved` comes off allocatable too);
        `provider_id` and `node_addresses` are what a cloud provider would report for the node (default: a
        simulated InternalIP and the hostname)."""
        self.config = config
        self.node_name = node_name
        self.runtime = runtime or SimulatedRuntime()
        self.labels = node_labels(node_name, control_plane, labels)
        self.taints = list(taints or ())
        self.capacity, self.reserved, self.provider_id = capacity, reserved, provider_id
        self.pod_cidr = pod_cidr
        self.settings = settings or KubeletSettings()
        self.node_addresses = node_addresses or [{"type": "InternalIP", "address": addresses.node_ip(node_name)},
                                                 {"type": "Hostname", "address": node_name}]
        self.node_ip = next(a["address"] for a in self.node_addresses if a["type"] == "InternalIP")
        self.node: dict = {}  # the Node as last read or written
        self._pod_cidr_applied: str | None = None
        self._running: _Running | None = None

    async def start(self) -> None:
        """Register the Node and post it Ready, renew its Lease, and start running its pods."""
        if self._running is not None:
            return
        client = shared.acquire(self.config)
        node_status = NodeStatus(client, self.node_name, self.runtime, self.settings, labels=self.labels,
                                 taints=self.taints, capacity=self.capacity, reserved=self.reserved,
                                 provider_id=self.provider_id, pod_cidr=self.pod_cidr,
                                 addresses=self.node_addresses, on_node=self._on_node)
        lease = NodeLease(client, self.node_name, self.settings.node_lease_duration_seconds,
                          retry_initial=self.settings.retry_initial, retry_max=self.settings.retry_max)
        pods = PodLifecycle(client, self.node_name, self.runtime, self.settings, lambda: self.node, self.node_ip)
        running = self._running = _Running(client, node_status, lease, pods)
        try:
            name = self.node_name
            node = await until_done(node_status.register, f"registering node {name}")
            lease.node_uid = node["metadata"]["uid"]
            await until_done(lambda: node_status.update(node), f"posting the status of node {name}")
            await until_done(lease.renew, f"creating the lease of node {name}")
            await pods.start()
        except BaseException:
            await self.stop()
            raise
        loop = asyncio.get_running_loop()
        running.tasks = [loop.create_task(work, name=f"kubelet {self.node_name}")
                         for work in (node_status.run(), lease.run(), *pods.loops())]

    async def stop(self) -> None:
        """Stop heartbeats and pod work; the Node and its pods stay, for the control plane to notice."""
        running, self._running = self._running, None
        if running is None:
            return
        for task in running.tasks:
            task.cancel()
        await asyncio.gather(*running.tasks, return_exceptions=True)
        await running.pods.stop()
        await shared.release(self.config)

    async def _on_node(self, node: dict) -> None:
        """A fresh copy of the Node: tell the runtime its pod range (the podCIDR, else this node's own
        fallback range) if that changed."""
        self.node = node
        cidr = (node.get("spec") or {}).get("podCIDR") or addresses.fallback_pod_cidr(self.node_name)
        if cidr != self._pod_cidr_applied:
            self._pod_cidr_applied = cidr
            await self.runtime.update_runtime_config(cidr)
