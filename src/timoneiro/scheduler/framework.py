"""The scheduling framework: a fixed pipeline of extension points, each run by the plugins that implement it.

A plugin is an object with a `name` and any of these methods (its extension points):

    pre_enqueue(pod) -> Status | None                     may the pod enter the active queue at all
    sort_key(queued) -> tuple                             queue order (one queue-sort plugin)
    pre_filter(state, pod) -> Status | PreFilterResult | None
    add_pod / remove_pod(state, pod, other, node)         keep pre-filter state right when the nodes' pods
                                                          are changed for nominated pods and preemption
    filter(state, pod, node) -> Status | None             None: the node fits
    post_filter(state, pod, statuses) -> (node, Status)   async; preemption
    pre_score(state, pod, nodes) -> Status | None
    score(state, pod, nodes) -> list[int]                 one score per node, for all feasible nodes at once
    normalize_score(state, pod, nodes, scores)            in place, to 0..MAX_NODE_SCORE
    reserve / unreserve(state, pod, node), permit(state, pod, node)
    pre_bind / bind(state, pod, node) -> Status | None    async; a binder answers SKIP to pass
    post_bind(state, pod, node)
    events_to_register() -> list[Registration]            what may undo this plugin's rejections
    filter_key / score_key(state, pod) -> str | None      the verdict (raw score) depends only on the node info
                                                          (the node and its pods) and this key

Success is None wherever the hot loop runs; a pre-filter or pre-score that answers SKIP takes the plugin out of
the filter or score loop for this cycle, so a pod without ports or affinity costs those plugins nothing.

Node infos in a snapshot do not change (a changed node gets a fresh copy), so verdicts and scores with a key
are remembered on them: a stream of similar pods costs little more than the nodes changed since the last cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import attrgetter, is_
from sys import intern
from typing import Any

import orjson

from timoneiro.client.store import Store
from timoneiro.scheduler.events import Registration
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.snapshot import Snapshot
from timoneiro.scheduler.status import SKIP, Code, Status, error

log = logging.getLogger("timoneiro.scheduler.framework")

MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
MEMO_LIMIT = 64  # remembered results per node; beyond this a node's memo starts over
MISSING = object()  # not remembered yet
_MEMO = attrgetter("memo")


def memo_key(obj: object) -> str:
    """A canonical text for what a remembered result depends on (JSON with sorted keys)."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def go_list(names: Iterable[str]) -> str:
    """A sorted list of names as Go prints a slice: [a b c]."""
    return "[" + " ".join(sorted(names)) + "]"


