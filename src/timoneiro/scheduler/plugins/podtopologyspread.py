"""PodTopologySpread: keep matching pods spread across topology domains within maxSkew.

DoNotSchedule constraints filter: a node fits if the pods matching the constraint in its domain (plus the pod
itself) exceed the least-loaded domain's count by at most maxSkew. ScheduleAnyway constraints, and the system
default ones (hostname skew 3, zone skew 5, for pods that a Service or controller selects), score nodes in
emptier domains higher.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from timoneiro.api.selectors import Requirement, Selector, SelectorError, from_label_selector, matches
from timoneiro.scheduler.affinity import LABEL_HOSTNAME, LABEL_ZONE, RequiredNodeAffinity
from timoneiro.scheduler.events import NODE, POD, Action, ClusterEvent, Registration
from timoneiro.scheduler.framework import MAX_NODE_SCORE, CycleState
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.status import SKIP, Code, Status
from timoneiro.scheduler.taints import first_untolerated

NAME = "PodTopologySpread"
REASON = "node(s) didn't match pod topology spread constraints"
REJECTED = Status(Code.UNSCHEDULABLE, REASON, plugin=NAME)
MISSING_LABEL = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, REASON + " (missing required label)", plugin=NAME)
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME
DO_NOT_SCHEDULE, SCHEDULE_ANYWAY = "DoNotSchedule", "ScheduleAnyway"
SYSTEM_DEFAULT_CONSTRAINTS = (
    {"topologyKey": LABEL_HOSTNAME, "whenUnsatisfiable": SCHEDULE_ANYWAY, "maxSkew": 3},
    {"topologyKey": LABEL_ZONE, "whenUnsatisfiable": SCHEDULE_ANYWAY, "maxSkew": 5},
)
# the controllers whose selectors make a pod's default spreading selector, by (apiVersion, kind)
_CONTROLLERS = {("v1", "ReplicationController"): "replicationcontrollers", ("apps/v1", "ReplicaSet"): "replicasets",
                ("apps/v1", "StatefulSet"): "statefulsets"}


@dataclass(frozen=True)
class Constraint:
    max_skew: int
    topology_key: str
    selector: Selector | None
    min_domains: int = 1
    honor_node_affinity: bool = True
    honor_node_taints: bool = False

    def counts_node(self, pod: PodInfo, node: NodeInfo, required: RequiredNodeAffinity) -> bool:
        """Whether the node's pods count toward the spreading (nodeAffinityPolicy and nodeTaintsPolicy)."""
        if self.honor_node_affinity and not required.matches(node.labels, node.name):
            return False
        return not (self.honor_node_taints and first_untolerated(node.schedule_taints, pod.tolerations))


def constraints_of(specs: list | tuple, pod_labels: dict, action: str) -> list[Constraint]:
    out = []
    for c in specs:
        if c.get("whenUnsatisfiable") != action:
            continue
        try:
            selector = from_label_selector(c.get("labelSelector"))
        except SelectorError:
            selector = None
        keys = [k for k in c.get("matchLabelKeys") or () if k in pod_labels]
        if keys and selector is not None:
            selector = tuple(Requirement(k, "=", (pod_labels[k],)) for k in keys) + selector
        out.append(Constraint(c.get("maxSkew", 1), c.get("topologyKey", ""), selector, c.get("minDomains") or 1,
                              c.get("nodeAffinityPolicy", "Honor") == "Honor",
                              c.get("nodeTaintsPolicy", "Ignore") == "Honor"))
    return out


def count_matching(pods: list[PodInfo], selector: Selector | None, namespace: str) -> int:
    """Pods in the namespace the selector matches, leaving out terminating ones (an empty selector counts none)."""
    if not selector:
        return 0
    return sum(1 for p in pods if p.namespace == namespace and not p.deleting and matches(selector, p.labels))


def has_all_keys(labels: dict, constraints: list[Constraint]) -> bool:
    return all(c.topology_key in labels for c in constraints)


