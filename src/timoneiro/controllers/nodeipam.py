"""The node IPAM controller (kube-controller-manager's --allocate-node-cidrs with --cluster-cidr): gives
every node a pod range of its own, spec.podCIDR and spec.podCIDRs, from the cluster's pod network, as
upstream's range allocator does: /24s of an IPv4 network (--node-cidr-mask-size), handed out round-robin,
the ranges nodes hold already kept for them across restarts, a deleted node's range free again. The kubelet
passes its node's range to the runtime, whose network plugin takes pod addresses from it."""

from __future__ import annotations

import ipaddress
import logging

from timoneiro.client import ApiError
from timoneiro.client.resources import NODES
from timoneiro.controllers.base import Controller
from timoneiro.controllers.events import EventRecorder

log = logging.getLogger("timoneiro.controllers.nodeipam")
DEFAULT_MASK_SIZE = 24


class CIDRSet:
    """The node ranges of a cluster network: which are taken, and the next free one after the last given."""

    def __init__(self, cluster_cidr: str, mask_size: int = DEFAULT_MASK_SIZE) -> None:
        self.network = ipaddress.ip_network(cluster_cidr)
        if mask_size < self.network.prefixlen:
            raise ValueError(f"--node-cidr-mask-size {mask_size} is smaller than the mask of --cluster-cidr "
                             f"{cluster_cidr}")
        self.mask_size = mask_size
        self.count = 1 << (mask_size - self.network.prefixlen)
        self._step = 1 << (self.network.max_prefixlen - mask_size)
        self._used: set[int] = set()
        self._next = 0

    def occupy(self, cidr: str) -> bool:
        """Mark a range a node holds as taken; False if it is not one of this network's ranges."""
        index = self._index(cidr)
        if index is None:
            return False
        self._used.add(index)
        return True

    def allocate(self) -> str | None:
        """The next free range, round-robin from after the last one given; None when all are taken."""
        for offset in range(self.count):
            index = (self._next + offset) % self.count
            if index not in self._used:
                self._used.add(index)
                self._next = (index + 1) % self.count
                return str(ipaddress.ip_network((int(self.network.network_address) + index * self._step,
                                                 self.mask_size)))
        return None

    def release(self, cidr: str) -> None:
        index = self._index(cidr)
        if index is not None:
            self._used.discard(index)

    def _index(self, cidr: str) -> int | None:
        try:
            network = ipaddress.ip_network(cidr)
        except ValueError:
            return None
        if network.version != self.network.version or network.prefixlen != self.mask_size or \
                not network.subnet_of(self.network):
            return None
        return (int(network.network_address) - int(self.network.network_address)) // self._step


class NodeIpamController(Controller):
    name = "node-ipam"
    service_account = "node-controller"  # upstream's node IPAM controller acts as the node controller

    def __init__(self, client, informers, *, cluster_cidr: str, mask_size: int = DEFAULT_MASK_SIZE) -> None:
        super().__init__(client, informers)
        self.cidrs = CIDRSet(cluster_cidr, mask_size)
        self.given: dict[str, str] = {}  # node name -> the range it holds, to free it when the node goes
        self._patched: dict[str, str] = {}  # node name -> the uid of the node this controller gave a range
        self.events = EventRecorder(client, "cidrAllocator")
        self.nodes = self.follow(informers.informer(NODES))

    async def run(self) -> None:
        """Take the ranges nodes hold already before giving out any, so that none is given twice."""
        for node in self.nodes.store.list():
            self._hold(node)
        await super().run()

    def _hold(self, node: dict) -> bool:
        """Whether the node has a range; if it has, it is taken."""
        name = node["metadata"]["name"]
        cidrs = (node.get("spec") or {}).get("podCIDRs") or []
        if not cidrs:
            return False
        if self.given.get(name) != cidrs[0]:
            if not self.cidrs.occupy(cidrs[0]):
                log.warning("node %s has pod range %s, outside the cluster CIDR %s", name, cidrs[0],
                            self.cidrs.network)
            self.given[name] = cidrs[0]
        return True

    async def sync(self, key: str) -> None:
        node = self.nodes.store.get(key)
        if node is None:
            self._patched.pop(key, None)
            if (held := self.given.pop(key, None)) is not None:
                self.cidrs.release(held)
            return
        if node["metadata"].get("deletionTimestamp") or self._hold(node):
            return
        if self._patched.get(key) == node["metadata"].get("uid"):
            return  # given a range already: the cache has yet to see it (upstream's nodesInProcessing)
        cidr = self.cidrs.allocate()
        if cidr is None:
            self.events.normal({"kind": "Node", "name": key, "uid": node["metadata"].get("uid"), "apiVersion": "v1"},
                               "CIDRNotAvailable", f"Node {key} status is now: CIDRNotAvailable")
            raise RuntimeError(f"no pod range left in {self.cidrs.network} for node {key}")  # retried later
        try:
            await self.client.patch(NODES, key, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
        except ApiError as e:
            self.cidrs.release(cidr)
            if e.code != 404:
                raise
            return
        self.given[key] = cidr
        self._patched[key] = node["metadata"].get("uid")
        log.info("node %s: pod range %s", key, cidr)
