"""The node infos one scheduling cycle reads: copies the cache refreshes before each cycle, only where it changed.

Plugins read a snapshot, never the cache, so a cycle sees one consistent cluster even though bindings finish
and informer events arrive between cycles. Refreshing copies just the nodes that changed since the last cycle
(typically the one a pod was assumed on), which keeps it cheap with thousands of nodes.
"""

from __future__ import annotations

from timoneiro.scheduler.nodeinfo import NodeInfo


class Snapshot:
    def __init__(self, nodes: list[NodeInfo] | None = None) -> None:
        self.node_infos: dict[str, NodeInfo] = {}
        self.node_list: list[NodeInfo] = []  # spread over zones, the order nodes are tried in
        self.positions: dict[str, int] = {}
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
        self.affinity_changed()

    def put(self, info: NodeInfo) -> None:
        """Replace a node already in the order with a fresh copy."""
        self.node_infos[info.name] = info
        self.node_list[self.positions[info.name]] = info

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
