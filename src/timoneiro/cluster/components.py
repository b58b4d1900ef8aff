"""The clients of the API server that make a cluster of it: the controller manager, the scheduler and one
kubelet per node, as tasks of one event loop (one process, one core, beside the API server's)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import urlsplit

from timoneiro.client import ApiError, Client, ClientConfig, TransportError
from timoneiro.client.resources import NODES
from timoneiro.cluster.contexts import add_context
from timoneiro.cluster.names import CONTROL_PLANE, POD_NETWORK, SIMULATED, NodeSpec
from timoneiro.cluster.node_runtimes import NodeRuntimes
from timoneiro.cluster.progress import Notifier
from timoneiro.cluster.tokens import TokenError, create_token, join_command
from timoneiro.controllers.manager import ControllerManager
from timoneiro.kubelet import Kubelet
from timoneiro.kubelet.server import Serving
from timoneiro.metrics.server import MetricsServer
from timoneiro.pki.cluster import ClusterPKI
from timoneiro.scheduler import Scheduler

log = logging.getLogger("timoneiro.cluster")
SERVER_WAIT = 300.0  # as long as `up` waits
KUBELET_ADDRESS = "127.0.0.1"  # a local cluster's nodes: their kubelets listen here, each on a port of its own


class Components:
    """Each with its own identity, from the kubeconfigs of the cluster's PKI: controller-manager.conf,
    scheduler.conf, and kubelets/NODE.conf."""

    def __init__(self, url: str, pki: ClusterPKI, nodes: list[NodeSpec], cluster_cidr: str | None,
                 runtimes: NodeRuntimes) -> None:
        """`cluster_cidr`: the pod network the controller manager gives nodes their ranges from (none if
        None: a managed cluster's nodes take pod addresses elsewhere, as EKS's from the VPC); with one, each
        kubelet waits for its node's range. `runtimes`: the nodes' container runtimes."""
        self.url = url
        self.pki = pki
        self.nodes = nodes
        self.cluster_cidr = cluster_cidr
        self.runtimes = runtimes
        # the manager and the scheduler are named for their node, so that after a crash a restart holds its
        # own Lease at once
        host = next((node.name for node in nodes if node.control_plane), "control-plane")
        self.control_plane = [ControllerManager(pki.config("controller-manager.conf"), identity=host,
                                                cluster_signing=pki.ca, cluster_cidr=cluster_cidr),
                              Scheduler(pki.config("scheduler.conf"), identity=host)]
        self.kubelets: dict[str, Kubelet] = {}  # made once the runtimes run
        self.admin = pki.config("admin.conf")
        self.metrics_server = MetricsServer(self.admin, pki)  # an addon, as kubeadm clusters add it
        self._addons: asyncio.Future | None = None
        self.control_plane_nodes = {node.name for node in nodes if node.control_plane}

    async def start(self, notify: Notifier) -> None:
        """Start everything at once: a node gets Ready without the scheduler (once the controller manager's
        node IPAM gave it its pod range, if the cluster has a pod network), the scheduler starts without
        nodes; the nodes' runtimes start while the API server does. Report each part as it is up."""
        async def control_plane() -> None:
            await serving
            await asyncio.gather(*(part.start() for part in self.control_plane))
            notify.send("control-plane")

        async def node(name: str, kubelet: Kubelet) -> None:
            await kubelet.start()
            if name in self.control_plane_nodes:
                await self.mark_control_plane(name)
            notify.send("node", name)

        async def nodes() -> None:
            await self.runtimes.start()
            self.kubelets = {
                node.name: Kubelet(self.pki.node_config(node.name, self.url), node.name, taints=node.taints,
                                   runtime=self.runtimes.runtime(node.name), labels=self.runtimes.labels(node.name),
                                   wait_for_pod_cidr=self.cluster_cidr is not None,
                                   node_addresses=[{"type": "InternalIP", "address": KUBELET_ADDRESS},
                                                   {"type": "Hostname", "address": node.name}],
                                   serving=self.serving(node.name))
                for node in self.nodes}
            await serving
            await asyncio.gather(*(node(n, k) for n, k in self.kubelets.items()))

        serving = asyncio.ensure_future(wait_serving(self.url))
        try:
            await asyncio.gather(control_plane(), nodes())
        finally:
            serving.cancel()
        # add-ons come once the cluster is ready, as kubeadm's users apply them: none is needed for that
        self._addons = asyncio.ensure_future(self._start_addons())

    async def _start_addons(self) -> None:
        try:
            await self.metrics_server.start()
        except Exception:
            log.exception("metrics-server did not start")

    def serving(self, node: str) -> Serving:
        """The node's kubelet API on loopback (the address the API server reaches it at, its InternalIP), on
        a port of its own, with a serving certificate the cluster CA signs."""
        cert, key = self.pki.kubelet_serving(node, (KUBELET_ADDRESS,))
        return Serving(KUBELET_ADDRESS, 0, cert, key, self.pki.path("ca.crt"))

    async def mark_control_plane(self, name: str) -> None:
        """Label the node a control-plane node as kubeadm's mark-control-plane phase does, as the administrator:
        its kubelet may not set node-role labels (NodeRestriction)."""
        async with Client(self.admin) as client:
            await client.patch(NODES, name, {"metadata": {"labels": {CONTROL_PLANE: ""}}})

    async def stop(self) -> None:
        if self._addons is not None:
            self._addons.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._addons
        parts = [*self.kubelets.values(), *self.control_plane, self.metrics_server]
        await asyncio.gather(*(part.stop() for part in parts), return_exceptions=True)
        await self.runtimes.stop()


async def run_components(cluster: str, url: str, data_dir: str, nodes: list[NodeSpec], notify: Notifier,
                         kubeconfig: bool = True, cluster_cidr: str | None = POD_NETWORK,
                         runtime: str = SIMULATED) -> None:
    """Start; once every node is Ready, point kubectl at the cluster as its administrator (here, where the
    client code is loaded already, rather than in `up`) and report `ready` with the command that joins more
    nodes; unless not asked to: a managed cluster's users and nodes get their access elsewhere, so it makes
    no bootstrap token either. `runtime`: the nodes' container runtime (names.RUNTIMES). Run until
    cancelled; stop in either case."""
    pki = ClusterPKI(data_dir)
    components = Components(url, pki, nodes, cluster_cidr, NodeRuntimes(runtime, cluster, data_dir, nodes))
    try:
        await components.start(notify)
        admin = pki.config("admin.conf")
        if kubeconfig:
            await asyncio.to_thread(add_context, cluster, url, admin)
        notify.send("ready", await _join_command(admin) if kubeconfig else "")
        await asyncio.Future()
    finally:
        await components.stop()


async def wait_serving(url: str, timeout: float = SERVER_WAIT) -> None:
    """Until the API server accepts connections: it listens only once storage and bootstrap are done."""
    address = urlsplit(url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(address.hostname, address.port)
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API server at {url} did not come up in {timeout:.0f}s") from None
            await asyncio.sleep(0.005)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return


async def _join_command(admin: ClientConfig) -> str:
    """As `kubeadm init` ends: the command other machines join with, on a new 24-hour token (made here,
    where the client is loaded already); or why there is none."""
    try:
        async with Client(admin) as client:
            token = await create_token(client, description="The default bootstrap token generated by 'timoneiro up'.")
    except (ApiError, TransportError, TokenError) as e:
        return f"No bootstrap token for joining nodes could be created: {e}"
    return join_command(admin, token)