class _FilterState:
    __slots__ = ("constraints", "self_match", "required", "counts", "minimum", "domains")

    def __init__(self, constraints: list[Constraint], pod: PodInfo) -> None:
        self.constraints = constraints
        self.self_match = [1 if matches(c.selector, pod.labels) else 0 for c in constraints]
        self.required = RequiredNodeAffinity.of(pod.spec)
        self.counts: list[dict[str, int]] = [{} for _ in constraints]  # per constraint: domain -> matching pods
        self.minimum: list[int] = []

    def refresh(self, i: int | None = None) -> None:
        """Recompute the least-loaded domain's count (for one constraint, or all)."""
        if i is None:
            self.minimum = [min(c.values(), default=math.inf) for c in self.counts]  # type: ignore[misc]
        else:
            self.minimum[i] = min(self.counts[i].values(), default=math.inf)  # type: ignore[call-overload]

    def clone(self) -> _FilterState:
        c = object.__new__(_FilterState)
        c.constraints, c.self_match, c.required = self.constraints, self.self_match, self.required
        c.counts = [dict(d) for d in self.counts]
        c.minimum = list(self.minimum)
        return c

    def count(self, pod: PodInfo, other: PodInfo, node: NodeInfo, by: int) -> None:
        if other.namespace != pod.namespace or not has_all_keys(node.labels, self.constraints):
            return
        for i, c in enumerate(self.constraints):
            if matches(c.selector, other.labels) and c.counts_node(pod, node, self.required):
                value = node.labels[c.topology_key]
                self.counts[i][value] = self.counts[i].get(value, 0) + by
                self.refresh(i)


class _ScoreState:
    __slots__ = ("constraints", "ignored", "counts", "weights")

    def __init__(self, constraints: list[Constraint]) -> None:
        self.constraints = constraints
        self.ignored: set[str] = set()
        self.counts: list[dict[str, int]] = [{} for _ in constraints]
        self.weights: list[float] = []


