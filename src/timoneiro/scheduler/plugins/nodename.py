"""NodeName: a pod that names its node (spec.nodeName) fits only there."""

from __future__ import annotations

from typing import Any

from timoneiro.scheduler.events import NODE, Action, ClusterEvent, Registration
from timoneiro.scheduler.framework import CycleState
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.status import SKIP, Code, Status

NAME = "NodeName"
REASON = "node(s) didn't match the requested node name"
REJECTED = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, REASON, plugin=NAME)


class NodeName:
    name = NAME

    def __init__(self, handle: Any) -> None:
        pass

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None if pod.spec.get("nodeName") else SKIP

    def filter_key(self, state: CycleState, pod: PodInfo) -> str:
        return pod.spec.get("nodeName") or ""

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None if pod.spec.get("nodeName") == node.name else REJECTED

    def events_to_register(self) -> list[Registration]:
        return [Registration(ClusterEvent(NODE, Action.ADD | Action.UPDATE), _named_node)]


def _named_node(pod: PodInfo, old: object, new: object) -> bool:
    return isinstance(new, dict) and new["metadata"]["name"] == pod.spec.get("nodeName")
