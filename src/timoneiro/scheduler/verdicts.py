"""Filter verdicts by position in the snapshot's node order, so that a cycle finds its feasible nodes without
looking at each node in turn.

kube-scheduler filters nodes in a fixed order from where the last cycle stopped, until it has found enough
feasible ones. When every filter's verdict is remembered (it depends only on the node info and the pod's
memo key), a stream of similar pods meets the same verdicts cycle after cycle, except on the few nodes that
changed. A Verdicts keeps one key's verdicts in node order, with the positions of rejected and of not yet
judged nodes sorted aside: the feasible nodes between them are taken a run at a time, as list slices, and
only the nodes that changed since the last cycle are judged again. The nodes found, the number of nodes
tried and the rejections recorded are the same as walking the nodes one by one.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable

from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.status import Status

UNKNOWN = object()  # not judged yet, or the node changed since
_NONE_LEFT = 1 << 62


class Verdicts:
    def __init__(self, nodes: list[NodeInfo], key: str, seen: int) -> None:
        """nodes: the snapshot's node order; seen: how many changes of the snapshot's log this reflects."""
        self.values: list[object] = [node.memo.get(key, UNKNOWN) for node in nodes]
        self.rejected = [i for i, v in enumerate(self.values) if v is not None and v is not UNKNOWN]
        self.unknown = [i for i, v in enumerate(self.values) if v is UNKNOWN]
        self.seen = seen

    def forget(self, positions: list[int]) -> None:
        """The nodes at these positions changed: judge them again when next met."""
        for position in positions:
            self._set(position, UNKNOWN)

    def first_feasible(self, nodes: list[NodeInfo], start: int, to_find: int, judge: Callable[[NodeInfo], object],
                       rejected: Callable[[NodeInfo, Status], None]) -> tuple[list[NodeInfo], int]:
        """Walk the nodes from `start` (wrapping around) until to_find fit: answers those and how many nodes were
        tried; `rejected` is told of each rejection met on the way, in order, and may raise to stop."""
        feasible: list[NodeInfo] = []
        tried = 0
        for low, high in ((start, len(nodes)), (0, start)):
            position = low
            while position < high:
                interesting = min(_next(self.rejected, position), _next(self.unknown, position), high)
                if interesting > position:  # a run of nodes known to fit
                    take = min(interesting - position, to_find - len(feasible))
                    feasible += nodes[position:position + take]
                    position += take
                    if len(feasible) == to_find:
                        return feasible, tried + position - low
                    continue
                verdict = self.values[position]
                if verdict is UNKNOWN:
                    verdict = judge(nodes[position])
                    self._set(position, verdict)
                if verdict is None:
                    feasible.append(nodes[position])
                    position += 1
                    if len(feasible) == to_find:
                        return feasible, tried + position - low
                else:
                    rejected(nodes[position], verdict)  # type: ignore[arg-type]
                    position += 1
            tried += high - low
        return feasible, tried

    def _set(self, position: int, verdict: object) -> None:
        before = self.values[position]
        if before is verdict:
            return
        if before is UNKNOWN:
            _discard(self.unknown, position)
        elif before is not None:
            _discard(self.rejected, position)
        if verdict is UNKNOWN:
            insort(self.unknown, position)
        elif verdict is not None:
            insort(self.rejected, position)
        self.values[position] = verdict


def _next(positions: list[int], at: int) -> int:
    i = bisect_left(positions, at)
    return positions[i] if i < len(positions) else _NONE_LEFT


def _discard(positions: list[int], position: int) -> None:
    i = bisect_left(positions, position)
    if i < len(positions) and positions[i] == position:
        del positions[i]