class PodTopologySpread:
    name = NAME

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def constraints(self, pod: PodInfo, action: str) -> list[Constraint]:
        own = pod.spec.get("topologySpreadConstraints")
        if own:
            return constraints_of(own, pod.labels, action)
        defaults = constraints_of(SYSTEM_DEFAULT_CONSTRAINTS, pod.labels, action)
        if not defaults:
            return []
        selector = self.default_selector(pod)
        if not selector:
            return []
        return [Constraint(c.max_skew, c.topology_key, selector, c.min_domains) for c in defaults]

    def default_selector(self, pod: PodInfo) -> Selector:
        """What selects the pod's siblings: the Services selecting it, and its controller's selector."""
        listers = self.handle.listers
        merged: dict[str, str] = {}
        for svc in listers.services.by_index("namespace", pod.namespace):
            selector = (svc.get("spec") or {}).get("selector")
            if selector is not None and all(pod.labels.get(k) == v for k, v in selector.items()):
                merged.update(selector)
        owner = next((o for o in (pod.pod["metadata"].get("ownerReferences") or ()) if o.get("controller")), None)
        store_name = _CONTROLLERS.get((owner.get("apiVersion"), owner.get("kind"))) if owner else None
        controller = getattr(listers, store_name).get(f"{pod.namespace}/{owner['name']}") if store_name else None
        requirements: list[Requirement] = []
        if controller is not None:
            selector = (controller.get("spec") or {}).get("selector")
            if store_name == "replicationcontrollers":
                merged.update(selector or {})
            else:
                try:
                    requirements = list(from_label_selector(selector) or ())
                except SelectorError:
                    requirements = []
        return tuple(Requirement(k, "=", (v,)) for k, v in sorted(merged.items())) + tuple(requirements)

    # filtering

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        constraints = self.constraints(pod, DO_NOT_SCHEDULE)
        if not constraints:
            return SKIP
        s = _FilterState(constraints, pod)
        for node in self.handle.snapshot.node_list:
            if not has_all_keys(node.labels, constraints):
                continue
            for i, c in enumerate(constraints):
                if c.counts_node(pod, node, s.required):
                    value = node.labels[c.topology_key]
                    s.counts[i][value] = s.counts[i].get(value, 0) + count_matching(node.pods, c.selector,
                                                                                    pod.namespace)
        s.refresh()
        state.write(PRE_FILTER_KEY, s)
        return None

    def add_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> Status | None:
        state.read(PRE_FILTER_KEY).count(pod, other, node, 1)
        return None

    def remove_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> Status | None:
        state.read(PRE_FILTER_KEY).count(pod, other, node, -1)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _FilterState = state.read(PRE_FILTER_KEY)
        for i, c in enumerate(s.constraints):
            value = node.labels.get(c.topology_key)
            if value is None:
                return MISSING_LABEL
            minimum = 0 if len(s.counts[i]) < c.min_domains else s.minimum[i]
            if s.counts[i].get(value, 0) + s.self_match[i] - minimum > c.max_skew:
                return REJECTED
        return None

    # scoring

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        all_nodes = self.handle.snapshot.node_list
        if not nodes or not all_nodes:
            return None
        constraints = self.constraints(pod, SCHEDULE_ANYWAY)
        if not constraints:
            return SKIP
        require_all = bool(pod.spec.get("topologySpreadConstraints"))  # system defaults tolerate missing keys
        s = _ScoreState(constraints)
        for node in nodes:
            if require_all and not has_all_keys(node.labels, constraints):
                s.ignored.add(node.name)
                continue
            for i, c in enumerate(constraints):
                if c.topology_key != LABEL_HOSTNAME:  # per-node counts are taken when scoring
                    s.counts[i].setdefault(node.labels.get(c.topology_key, ""), 0)
        scored = len(nodes) - len(s.ignored)
        s.weights = [math.log((scored if c.topology_key == LABEL_HOSTNAME else len(s.counts[i])) + 2)
                     for i, c in enumerate(constraints)]
        required = RequiredNodeAffinity.of(pod.spec)
        for node in all_nodes:
            if require_all and not has_all_keys(node.labels, constraints):
                continue
            for i, c in enumerate(constraints):
                value = node.labels.get(c.topology_key, "")
                if value in s.counts[i] and c.counts_node(pod, node, required):
                    s.counts[i][value] += count_matching(node.pods, c.selector, pod.namespace)
        state.write(PRE_SCORE_KEY, s)
        return None

    def score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        s: _ScoreState = state.read(PRE_SCORE_KEY)
        out = []
        for node in nodes:
            if node.name in s.ignored:
                out.append(0)
                continue
            total = 0.0
            for i, c in enumerate(s.constraints):
                value = node.labels.get(c.topology_key)
                if value is None:
                    continue
                if c.topology_key == LABEL_HOSTNAME:
                    n = count_matching(node.pods, c.selector, pod.namespace)
                else:
                    n = s.counts[i].get(value, 0)
                total += n * s.weights[i] + (c.max_skew - 1)
            out.append(math.floor(total + 0.5))
        return out

    def normalize_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], scores: list[int]) -> None:
        s: _ScoreState = state.read(PRE_SCORE_KEY)
        counted = [score for node, score in zip(nodes, scores, strict=True) if node.name not in s.ignored]
        low, high = min(counted, default=0), max(counted + [0])
        for i, node in enumerate(nodes):
            if node.name in s.ignored:
                scores[i] = 0
            elif high == 0:
                scores[i] = MAX_NODE_SCORE
            else:
                scores[i] = MAX_NODE_SCORE * (high + low - scores[i]) // high

    # requeueing

    def events_to_register(self) -> list[Registration]:
        return [Registration(ClusterEvent(POD, Action.ADD | Action.UPDATE_POD_LABEL | Action.DELETE),
                             self._pod_changed),
                Registration(ClusterEvent(NODE, Action.ADD | Action.DELETE | Action.UPDATE_NODE_LABEL
                                          | Action.UPDATE_NODE_TAINT), self._node_changed)]

    def _pod_changed(self, pod: PodInfo, old: object, new: object) -> bool:
        changed = [p for p in (old, new) if isinstance(p, PodInfo)]
        if any(p.uid != pod.uid and (not p.node_name or p.namespace != pod.namespace) for p in changed):
            return False  # neither the pod itself nor a scheduled pod of its namespace
        if any(p.uid == pod.uid for p in changed):
            return True
        constraints = self.constraints(pod, DO_NOT_SCHEDULE)
        if len(changed) == 2:
            before, after = changed
            return any(matches(c.selector, before.labels) != matches(c.selector, after.labels) for c in constraints)
        return any(matches(c.selector, changed[0].labels) for c in constraints)

    def _node_changed(self, pod: PodInfo, old: object, new: object) -> bool:
        constraints = self.constraints(pod, DO_NOT_SCHEDULE)
        before = (old["metadata"].get("labels") or {}) if isinstance(old, dict) else None
        after = (new["metadata"].get("labels") or {}) if isinstance(new, dict) else None
        if before is None or after is None:
            labels = after if after is not None else before
            return labels is not None and has_all_keys(labels, constraints)
        if any(before.get(c.topology_key) != after.get(c.topology_key) for c in constraints):
            return True
        return any(c.honor_node_taints for c in constraints) and (
            (old.get("spec") or {}).get("taints") != (new.get("spec") or {}).get("taints"))  # type: ignore[union-attr]
