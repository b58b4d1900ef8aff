"""NodeAffinity: spec.nodeSelector and required node affinity rule nodes out; preferred terms add their weight."""

from __future__ import annotations

from typing import Any

from timoneiro.scheduler.affinity import RequiredNodeAffinity, term_matches
from timoneiro.scheduler.events import NODE, Action, ClusterEvent, Registration
from timoneiro.scheduler.framework import CycleState, PreFilterResult, memo_key
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.plugins.helpers import default_normalize_score
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.status import SKIP, Code, Status

NAME = "NodeAffinity"
REASON = "node(s) didn't match Pod's node affinity/selector"
REJECTED = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, REASON, plugin=NAME)
CONFLICT = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, "pod affinity terms conflict", plugin=NAME)
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME


def named_nodes(terms: tuple[dict, ...]) -> frozenset[str] | None:
    """The only nodes the terms can select when every term pins metadata.name with In (None: not so)."""
    names: set[str] = set()
    for term in terms:
        term_names: set[str] | None = None
        for req in term.get("matchFields") or ():
            if req.get("key") == "metadata.name" and req.get("operator") == "In":
                values = set(req.get("values") or ())
                term_names = values if term_names is None else term_names & values
        if term_names is None:
            return None  # terms are ORed: this one leaves every node possible
        names |= term_names
    return frozenset(names) if terms else None


class NodeAffinity:
    name = NAME

    def __init__(self, handle: Any) -> None:
        pass

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | PreFilterResult | None:
        required = RequiredNodeAffinity.of(pod.spec)
        if required.empty:
            return SKIP
        state.write(PRE_FILTER_KEY, required)
        names = named_nodes(required.terms or ())
        if names is None:
            return None
        return PreFilterResult(names) if names else CONFLICT

    def filter_key(self, state: CycleState, pod: PodInfo) -> str:
        required: RequiredNodeAffinity = state.read(PRE_FILTER_KEY)
        return memo_key([required.node_selector, required.terms])

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        required: RequiredNodeAffinity = state.read(PRE_FILTER_KEY)
        return None if required.matches(node.labels, node.name) else REJECTED

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        preferred = (((pod.spec.get("affinity") or {}).get("nodeAffinity") or {})
                     .get("preferredDuringSchedulingIgnoredDuringExecution")) or ()
        terms = [(t.get("weight", 0), t.get("preference") or {}) for t in preferred if t.get("weight")]
        if not terms:
            return SKIP
        state.write(PRE_SCORE_KEY, terms)
        return None

    def score_key(self, state: CycleState, pod: PodInfo) -> str:
        return memo_key(state.read(PRE_SCORE_KEY))

    def score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        terms = state.read(PRE_SCORE_KEY)
        return [sum(w for w, t in terms if term_matches(t, n.labels, n.name)) for n in nodes]

    def normalize_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], scores: list[int]) -> None:
        default_normalize_score(scores)

    def events_to_register(self) -> list[Registration]:
        return [Registration(ClusterEvent(NODE, Action.ADD | Action.UPDATE_NODE_LABEL), _node_now_matches)]


def _node_now_matches(pod: PodInfo, old: object, new: object) -> bool:
    required = RequiredNodeAffinity.of(pod.spec)

    def matches(node: object) -> bool:
        return isinstance(node, dict) and required.matches(node["metadata"].get("labels") or {},
                                                           node["metadata"]["name"])
    return matches(new) and not matches(old)
