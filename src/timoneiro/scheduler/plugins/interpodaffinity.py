"""InterPodAffinity: required pod affinity and anti-affinity (the pod's own, and existing pods' anti-affinity
against it) over topology domains; preferred terms, on both sides, score the domains.

Pre-filter counts, per topology pair (label key, value), the existing pods each kind of term matches, so the
filter is a few dictionary lookups per node.
"""

from __future__ import annotations

from typing import Any

from timoneiro.api.selectors import matches
from timoneiro.scheduler.affinity import AffinityTerm, WeightedAffinityTerm
from timoneiro.scheduler.events import NODE, POD, Action, ClusterEvent, Registration
from timoneiro.scheduler.framework import MAX_NODE_SCORE, CycleState
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.status import SKIP, Code, Status

NAME = "InterPodAffinity"
AFFINITY_REJECTED = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, "node(s) didn't match pod affinity rules",
                           plugin=NAME)
ANTI_AFFINITY_REJECTED = Status(Code.UNSCHEDULABLE, "node(s) didn't match pod anti-affinity rules", plugin=NAME)
EXISTING_ANTI_AFFINITY_REJECTED = Status(Code.UNSCHEDULABLE,
                                         "node(s) didn't satisfy existing pods anti-affinity rules", plugin=NAME)
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME
HARD_POD_AFFINITY_WEIGHT = 1

Pair = tuple[str, str]


def _bump(counts: dict[Pair, int], node_labels: dict, key: str, by: int) -> None:
    value = node_labels.get(key)
    if value is None:
        return
    n = counts.get((key, value), 0) + by
    if n:
        counts[(key, value)] = n
    else:
        counts.pop((key, value), None)


def matches_all(terms: tuple[AffinityTerm, ...], pod: PodInfo) -> bool:
    """Whether pod matches every term (and there is at least one): one pod must satisfy all affinity terms."""
    return bool(terms) and all(t.matches(pod.namespace, pod.labels, None) for t in terms)


class _FilterState:
    __slots__ = ("affinity_terms", "anti_affinity_terms", "namespace_labels", "existing_anti", "affinity", "anti")

    def __init__(self, affinity_terms: tuple[AffinityTerm, ...], anti_affinity_terms: tuple[AffinityTerm, ...],
                 namespace_labels: dict | None) -> None:
        self.affinity_terms = affinity_terms
        self.anti_affinity_terms = anti_affinity_terms
        self.namespace_labels = namespace_labels  # of the incoming pod's namespace
        self.existing_anti: dict[Pair, int] = {}  # existing pods' anti-affinity terms the incoming pod matches
        self.affinity: dict[Pair, int] = {}  # existing pods matching all the incoming pod's affinity terms
        self.anti: dict[Pair, int] = {}  # existing pods matching the incoming pod's anti-affinity terms

    def clone(self) -> _FilterState:
        c = _FilterState(self.affinity_terms, self.anti_affinity_terms, self.namespace_labels)
        c.existing_anti, c.affinity, c.anti = dict(self.existing_anti), dict(self.affinity), dict(self.anti)
        return c

    def count(self, pod: PodInfo, other: PodInfo, node_labels: dict, by: int) -> None:
        """Count `other`, an existing pod on a node with node_labels, towards the incoming `pod`'s terms."""
        for t in other.required_anti_affinity_terms:
            if t.matches(pod.namespace, pod.labels, self.namespace_labels):
                _bump(self.existing_anti, node_labels, t.topology_key, by)
        if matches_all(self.affinity_terms, other):
            for t in self.affinity_terms:
                _bump(self.affinity, node_labels, t.topology_key, by)
        for t in self.anti_affinity_terms:
            if t.matches(other.namespace, other.labels, None):
                _bump(self.anti, node_labels, t.topology_key, by)


