"""NodeUnschedulable: cordoned nodes (spec.unschedulable) take only pods that tolerate the unschedulable taint."""

from __future__ import annotations

from typing import Any

from timoneiro.scheduler.events import NODE, Action, ClusterEvent, Registration
from timoneiro.scheduler.framework import CycleState
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.status import Code, Status
from timoneiro.scheduler.taints import UNSCHEDULABLE_TAINT, tolerated

NAME = "NodeUnschedulable"
REASON = "node(s) were unschedulable"
REJECTED = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, REASON, plugin=NAME)


class NodeUnschedulable:
    name = NAME

    def __init__(self, handle: Any) -> None:
        pass

    def filter_key(self, state: CycleState, pod: PodInfo) -> str:
        return str(tolerated(UNSCHEDULABLE_TAINT, pod.tolerations))

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.unschedulable or tolerated(UNSCHEDULABLE_TAINT, pod.tolerations):
            return None
        return REJECTED

    def events_to_register(self) -> list[Registration]:
        return [Registration(ClusterEvent(NODE, Action.ADD | Action.UPDATE_NODE_TAINT), _became_schedulable)]


def _became_schedulable(pod: PodInfo, old: object, new: object) -> bool:
    def open_to(node: object) -> bool:
        return isinstance(node, dict) and (not (node.get("spec") or {}).get("unschedulable")
                                           or tolerated(UNSCHEDULABLE_TAINT, pod.tolerations))
    return open_to(new) and not open_to(old)
