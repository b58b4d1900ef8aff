"""NodePorts: a pod's host ports must be free on the node."""

from __future__ import annotations

from typing import Any

from timoneiro.scheduler.events import NODE, POD, Action, ClusterEvent, Registration
from timoneiro.scheduler.framework import CycleState
from timoneiro.scheduler.nodeinfo import ANY_IP, NodeInfo
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.status import SKIP, Code, Status

NAME = "NodePorts"
REASON = "node(s) didn't have free ports for the requested pod ports"
REJECTED = Status(Code.UNSCHEDULABLE, REASON, plugin=NAME)


class NodePorts:
    name = NAME

    def __init__(self, handle: Any) -> None:
        pass

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None if pod.host_ports else SKIP

    def filter_key(self, state: CycleState, pod: PodInfo) -> str:
        return str(pod.host_ports)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        for ip, protocol, port in pod.host_ports:
            if node.port_conflict(ip, protocol, port):
                return REJECTED
        return None

    def events_to_register(self) -> list[Registration]:
        return [Registration(ClusterEvent(POD, Action.DELETE), _freed_a_port),
                Registration(ClusterEvent(NODE, Action.ADD | Action.UPDATE))]


def _freed_a_port(pod: PodInfo, old: object, new: object) -> bool:
    if not isinstance(old, PodInfo) or not old.node_name:
        return False
    return any(p2 == port and proto2 == proto and (ANY_IP in (ip, ip2) or ip == ip2)
               for ip, proto, port in pod.host_ports for ip2, proto2, p2 in old.host_ports)
