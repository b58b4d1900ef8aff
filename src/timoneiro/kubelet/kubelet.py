"""The kubelet: the node agent that registers its Node, keeps its status and Lease fresh, and runs the pods
bound to it through a container runtime (by default the simulated one)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from timoneiro.client import ApiError, Client, ClientConfig, TransportError
from timoneiro.client.events import NORMAL, EventRecorder
from timoneiro.client.resources import NODES
from timoneiro.kubelet import addresses, events, shared
from timoneiro.kubelet.lease import NodeLease
from timoneiro.kubelet.node_status import NodeStatus, is_ready, node_labels
from timoneiro.kubelet.pods import PodLifecycle
from timoneiro.kubelet.retry import until_done
from timoneiro.kubelet.runtime.base import Runtime
from timoneiro.kubelet.runtime.simulated import SimulatedRuntime
from timoneiro.kubelet.server import KubeletServer, Serving
from timoneiro.kubelet.settings import KubeletSettings

log = logging.getLogger("timoneiro.kubelet")
FAST_STATUS_INTERVAL = 0.1  # upstream's fastStatusUpdateOnce reads the Node this often while it is not ready ...
NODE_READY_GRACE_PERIOD = 120.0  # ... for at most this long (nodeReadyGracePeriod)


@dataclass
class _Running:
    """The parts that talk to the API server, made by start() (they share the loop's client)."""

    client: Client
    recorder: EventRecorder
    node_status: NodeStatus
    lease: NodeLease
    pods: PodLifecycle
    tasks: list[asyncio.Task] = field(default_factory=list)
    server: KubeletServer | None = None  # the kubelet's API


class Kubelet:
    def __init__(self, config: ClientConfig | str, node_name: str, *, runtime: Runtime | None = None,
                 labels: dict | None = None, taints: list | None = None, capacity: dict | None = None,
                 reserved: dict | None = None, provider_id: str | None = None,
                 node_addresses: list[dict] | None = None, control_plane: bool = False,
                 pod_cidr: str | None = None, settings: KubeletSettings | None = None,
                 wait_for_pod_cidr: bool = False, serving: Serving | None = None) -> None:
        """`capacity` overrides the machine's (--kube-reserved style `reserved` comes off allocatable too);
        `provider_id` and `node_addresses` are what a cloud provider would report for the node (default: a
        simulated InternalIP and the hostname). `wait_for_pod_cidr`: the node's pod range comes from the
        node IPAM controller (a cluster with a cluster CIDR), as upstream's kubelet takes it: until the Node
        has a podCIDR the runtime's network is not ready, and so neither is the node. Without it a Node
        without a podCIDR takes its own fallback range at once (EKS's nodes, whose pods would take VPC
        addresses). `serving`: where the kubelet's API listens (None: it serves none, as a simulated node of
        a test or benchmark needs none); the node's InternalIP must be an address the API server reaches
        it at."""
        self.config = config
        self.node_name = node_name
        self.runtime = runtime or SimulatedRuntime()
        self.labels = node_labels(node_name, control_plane, labels)
        self.taints = list(taints or ())
        self.capacity, self.reserved, self.provider_id = capacity, reserved, provider_id
        self.pod_cidr = pod_cidr
        self.wait_for_pod_cidr = wait_for_pod_cidr
        self.settings = settings or KubeletSettings()
        self.serving = serving
        self.node_addresses = node_addresses or [{"type": "InternalIP", "address": addresses.node_ip(node_name)},
                                                 {"type": "Hostname", "address": node_name}]
        self.node_ip = next(a["address"] for a in self.node_addresses if a["type"] == "InternalIP")
        self.node: dict = {}  # the Node as last read or written
        self._pod_cidr_applied: str | None = None
        self._running: _Running | None = None

    async def start(self) -> None:
        """Register the Node and post its status, renew its Lease, and start running its pods; return once
        the Node is posted Ready (or, if it waits for its pod range, that did not come in the grace period)."""
        if self._running is not None:
            return
        client = shared.acquire(self.config)
        recorder = EventRecorder(client, events.COMPONENT, host=self.node_name, qps=self.settings.event_record_qps,
                                 burst=self.settings.event_burst)
        node_status = NodeStatus(client, self.node_name, self.runtime, self.settings, labels=self.labels,
                                 taints=self.taints, capacity=self.capacity, reserved=self.reserved,
                                 provider_id=self.provider_id, pod_cidr=self.pod_cidr,
                                 addresses=self.node_addresses, on_node=self._on_node, recorder=recorder)
        lease = NodeLease(client, self.node_name, self.settings.node_lease_duration_seconds,
                          retry_initial=self.settings.retry_initial, retry_max=self.settings.retry_max)
        pods = PodLifecycle(client, self.node_name, self.runtime, self.settings, lambda: self.node, self.node_ip,
                            recorder)
        recorder.yield_to = pods.status.idle  # events wait for the writes that show pods starting
        running = self._running = _Running(client, recorder, node_status, lease, pods)
        try:
            name = self.node_name
            node_ref = events.node_ref(name)
            recorder.record(node_ref, NORMAL, events.STARTING, "Starting kubelet.")
            recorder.record(node_ref, NORMAL, events.ALLOCATABLE_ENFORCED, "Updated Node Allocatable limit across pods")
            if self.serving is not None:  # first: the Node's status tells the port it listens on
                running.server = KubeletServer(pods, client, self.serving)
                await running.server.start()
                node_status.kubelet_port = running.server.port
            node = await until_done(node_status.register, f"registering node {name}")
            lease.node_uid = node["metadata"]["uid"]
            posted = await until_done(lambda: node_status.update(node), f"posting the status of node {name}")
            await until_done(lease.renew, f"creating the lease of node {name}")
            await pods.start()
        except BaseException:
            await self.stop()
            raise
        loop = asyncio.get_running_loop()
        running.tasks = [loop.create_task(work, name=f"kubelet {self.node_name}")
                         for work in (node_status.run(), lease.run(), *pods.loops())]
        if not is_ready(posted):
            await self._fast_status_update(running)

    async def _fast_status_update(self, running: _Running) -> None:
        """Upstream's fastStatusUpdateOnce: read the Node every 100 ms until it has its pod range, hand that
        to the runtime and post the status at once, until the Node is posted Ready (the runtime's network may
        take a moment to follow), rather than at the next status update 10 s on."""
        deadline = asyncio.get_running_loop().time() + NODE_READY_GRACE_PERIOD
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(FAST_STATUS_INTERVAL)
            try:
                node = await running.client.get(NODES, self.node_name)
                await self._on_node(node)
                if is_ready(await running.node_status.update(node)):
                    return
            except (ApiError, TransportError) as e:
                log.warning("reading node %s for its pod range failed: %s", self.node_name, e)

    async def stop(self) -> None:
        """Stop heartbeats and pod work; the Node and its pods stay, for the control plane to notice."""
        running, self._running = self._running, None
        if running is None:
            return
        for task in running.tasks:
            task.cancel()
        await asyncio.gather(*running.tasks, return_exceptions=True)
        if running.server is not None:
            await running.server.stop()
        await running.pods.stop()
        await running.recorder.stop()
        await shared.release(self.config)

    async def _on_node(self, node: dict) -> None:
        """A fresh copy of the Node: tell the runtime its pod range (the podCIDR, else, unless it waits for
        one, this node's own fallback range) if that changed."""
        self.node = node
        cidr = (node.get("spec") or {}).get("podCIDR") \
            or (None if self.wait_for_pod_cidr else addresses.fallback_pod_cidr(self.node_name))
        if cidr and cidr != self._pod_cidr_applied:
            self._pod_cidr_applied = cidr
            await self.runtime.update_runtime_config(cidr)

