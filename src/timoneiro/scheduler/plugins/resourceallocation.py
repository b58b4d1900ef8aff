"""Scoring nodes by the share of their allocatable the pod would leave in use: the arithmetic that
NodeResourcesFit's LeastAllocated strategy and NodeResourcesBalancedAllocation share.

Scores are computed a resource at a time over all feasible nodes (columns), which keeps the per-node work in
tight comprehensions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from operator import attrgetter

from timoneiro.scheduler.framework import MAX_NODE_SCORE
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.resources import CPU, EPHEMERAL_STORAGE, MEMORY, Resource, is_scalar

DEFAULT_RESOURCES: tuple[tuple[str, int], ...] = ((CPU, 1), (MEMORY, 1))
Column = tuple[list[int], list[int], int]  # allocatable per node, requested per node (with the pod), weight
Scorer = Callable[[list[Column], int], list[int]]

_FIELDS = {CPU: "milli_cpu", MEMORY: "memory", EPHEMERAL_STORAGE: "ephemeral_storage"}


def _getter(name: str) -> Callable[[Resource], int]:
    field = _FIELDS.get(name)
    if field is not None:
        return attrgetter(field)
    return lambda r: r.scalar.get(name, 0)


def least_allocated(columns: list[Column], count: int) -> list[int]:
    """Favour nodes with the most room left: per resource (allocatable - requested) / allocatable, weighted."""
    totals, weights = [0] * count, [0] * count
    for allocatable, requested, weight in columns:
        totals = [t + (((a - r) * MAX_NODE_SCORE // a if r <= a else 0) * weight if a else 0)
                  for t, a, r in zip(totals, allocatable, requested, strict=True)]
        weights = [w + weight if a else w for w, a in zip(weights, allocatable, strict=True)]
    return [t // w if w else 0 for t, w in zip(totals, weights, strict=True)]


def balanced_allocation(columns: list[Column], count: int) -> list[int]:
    """Favour nodes whose resources would be used in equal shares: 1 - the standard deviation of the shares."""
    shares: list[list[float]] = [[] for _ in range(count)]
    for allocatable, requested, _ in columns:
        for node_shares, a, r in zip(shares, allocatable, requested, strict=True):
            if a:
                node_shares.append(min(r / a, 1.0))
    out = []
    for s in shares:
        if len(s) == 2:
            std = abs(s[0] - s[1]) / 2
        elif len(s) > 2:
            mean = sum(s) / len(s)
            std = math.sqrt(sum((f - mean) ** 2 for f in s) / len(s))
        else:
            std = 0.0
        out.append(int((1 - std) * MAX_NODE_SCORE))
    return out


class AllocationScorer:
    """use_requested: count the requests as they are (balance); otherwise with the defaults for containers
    that request no cpu or memory (so that best-effort pods do not all pile onto one node)."""

    def __init__(self, scorer: Scorer, use_requested: bool,
                 resources: Sequence[tuple[str, int]] = DEFAULT_RESOURCES) -> None:
        self.scorer = scorer
        self.use_requested = use_requested
        self.resources = [(name, weight, _getter(name)) for name, weight in resources]

    def pod_requests(self, pod: PodInfo) -> list[int]:
        out = []
        for name, _, get in self.resources:
            if not self.use_requested and name == CPU:
                out.append(pod.non_zero_cpu)
            elif not self.use_requested and name == MEMORY:
                out.append(pod.non_zero_memory)
            else:
                out.append(get(pod.requests))
        return out

    def score(self, nodes: list[NodeInfo], pod_requests: list[int]) -> list[int]:
        columns = []
        used = "requested" if self.use_requested else "non_zero_requested"
        for (name, weight, get), pod_request in zip(self.resources, pod_requests, strict=True):
            if pod_request == 0 and is_scalar(name):
                continue  # an extended resource the pod does not use does not make a node better or worse
            allocatable = [get(n.allocatable) for n in nodes]
            requested = [get(getattr(n, used)) + pod_request for n in nodes]
            columns.append((allocatable, requested, weight))
        return self.scorer(columns, len(nodes))
