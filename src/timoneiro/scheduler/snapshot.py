"""The node infos one scheduling cycle reads: copies the cache refreshes before each cycle, only where it changed.

Plugins read a snapshot, never the cache, so a cycle sees one consistent cluster even though bindings finish
and informer events arrive between cycles. Refreshing copies just the nodes that changed since the last cycle
(typically the one a pod was assumed on), which keeps it cheap with thousands of nodes.
"""

from __future__ import annotations

from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.verdicts import Verdicts

CHANGES_KEPT = 8192  # positions put() logged; beyond that the verdicts start over
VERDICTS_KEPT = 64  # memo keys whose verdicts are kept by position


class Snapshot:
    def __init__(self, nodes: list[NodeInfo] | None = None) -> None:
        self.node_infos: dict[str, NodeInfo] = {}
        self.node_list: list[NodeInfo] = []  # spread over zones, the order nodes are tried in
        self.positions: dict[str, int] = {}
        self._changes: list[int] = []  # positions of the nodes put() replaced, oldest first
        self._verdicts: dict[str, Verdicts] = {}
        self.with_prefer_taints = 0  # how many nodes have PreferNoSchedule taints
        self._with_affinity: list[NodeInfo] | None = None
        self._with_required_anti_affinity: list[NodeInfo] | None = None
        if nodes:
            self.replace(nodes)

    def __len__(self) -> int:
        return len(self.node_list)

    def get(self, name: str) -> NodeInfo | None:
        return self.node_infos.get(name)

    def replace(self, nodes: list[NodeInfo]) -> None:
        """Take these node infos (in this order) as the whole snapshot."""
        self.node_infos = {n.name: n for n in nodes}
        self.node_list = list(nodes)
        self.positions = {n.name: i for i, n in enumerate(nodes)}
        self.with_prefer_taints = sum(1 for n in nodes if n.prefer_taints)
        self._changes.clear()
        self._verdicts.clear()
        self.affinity_changed()

    def put(self, info: NodeInfo) -> None:
        """Replace a node already in the order with a fresh copy."""
        self.node_infos[info.name] = info
        position = self.positions[info.name]
        self.with_prefer_taints += bool(info.prefer_taints) - bool(self.node_list[position].prefer_taints)
        self.node_list[position] = info
        if len(self._changes) >= CHANGES_KEPT:
            self._changes.clear()
            self._verdicts.clear()
        self._changes.append(position)

    def verdicts(self, key: str) -> Verdicts:
        """The filter verdicts under a memo key by node position, brought up to date with the nodes."""
        verdicts = self._verdicts.get(key)
        if verdicts is None:
            if len(self._verdicts) >= VERDICTS_KEPT:
                self._verdicts.clear()
            verdicts = self._verdicts[key] = Verdicts(self.node_list, key, len(self._changes))
        elif verdicts.seen < len(self._changes):
            verdicts.forget(self._changes[verdicts.seen:])
            verdicts.seen = len(self._changes)
        return verdicts

    def affinity_changed(self) -> None:
        self._with_affinity = self._with_required_anti_affinity = None

    @property
    def with_affinity(self) -> list[NodeInfo]:
        """Nodes running pods with (anti-)affinity terms: the only ones whose pods can affect inter-pod scores."""
        if self._with_affinity is None:
            self._with_affinity = [n for n in self.node_list if n.pods_with_affinity]
        return self._with_affinity

    @property
    def with_required_anti_affinity(self) -> list[NodeInfo]:
        if self._with_required_anti_affinity is None:
            self._with_required_anti_affinity = [n for n in self.node_list if n.pods_with_required_anti_affinity]
        return self._with_required_anti_affinity
