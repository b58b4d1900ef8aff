"""TaintToleration: NoSchedule and NoExecute taints a pod does not tolerate rule a node out; untolerated
PreferNoSchedule taints count against it when scoring."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from timoneiro.scheduler.events import NODE, POD, Action, ClusterEvent, Registration, own_update
from timoneiro.scheduler.framework import CycleState, memo_key
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.plugins.helpers import default_normalize_score
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.status import SKIP, Code, Status
from timoneiro.scheduler.taints import (
    NO_EXECUTE,
    NO_SCHEDULE,
    PREFER_NO_SCHEDULE,
    first_untolerated,
    tolerated,
)

NAME = "TaintToleration"
PRE_SCORE_KEY = "PreScore" + NAME
_PREFER_TAINTS = attrgetter("prefer_taints")


def untolerated_status(taint: dict) -> Status:
    return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                  f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}",
                  plugin=NAME)


class TaintToleration:
    name = NAME

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self._statuses: dict[tuple[str, str], Status] = {}

    def filter_key(self, state: CycleState, pod: PodInfo) -> str:
        return memo_key(pod.tolerations)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.schedule_taints:
            return None
        taint = first_untolerated(node.schedule_taints, pod.tolerations)
        if taint is None:
            return None
        key = (taint.get("key", ""), taint.get("value") or "")
        status = self._statuses.get(key)
        if status is None:
            status = self._statuses[key] = untolerated_status(taint)
        return status

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        # nodes are feasible nodes of the snapshot: none of them has such taints when no node of it has
        if not self.handle.snapshot.with_prefer_taints or not any(map(_PREFER_TAINTS, nodes)):
            return SKIP  # every node would score the same: adding the same to all changes no choice
        state.write(PRE_SCORE_KEY, [t for t in pod.tolerations if t.get("effect") in (None, "", PREFER_NO_SCHEDULE)])
        return None

    def score_key(self, state: CycleState, pod: PodInfo) -> str:
        return memo_key(state.read(PRE_SCORE_KEY))

    def score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        tolerations = state.read(PRE_SCORE_KEY)
        return [sum(1 for t in n.prefer_taints if not tolerated(t, tolerations)) if n.prefer_taints else 0
                for n in nodes]

    def normalize_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], scores: list[int]) -> None:
        default_normalize_score(scores, reverse=True)

    def events_to_register(self) -> list[Registration]:
        return [Registration(ClusterEvent(NODE, Action.ADD | Action.UPDATE_NODE_TAINT), _node_now_tolerated),
                Registration(ClusterEvent(POD, Action.UPDATE_POD_TOLERATION), own_update)]


def _untolerated(node: object, pod: PodInfo) -> bool:
    taints = [t for t in (node.get("spec") or {}).get("taints") or ()  # type: ignore[union-attr]
              if t.get("effect") in (NO_SCHEDULE, NO_EXECUTE)]
    return first_untolerated(taints, pod.tolerations) is not None


def _node_now_tolerated(pod: PodInfo, old: object, new: object) -> bool:
    if not isinstance(new, dict) or _untolerated(new, pod):
        return False
    return old is None or _untolerated(old, pod)