def num_feasible_nodes_to_find(percentage: int, num_nodes: int) -> int:
    """How many feasible nodes are enough to stop filtering: adaptive, from 50% of small clusters down to 5%."""
    if num_nodes < MIN_FEASIBLE_NODES_TO_FIND or percentage >= 100:
        return num_nodes
    if percentage <= 0:
        percentage = max(50 - num_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    return max(num_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


Filter = Callable[["CycleState", PodInfo, NodeInfo], "Status | None"]


def remember(memo: dict, key: str, value: object) -> None:
    """Keep a result on a node info. Keys are interned, so that the next cycle's lookups with an equal key find
    it by identity, without comparing the long strings (hundreds of nodes are looked up per cycle)."""
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo[key] = value


def remembered_verdict(state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
    """The verdict of the filters that declare what it depends on, remembered on the node info."""
    status = node.memo.get(state.memo_filters_key, MISSING)
    if status is MISSING:
        status = None
        for check in state.memo_filters:
            status = check(state, pod, node)
            if status is not None:
                break
        remember(node.memo, state.memo_filters_key, status)
    return status  # type: ignore[return-value]


def remembered_scores(key: str, nodes: list[NodeInfo], compute: Callable[[list[NodeInfo]], list[int]]
                      ) -> list[int]:
    """Scores remembered under key on each node info, computing only those of nodes not scored before."""
    scores = list(map(dict.get, map(_MEMO, nodes), repeat(key)))  # [n.memo.get(key) for n in nodes], in C
    if None in scores:
        missing = list(compress(count(), map(is_, scores, repeat(None))))  # the positions of the Nones, in C
        for i, score in zip(missing, compute([nodes[i] for i in missing]), strict=True):
            remember(nodes[i].memo, key, score)
            scores[i] = score
    return scores  # type: ignore[return-value]


class CycleState:
    """What one scheduling cycle's plugins share: pre-filter results, and which plugins sit this pod out."""

    __slots__ = ("data", "skip_filter", "skip_score", "memo_filters", "memo_filters_key", "filters", "scorers",
                 "plain_scorers", "plain_key")

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.skip_filter: set[str] = set()
        self.skip_score: set[str] = set()
        # the leading filters whose verdict can be remembered per node info, under memo_filters_key
        self.memo_filters: list[Filter] = []
        self.memo_filters_key = ""
        self.filters: list[Filter] = []  # the rest, run for every node
        # scorers whose weighted raw scores are summed and remembered per node info, under plain_key
        self.plain_scorers: list[tuple[Any, int]] = []
        self.plain_key = ""
        self.scorers: list[tuple[Any, int, str | None]] = []  # the rest: plugin, weight, memo key or None

    def read(self, key: str) -> Any:
        return self.data.get(key)

    def write(self, key: str, value: Any) -> None:
        self.data[key] = value

    def clone(self) -> CycleState:
        """For what-if runs (nominated pods, preemption): state objects with a clone() are copied."""
        c = CycleState()
        c.data = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in self.data.items()}
        c.skip_filter = set(self.skip_filter)
        c.skip_score = set(self.skip_score)
        c.memo_filters, c.memo_filters_key, c.filters = self.memo_filters, self.memo_filters_key, self.filters
        c.plain_scorers, c.plain_key, c.scorers = self.plain_scorers, self.plain_key, self.scorers
        return c


@dataclass(frozen=True)
class PreFilterResult:
    """A pre-filter that already knows the only nodes that can fit (e.g. a matchFields on metadata.name)."""

    node_names: frozenset[str]


class NodeToStatus:
    """Why each node was rejected; nodes never tried (cut out at pre-filter) share the `absent` status."""

    def __init__(self) -> None:
        self.statuses: dict[str, Status] = {}
        self.absent = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def get(self, name: str) -> Status:
        return self.statuses.get(name, self.absent)

    def nodes_with_code(self, nodes: Iterable[NodeInfo], code: Code) -> list[NodeInfo]:
        return [n for n in nodes if self.get(n.name).code == code]


@dataclass
class Diagnosis:
    node_to_status: NodeToStatus = field(default_factory=NodeToStatus)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""

    def add_plugin_status(self, status: Status) -> None:
        if status.plugin and status.rejected:
            self.unschedulable_plugins.add(status.plugin)


class FitError(Exception):
    """No node fits the pod: its text is kube-scheduler's aggregated FailedScheduling message."""

    def __init__(self, pod: PodInfo, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        super().__init__()
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis

    def __str__(self) -> str:
        d = self.diagnosis
        message = f"0/{self.num_all_nodes} nodes are available:"
        if d.pre_filter_msg:
            message += f" {d.pre_filter_msg}."
        else:
            counts: dict[str, int] = {}
            statuses = d.node_to_status.statuses
            for status in statuses.values():
                for reason in status.reasons:
                    counts[reason] = counts.get(reason, 0) + 1
            absent = self.num_all_nodes - len(statuses)
            if absent > 0:
                for reason in d.node_to_status.absent.reasons:
                    counts[reason] = counts.get(reason, 0) + absent
            histogram = sorted(f"{n} {reason}" for reason, n in counts.items())
            if histogram:
                message += f" {', '.join(histogram)}."
        if d.post_filter_msg:
            message += f" {d.post_filter_msg}"
        return message


class Listers:
    """The informer caches plugins read besides nodes and pods; empty stores when none are given (tests)."""

    KINDS = ("pods", "services", "replicasets", "statefulsets", "replicationcontrollers", "namespaces", "pdbs")

    def __init__(self, **stores: Store) -> None:
        unknown = set(stores) - set(self.KINDS)
        if unknown:
            raise TypeError(f"no lister for {sorted(unknown)}")
        for kind in self.KINDS:
            store = stores.get(kind)
            setattr(self, kind, Store() if store is None else store)


PluginFactory = Callable[["Framework"], Any]


class Framework:
    """One profile's plugins, and the handle they are built with (snapshot, nominator, client, listers)."""

    def __init__(self, plugins: list[tuple[PluginFactory, int]], *, profile: str = "default-scheduler",
                 snapshot: Snapshot | None = None, listers: Listers | None = None, nominator: Any = None,
                 client: Any = None, recorder: Any = None, percentage_of_nodes_to_score: int = 0) -> None:
        self.profile = profile
        self.snapshot = snapshot if snapshot is not None else Snapshot()
        self.listers = listers or Listers()
        self.nominator = nominator
        self.client = client
        self.recorder = recorder
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.plugins = []
        self.weights: dict[str, int] = {}
        for factory, weight in plugins:
            plugin = factory(self)
            self.plugins.append(plugin)
            self.weights[plugin.name] = weight

        def having(method: str) -> list:
            return [p for p in self.plugins if hasattr(p, method)]

        self.pre_enqueue_plugins = having("pre_enqueue")
        self.queue_sort = next(iter(having("sort_key")), None)
        self.pre_filter_plugins = having("pre_filter")
        self.filter_plugins = having("filter")
        self.post_filter_plugins = having("post_filter")
        self.pre_score_plugins = having("pre_score")
        self.score_plugins = having("score")
        self.reserve_plugins = having("reserve")
        self.permit_plugins = having("permit")
        self.pre_bind_plugins = having("pre_bind")
        self.bind_plugins = having("bind")
        self.post_bind_plugins = having("post_bind")

    def plugin(self, name: str) -> Any:
        return next(p for p in self.plugins if p.name == name)

    def events_to_register(self) -> dict[str, list[Registration]]:
        return {p.name: list(p.events_to_register()) for p in self.plugins if hasattr(p, "events_to_register")}

    # queueing

    def run_pre_enqueue(self, pod: PodInfo) -> Status | None:
        for plugin in self.pre_enqueue_plugins:
            status = plugin.pre_enqueue(pod)
            if status is not None and not status.success:
                return status
        return None

    # filtering

    def run_pre_filter(self, state: CycleState, pod: PodInfo
                       ) -> tuple[frozenset[str] | None, Status | None, set[str]]:
        """Run pre-filters and set up the cycle's filter loop. Answers the node names pre-filters narrowed the
        search to (None: all nodes), a rejection if one rejected the pod, and the plugins that narrowed."""
        names: frozenset[str] | None = None
        narrowing: set[str] = set()
        for plugin in self.pre_filter_plugins:
            result = plugin.pre_filter(state, pod)
            if result is None:
                continue
            if isinstance(result, PreFilterResult):
                narrowing.add(plugin.name)
                names = result.node_names if names is None else names & result.node_names
                if not names:
                    message = (f"node(s) didn't satisfy plugin {plugin.name}" if len(narrowing) == 1 else
                               f"node(s) didn't satisfy plugin(s) {go_list(narrowing)} simultaneously")
                    return names, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, message, plugin=plugin.name), narrowing
            elif result.code == Code.SKIP:
                state.skip_filter.add(plugin.name)
            elif not result.success:
                if result.rejected:
                    return None, Status(result.code, *result.reasons, plugin=plugin.name), {plugin.name}
                failure = error(f'running PreFilter plugin "{plugin.name}": {result.message}', plugin.name)
                return None, failure, set()
        self._plan_filters(state, pod)
        return names, None, narrowing

    def _plan_filters(self, state: CycleState, pod: PodInfo) -> None:
        """Split the filters: the leading ones with a memo key have their joint verdict remembered."""
        active = [p for p in self.filter_plugins if p.name not in state.skip_filter]
        keys = []
        for plugin in active:
            key = plugin.filter_key(state, pod) if hasattr(plugin, "filter_key") else None
            if key is None:
                break
            keys.append(f"{plugin.name}={key}")
        state.memo_filters = [p.filter for p in active[:len(keys)]]
        state.memo_filters_key = intern("filter\n" + "\n".join(keys))  # interned: see remember()
        state.filters = [p.filter for p in active[len(keys):]]

    def run_filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if state.memo_filters:
            status = remembered_verdict(state, pod, node)
            if status is not None:
                return status
        for check in state.filters:
            status = check(state, pod, node)
            if status is not None:
                return status
        return None

    def run_filter_with_nominated(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Filter as if pods nominated to this node with at least this pod's priority were on it, and (when
        that passes) as if they were not: the pod must fit either way, since their fate is open."""
        nominated = self.nominator.pods_for(node.name) if self.nominator else ()
        if not nominated:
            return self.run_filter(state, pod, node)
        added = [p for p in nominated if p.uid != pod.uid and p.priority >= pod.priority]
        if not added:
            return self.run_filter(state, pod, node)
        state_with, node_with = state.clone(), node.clone()
        for other in added:
            node_with.add_pod(other)
            status = self.run_add_pod(state_with, pod, other, node_with)
            if status is not None:
                return status
        status = self.run_filter(state_with, pod, node_with)
        if status is None:
            status = self.run_filter(state, pod, node)
        return status

    def run_add_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> Status | None:
        for plugin in self.pre_filter_plugins:
            if plugin.name not in state.skip_filter and hasattr(plugin, "add_pod"):
                status = plugin.add_pod(state, pod, other, node)
                if status is not None and not status.success:
                    return status
        return None

    def run_remove_pod(self, state: CycleState, pod: PodInfo, other: PodInfo, node: NodeInfo) -> Status | None:
        for plugin in self.pre_filter_plugins:
            if plugin.name not in state.skip_filter and hasattr(plugin, "remove_pod"):
                status = plugin.remove_pod(state, pod, other, node)
                if status is not None and not status.success:
                    return status
        return None

    async def run_post_filter(self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
                              ) -> tuple[str | None, Status]:
        """Answers the node to nominate ("" clears a nomination, None leaves it) and the outcome."""
        nominated: str | None = None
        reasons: list[str] = []
        for plugin in self.post_filter_plugins:
            result, status = await plugin.post_filter(state, pod, statuses)
            if status.success or status.code == Code.ERROR:
                return result, status
            nominated = result if nominated is None else nominated
            reasons.extend(status.reasons)
        return nominated, Status(Code.UNSCHEDULABLE, *reasons)

    # scoring

    def run_pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None:
        for plugin in self.pre_score_plugins:
            status = plugin.pre_score(state, pod, nodes)
            if status is None or status.success:
                continue
            if status.code == Code.SKIP:
                state.skip_score.add(plugin.name)
            else:
                return error(f'running PreScore plugin "{plugin.name}": {status.message}', plugin.name)
        state.plain_scorers, state.scorers, plain_keys = [], [], []
        for plugin in self.score_plugins:
            if plugin.name in state.skip_score:
                continue
            weight = self.weights[plugin.name]
            key = intern(f"{plugin.name}={plugin.score_key(state, pod)}*{weight}") if hasattr(plugin, "score_key") \
                else None
            if key is not None and not hasattr(plugin, "normalize_score"):
                state.plain_scorers.append((plugin, weight))  # weighted raw scores add up as they are
                plain_keys.append(key)
            else:
                state.scorers.append((plugin, weight, key))
        state.plain_key = intern("score\n" + "\n".join(plain_keys))
        return None

    def run_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
        """Weighted sum of every scoring plugin's normalized scores, per node."""
        totals = [0] * len(nodes)
        if state.plain_scorers:
            def plain(subset: list[NodeInfo]) -> list[int]:
                sums = [0] * len(subset)
                for plugin, weight in state.plain_scorers:
                    sums = [t + s * weight for t, s in zip(sums, plugin.score(state, pod, subset), strict=True)]
                return sums
            totals = remembered_scores(state.plain_key, nodes, plain)
        for plugin, weight, key in state.scorers:
            if key is None:
                scores = plugin.score(state, pod, nodes)
            else:
                scores = remembered_scores(key, nodes, lambda subset, p=plugin: p.score(state, pod, subset))
            plugin.normalize_score(state, pod, nodes, scores)
            totals = [t + s * weight for t, s in zip(totals, scores, strict=True)]
        return totals

    # reserving and binding

    def run_reserve(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        for plugin in self.reserve_plugins:
            status = plugin.reserve(state, pod, node)
            if status is not None and not status.success:
                return status
        return None

    def run_unreserve(self, state: CycleState, pod: PodInfo, node: str) -> None:
        for plugin in reversed(self.reserve_plugins):
            plugin.unreserve(state, pod, node)

    def run_permit(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        for plugin in self.permit_plugins:
            status = plugin.permit(state, pod, node)
            if status is not None and not status.success:
                return status
        return None

    async def run_pre_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        for plugin in self.pre_bind_plugins:
            status = await plugin.pre_bind(state, pod, node)
            if status is not None and not status.success:
                return status
        return None

    async def run_bind(self, state: CycleState, pod: PodInfo, node: str) -> Status | None:
        for plugin in self.bind_plugins:
            status = await plugin.bind(state, pod, node)
            if status is not SKIP:
                return status
        return error("no bind plugin bound the pod")

    def run_post_bind(self, state: CycleState, pod: PodInfo, node: str) -> None:
        for plugin in self.post_bind_plugins:
            plugin.post_bind(state, pod, node)