class InterPodAffinity:
    name = NAME

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def _namespace_labels(self, namespace: str) -> dict | None:
        ns = self.handle.listers.namespaces.get(namespace)
        return None if ns is None else ns["metadata"].get("labels") or {}

    def _resolve(self, terms: tuple[AffinityTerm, ...]) -> tuple[AffinityTerm, ...]:
        """The incoming pod's terms with namespace selectors turned into the namespaces they select now."""
        out = []
        for t in terms:
            if t.namespace_selector:
                names = frozenset(ns["metadata"]["name"] for ns in self.handle.listers.namespaces.list()
                                  if matches(t.namespace_selector, ns["metadata"].get("labels") or {}))
                t = t.resolved(names)
            out.append(t)
        return tuple(out)

    def _resolve_weighted(self, terms: tuple[WeightedAffinityTerm, ...]) -> tuple[WeightedAffinityTerm, ...]:
        resolved = self._resolve(tuple(w.term for w in terms))
        return tuple(WeightedAffinityTerm(t, w.weight) for t, w in zip(resolved, terms, strict=True))

    # filtering

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        snapshot = self.handle.snapshot
        with_anti = snapshot.with_required_anti_affinity
        if not pod.required_affinity_terms and not pod.required_anti_affinity_terms and not with_anti:
            return SKIP
        s = _FilterState(self._resolve(pod.required_affinity_terms),
                         self._resolve(pod.required_anti_affinity_terms), self._namespace_labels(pod.namespace))
        for node in with_anti:
            for existing in node.pods_with_required_anti_affinity:
                for t in existing.required_anti_affinity_terms:
                    if t.matches(pod.namespace, pod.labels, s.namespace_labels):
                        _bump(s.existing_anti, node.labels, t.topology_key, 1)
        if s.affinity_terms or s.anti_affinity_terms:
            for node in snapshot.node_list:
                for existing in node.pods:
                    if matches_all(s.affinity_terms, existing):
                        for t in s.affinity_terms:
                            _bump(s.affinity, node.labels, t.topology_key, 1)
                    for t in s.anti_affinity_terms:
                        if t.matches(existing.namespace, existing.labels, None):
                            _bump(s.anti, node.labels, t.topology_key, 1)
        state.write(PRE_FILTER_KEY, s)
        return None

    def add_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> Status | None:
        state.read(PRE_FILTER_KEY).count(pod, other, node.labels, 1)
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> Status | None:
        state.read(PRE_FILTER_KEY).count(pod, other, node.labels, -1)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _FilterState = state.read(PRE_FILTER_KEY)
        labels = node.labels
        if s.affinity_terms:
            pods_exist = True
            for t in s.affinity_terms:
                value = labels.get(t.topology_key)
                if value is None:
                    return AFFINITY_REJECTED  # every topology label must be on the node
                if s.affinity.get((t.topology_key, value), 0) <= 0:
                    pods_exist = False
            # the first of a group of pods with affinity to each other may go anywhere with the topology labels
            if not pods_exist and (s.affinity or not matches_all(s.affinity_terms, pod)):
                return AFFINITY_REJECTED
        if s.anti:
            for t in s.anti_affinity_terms:
                value = labels.get(t.topology_key)
                if value is not None and s.anti.get((t.topology_key, value), 0) > 0:
                    return ANTI_AFFINITY_REJECTED
        if s.existing_anti:
            for pair in labels.items():
                if s.existing_anti.get(pair, 0) > 0:
                    return EXISTING_ANTI_AFFINITY_REJECTED
        return None

    # scoring

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        if not nodes:
            return None
        has_constraints = bool(pod.preferred_affinity_terms or pod.preferred_anti_affinity_terms)
        snapshot = self.handle.snapshot
        preferred = self._resolve_weighted(pod.preferred_affinity_terms)
        preferred_anti = self._resolve_weighted(pod.preferred_anti_affinity_terms)
        namespace_labels = self._namespace_labels(pod.namespace)
        scores: dict[str, dict[str, int]] = {}

        def add(term: AffinityTerm, weight: int, target: PodInfo, ns_labels: dict | None, node: NodeInfo) -> None:
            if term.matches(target.namespace, target.labels, ns_labels):
                value = node.labels.get(term.topology_key)
                if value is not None:
                    by_value = scores.setdefault(term.topology_key, {})
                    by_value[value] = by_value.get(value, 0) + weight

        for node in snapshot.node_list if has_constraints else snapshot.with_affinity:
            if not node.labels:
                continue
            for existing in node.pods if has_constraints else node.pods_with_affinity:
                for w in preferred:
                    add(w.term, w.weight, existing, None, node)
                for w in preferred_anti:
                    add(w.term, -w.weight, existing, None, node)
                for t in existing.required_affinity_terms:
                    add(t, HARD_POD_AFFINITY_WEIGHT, pod, namespace_labels, node)
                for w in existing.preferred_affinity_terms:
                    add(w.term, w.weight, pod, namespace_labels, node)
                for w in existing.preferred_anti_affinity_terms:
                    add(w.term, -w.weight, pod, namespace_labels, node)
        if not scores:
            return SKIP
        state.write(PRE_SCORE_KEY, scores)
        return None

    def score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        scores: dict[str, dict[str, int]] = state.read(PRE_SCORE_KEY)
        out = []
        for node in nodes:
            total = 0
            for key, by_value in scores.items():
                value = node.labels.get(key)
                if value is not None:
                    total += by_value.get(value, 0)
            out.append(total)
        return out

    def normalize_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], scores: list[int]) -> None:
        if not scores:
            return
        low, high = min(scores), max(scores)
        spread = high - low
        for i, score in enumerate(scores):
            scores[i] = int(MAX_NODE_SCORE * ((score - low) / spread)) if spread > 0 else 0

    # requeueing

    def events_to_register(self) -> list[Registration]:
        return [Registration(ClusterEvent(POD, Action.ADD | Action.UPDATE_POD_LABEL | Action.DELETE), _pod_changed),
                Registration(ClusterEvent(NODE, Action.ADD | Action.UPDATE_NODE_LABEL), _node_changed)]


def _pod_changed(pod: PodInfo, old: object, new: object) -> bool:
    before = old if isinstance(old, PodInfo) else None
    after = new if isinstance(new, PodInfo) else None
    if (after is not None and not after.node_name) or (before is not None and not before.node_name):
        return False  # unscheduled pods count for nobody's affinity
    affinity, anti = pod.required_affinity_terms, pod.required_anti_affinity_terms
    if before is not None and after is not None:
        return ((not matches_all(affinity, before) and matches_all(affinity, after))
                or (matches_all(anti, before) and not matches_all(anti, after)))
    if after is not None:
        return matches_all(affinity, after)
    assert before is not None
    return matches_all(anti, before) or any(t.matches(pod.namespace, pod.labels, None)
                                            for t in before.required_anti_affinity_terms)


def _node_changed(pod: PodInfo, old: object, new: object) -> bool:
    if not isinstance(new, dict):
        return False
    after = new["metadata"].get("labels") or {}
    if old is None and not pod.required_affinity_terms:
        return True  # room elsewhere from existing pods' anti-affinity, or anti-affinity's domains
    before = (old["metadata"].get("labels") or {}) if isinstance(old, dict) else None
    for t in pod.required_affinity_terms:
        if t.topology_key in after and (before is None or before.get(t.topology_key) != after[t.topology_key]):
            return True
    for t in pod.required_anti_affinity_terms:
        if before is not None and t.topology_key in before and before.get(t.topology_key) != after.get(t.topology_key):
            return True
    return False
