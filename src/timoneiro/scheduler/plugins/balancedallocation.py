"""NodeResourcesBalancedAllocation: favour nodes whose cpu and memory would be used in similar shares."""

from __future__ import annotations

from typing import Any

from timoneiro.scheduler.framework import CycleState
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.plugins.resourceallocation import AllocationScorer, balanced_allocation
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.status import SKIP, Status

NAME = "NodeResourcesBalancedAllocation"
PRE_SCORE_KEY = "PreScore" + NAME


class BalancedAllocation:
    name = NAME

    def __init__(self, handle: Any) -> None:
        self.scorer = AllocationScorer(balanced_allocation, use_requested=True)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        requests = self.scorer.pod_requests(pod)
        if not any(requests):
            return SKIP  # a best-effort pod changes no node's balance: scoring it would pile such pods up
        state.write(PRE_SCORE_KEY, requests)
        return None

    def score_key(self, state: CycleState, pod: PodInfo) -> str:
        return str(state.read(PRE_SCORE_KEY))

    def score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        return self.scorer.score(nodes, state.read(PRE_SCORE_KEY))
