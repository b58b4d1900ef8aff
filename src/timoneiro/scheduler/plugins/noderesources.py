"""NodeResourcesFit: the pod's requests must fit in what the node's allocatable leaves after the pods already
on it (and a free pod slot); nodes with the most room left score highest (the LeastAllocated strategy)."""

from __future__ import annotations

from typing import Any

from timoneiro.scheduler.events import NODE, POD, Action, ClusterEvent, Registration
from timoneiro.scheduler.framework import CycleState
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.plugins.resourceallocation import AllocationScorer, least_allocated
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.resources import Resource
from timoneiro.scheduler.status import Code, Status

NAME = "NodeResourcesFit"
PRE_SCORE_KEY = "PreScore" + NAME


def insufficient(request: Resource, node: NodeInfo) -> list[str]:
    """The reasons the request does not fit the node, in upstream's order (empty when it fits)."""
    reasons = []
    allocatable, used = node.allocatable, node.requested
    if len(node.pods) + 1 > allocatable.allowed_pods:
        reasons.append("Too many pods")
    if request.milli_cpu > 0 and request.milli_cpu > allocatable.milli_cpu - used.milli_cpu:
        reasons.append("Insufficient cpu")
    if request.memory > 0 and request.memory > allocatable.memory - used.memory:
        reasons.append("Insufficient memory")
    if request.ephemeral_storage > 0 and request.ephemeral_storage > allocatable.ephemeral_storage - used.ephemeral_storage:
        reasons.append("Insufficient ephemeral-storage")
    for name, amount in request.scalar.items():
        if amount > 0 and amount > allocatable.scalar.get(name, 0) - used.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


class NodeResourcesFit:
    name = NAME

    def __init__(self, handle: Any) -> None:
        self.scorer = AllocationScorer(least_allocated, use_requested=False)
        self._statuses: dict[tuple[str, ...], Status] = {}

    def filter_key(self, state: CycleState, pod: PodInfo) -> str:
        r = pod.requests
        return f"{r.milli_cpu},{r.memory},{r.ephemeral_storage},{sorted(r.scalar.items())}"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        request, allocatable, used = pod.requests, node.allocatable, node.requested
        if (len(node.pods) < allocatable.allowed_pods
                and (not request.milli_cpu or request.milli_cpu <= allocatable.milli_cpu - used.milli_cpu)
                and (not request.memory or request.memory <= allocatable.memory - used.memory)
                and not request.ephemeral_storage and not request.scalar):
            return None
        reasons = tuple(insufficient(request, node))
        if not reasons:
            return None
        status = self._statuses.get(reasons)
        if status is None:
            status = self._statuses[reasons] = Status(Code.UNSCHEDULABLE, *reasons, plugin=NAME)
        return status

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        state.write(PRE_SCORE_KEY, self.scorer.pod_requests(pod))
        return None

    def score_key(self, state: CycleState, pod: PodInfo) -> str:
        return str(state.read(PRE_SCORE_KEY))

    def score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        return self.scorer.score(nodes, state.read(PRE_SCORE_KEY))

    def events_to_register(self) -> list[Registration]:
        return [Registration(ClusterEvent(POD, Action.DELETE), _assigned_pod_deleted),
                Registration(ClusterEvent(NODE, Action.ADD | Action.UPDATE_NODE_ALLOCATABLE), _node_may_fit)]


def _assigned_pod_deleted(pod: PodInfo, old: object, new: object) -> bool:
    return isinstance(old, PodInfo) and bool(old.node_name)


def _node_may_fit(pod: PodInfo, old: object, new: object) -> bool:
    """A node that came (or grew) and would take the pod if it were empty."""
    if not isinstance(new, dict):
        return False
    grown = NodeInfo(new)
    if insufficient(pod.requests, grown):
        return False
    if old is None:
        return True
    before = NodeInfo(old).allocatable  # type: ignore[arg-type]
    now = grown.allocatable
    request = pod.requests
    return (now.allowed_pods > before.allowed_pods
            or (request.milli_cpu > 0 and now.milli_cpu > before.milli_cpu)
            or (request.memory > 0 and now.memory > before.memory)
            or (request.ephemeral_storage > 0 and now.ephemeral_storage > before.ephemeral_storage)
            or any(amount > 0 and now.scalar.get(name, 0) > before.scalar.get(name, 0)
                   for name, amount in request.scalar.items()))
