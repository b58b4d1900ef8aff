"""The scheduler's cache: nodes and the pods on them, including pods assumed bound before the API says so.

Assuming a pod the moment a node is chosen lets the next cycle start at once while the binding call is in
flight; the informer's view of the bound pod confirms it later, and a failed binding forgets it.
"""

from __future__ import annotations

import logging

from timoneiro.scheduler.nodeinfo import NodeInfo, zone_key
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.snapshot import Snapshot

log = logging.getLogger("timoneiro.scheduler.cache")


class CacheError(Exception):
    pass


class _PodState:
    __slots__ = ("info", "assumed")

    def __init__(self, info: PodInfo, assumed: bool) -> None:
        self.info = info
        self.assumed = assumed


class Cache:
    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}  # includes nodes not (or no longer) known that still hold pods
        self._pods: dict[str, _PodState] = {}  # by uid
        self._zones: dict[str, list[str]] = {}  # zone key -> node names in the order they came
        self._node_zone: dict[str, str] = {}
        self._dirty: set[str] = set()  # nodes changed since the last snapshot
        self._order_changed = True

    # nodes

    def add_node(self, node: dict) -> None:
        """A node was added, or changed."""
        name = node["metadata"]["name"]
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo()
        self._place(name, zone_key(node))
        info.set_node(node)
        self._dirty.add(name)

    def remove_node(self, name: str) -> None:
        info = self.nodes.get(name)
        if info is None:
            return
        info.remove_node()
        if not info.pods:
            del self.nodes[name]
        zone = self._node_zone.pop(name, None)
        if zone is not None:
            self._zones[zone].remove(name)
            if not self._zones[zone]:
                del self._zones[zone]
            self._order_changed = True
        self._dirty.add(name)

    def _place(self, name: str, zone: str) -> None:
        old = self._node_zone.get(name)
        if old == zone:
            return
        if old is not None:
            self._zones[old].remove(name)
            if not self._zones[old]:
                del self._zones[old]
        self._zones.setdefault(zone, []).append(name)
        self._node_zone[name] = zone
        self._order_changed = True

    def node_order(self) -> list[str]:
        """Node names taking one zone after another, so that the first nodes tried are spread across zones."""
        zones = list(self._zones.values())
        out: list[str] = []
        for i in range(max((len(z) for z in zones), default=0)):
            out.extend(z[i] for z in zones if i < len(z))
        return out

    # pods

    def is_assumed(self, uid: str) -> bool:
        state = self._pods.get(uid)
        return state is not None and state.assumed

    def get_pod(self, uid: str) -> PodInfo | None:
        state = self._pods.get(uid)
        return state.info if state is not None else None

    def assume_pod(self, pod: PodInfo) -> None:
        if pod.uid in self._pods:
            raise CacheError(f"pod {pod.key} is in the cache, so can't be assumed")
        self._add_to_node(pod)
        self._pods[pod.uid] = _PodState(pod, assumed=True)

    def forget_pod(self, pod: PodInfo) -> None:
        """A binding failed: give back what the assumed pod took on its node."""
        state = self._pods.get(pod.uid)
        if state is None or not state.assumed:
            return
        self._remove_from_node(state.info)
        del self._pods[pod.uid]

    def add_pod(self, pod: PodInfo) -> None:
        """The informer saw a pod bound to a node (or a change to one): confirm it if assumed (wherever it
        went), else count it, in place of any earlier version."""
        state = self._pods.get(pod.uid)
        if state is not None:
            self._remove_from_node(state.info)
        self._add_to_node(pod)
        self._pods[pod.uid] = _PodState(pod, assumed=False)

    def remove_pod(self, uid: str) -> None:
        state = self._pods.pop(uid, None)
        if state is not None:
            self._remove_from_node(state.info)

    def _add_to_node(self, pod: PodInfo) -> None:
        info = self.nodes.get(pod.node_name)
        if info is None:  # a pod on a node not seen yet: keep its usage for when the node comes
            info = self.nodes[pod.node_name] = NodeInfo(name=pod.node_name)
        info.add_pod(pod)
        self._dirty.add(pod.node_name)

    def _remove_from_node(self, pod: PodInfo) -> None:
        info = self.nodes.get(pod.node_name)
        if info is None or not info.remove_pod(pod):
            log.warning("pod %s was not on node %s in the scheduler cache", pod.key, pod.node_name)
            return
        if info.node is None and not info.pods:
            del self.nodes[pod.node_name]
        self._dirty.add(pod.node_name)

    # snapshots

    def update_snapshot(self, snapshot: Snapshot) -> None:
        """Bring the snapshot up to date, copying only the nodes that changed since it was last brought up."""
        if not self._dirty and not self._order_changed:
            return
        affinity_changed = False
        for name in self._dirty:
            info = self.nodes.get(name)
            before = snapshot.node_infos.pop(name, None)
            if before is not None and (before.pods_with_affinity or before.pods_with_required_anti_affinity):
                affinity_changed = True
            if info is None or info.node is None:
                continue
            fresh = info.clone()
            if fresh.pods_with_affinity or fresh.pods_with_required_anti_affinity:
                affinity_changed = True
            if self._order_changed:
                snapshot.node_infos[name] = fresh
            else:
                snapshot.put(fresh)
        self._dirty.clear()
        if self._order_changed:
            snapshot.replace([snapshot.node_infos[name] for name in self.node_order()])
            self._order_changed = False
        elif affinity_changed:
            snapshot.affinity_changed()
