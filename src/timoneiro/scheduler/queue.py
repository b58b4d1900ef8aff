"""The scheduling queue: pods waiting for a scheduling attempt, and pods waiting for the cluster to change.

Three places, as in kube-scheduler: the active queue (ordered by the queue-sort plugin: priority, then time),
the back-off queue (pods that failed recently, released after 1s doubling to 10s per attempt), and the
unschedulable pods, which wait for a cluster event that one of their rejecting plugins registered (and whose
hint agrees) or, at the latest, for five minutes. The nominator remembers which node preemption made room on
for which pod, so that other pods do not take that room.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable

from timoneiro.scheduler.events import UNSCHEDULED_POD, ClusterEvent, pod_changes
from timoneiro.scheduler.framework import Framework
from timoneiro.scheduler.podinfo import PodInfo

log = logging.getLogger("timoneiro.scheduler.queue")

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
MAX_UNSCHEDULABLE = 300.0  # a pod waits at most this long for an event before it is retried anyway

ACTIVE, BACKOFF, UNSCHEDULABLE, IN_FLIGHT, GONE = "active", "backoff", "unschedulable", "in-flight", "gone"


class QueueClosed(Exception):
    pass


class QueuedPodInfo:
    __slots__ = ("info", "timestamp", "initial_attempt", "attempts", "unschedulable_plugins", "gated", "where",
                 "seq")

    def __init__(self, info: PodInfo, now: float) -> None:
        self.info = info
        self.timestamp = now  # when it was queued, or last failed
        self.initial_attempt: float | None = None
        self.attempts = 0
        self.unschedulable_plugins: set[str] = set()
        self.gated = False  # held back by a pre-enqueue plugin (scheduling gates)
        self.where = ACTIVE
        self.seq = 0  # identifies its current heap entry; older entries are stale

    def __repr__(self) -> str:
        return f"QueuedPodInfo({self.info.key}, {self.where}, attempts={self.attempts})"


class Nominator:
    """Pods nominated to a node (by preemption, or by their status): node name -> pods."""

    def __init__(self) -> None:
        self._by_node: dict[str, list[PodInfo]] = {}
        self._node_of: dict[str, str] = {}

    def __bool__(self) -> bool:
        return bool(self._node_of)

    def pods_for(self, node: str) -> list[PodInfo]:
        return self._by_node.get(node) or []

    def add(self, pod: PodInfo, node: str | None = None) -> None:
        """Nominate pod to node (None: the node its status names; "": no node)."""
        node = pod.nominated_node_name if node is None else node
        self.delete(pod.uid)
        if not node or pod.node_name:
            return
        self._node_of[pod.uid] = node
        self._by_node.setdefault(node, []).append(pod)

    def update(self, old: PodInfo, new: PodInfo) -> None:
        # an update that does not touch the nomination keeps the one made in memory (not yet in the status)
        keep = None
        if not old.nominated_node_name and not new.nominated_node_name:
            keep = self._node_of.get(old.uid)
        self.add(new, keep)

    def delete(self, uid: str) -> None:
        node = self._node_of.pop(uid, None)
        if node is None:
            return
        pods = [p for p in self._by_node[node] if p.uid != uid]
        if pods:
            self._by_node[node] = pods
        else:
            del self._by_node[node]


class SchedulingQueue:
    def __init__(self, framework: Framework, *, initial_backoff: float = INITIAL_BACKOFF,
                 max_backoff: float = MAX_BACKOFF, max_unschedulable: float = MAX_UNSCHEDULABLE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.framework = framework
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self.clock = clock
        self.nominator = Nominator()
        self.scheduling_cycle = 0
        self._sort_key = framework.queue_sort.sort_key
        self._registrations = framework.events_to_register()
        self._interested: dict[ClusterEvent, frozenset[str]] = {}  # event -> plugins registering it
        self._pods: dict[str, QueuedPodInfo] = {}  # every pod the queue holds or hands out, by uid
        self._active: list[tuple[tuple, int, QueuedPodInfo]] = []
        self._backoff: list[tuple[float, int, QueuedPodInfo]] = []
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._seq = 0
        self._move_request_cycle = -1
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = float("inf")
        self._closed = False

    def __len__(self) -> int:
        return len(self._pods)

    def counts(self) -> dict[str, int]:
        counts = {ACTIVE: 0, BACKOFF: 0, UNSCHEDULABLE: 0, IN_FLIGHT: 0}
        for qpi in self._pods.values():
            counts[qpi.where] += 1
        return counts

    def get(self, uid: str) -> QueuedPodInfo | None:
        return self._pods.get(uid)

    # pods coming and going

    def add(self, pod: PodInfo) -> None:
        """A new pod waiting to be scheduled."""
        if pod.uid in self._pods:
            self.update(self._pods[pod.uid].info, pod)
            return
        qpi = QueuedPodInfo(pod, self.clock())
        self._pods[pod.uid] = qpi
        self.nominator.add(pod)
        self._activate(qpi)

    def update(self, old: PodInfo, new: PodInfo) -> None:
        qpi = self._pods.get(new.uid)
        if qpi is None:
            self.add(new)
            return
        self.nominator.update(old, new)
        qpi.info = new
        if qpi.where != UNSCHEDULABLE:
            return
        if qpi.gated:
            if self.framework.run_pre_enqueue(new) is None:
                del self._unschedulable[new.uid]
                self._activate(qpi)
            return
        if self._worth_requeuing(qpi, ClusterEvent(UNSCHEDULED_POD, pod_changes(old, new)), old, new):
            del self._unschedulable[new.uid]
            self._requeue(qpi)

    def delete(self, uid: str) -> None:
        qpi = self._pods.pop(uid, None)
        self.nominator.delete(uid)
        if qpi is not None:
            self._unschedulable.pop(uid, None)
            qpi.where = GONE

    # the scheduling loop's side

    async def pop(self) -> QueuedPodInfo:
        """The next pod to try; it stays in flight until done() or add_unschedulable()."""
        while True:
            while self._active:
                _, seq, qpi = heapq.heappop(self._active)
                if qpi.where != ACTIVE or qpi.seq != seq:
                    continue
                qpi.where = IN_FLIGHT
                qpi.attempts += 1
                if qpi.initial_attempt is None:
                    qpi.initial_attempt = self.clock()
                self.scheduling_cycle += 1
                return qpi
            if self._closed:
                raise QueueClosed
            self._wake.clear()
            await self._wake.wait()

    def done(self, uid: str) -> None:
        """The pod in flight was scheduled (or dropped): the queue lets go of it."""
        qpi = self._pods.get(uid)
        if qpi is not None and qpi.where == IN_FLIGHT:
            del self._pods[uid]
            qpi.where = GONE

    def add_unschedulable(self, qpi: QueuedPodInfo, cycle: int, rejected_by: set[str] | None) -> None:
        """The attempt in `cycle` failed. Rejected pods wait for an event, unless one already came during the
        attempt; pods that failed for another reason (rejected_by None) are retried after back-off."""
        if self._pods.get(qpi.info.uid) is not qpi or qpi.where != IN_FLIGHT:
            return  # deleted (or re-added) meanwhile
        qpi.timestamp = self.clock()
        qpi.unschedulable_plugins = set(rejected_by or ())
        if rejected_by is None or self._move_request_cycle >= cycle:
            self._to_backoff(qpi)
        else:
            self._to_unschedulable(qpi)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._wake.set()

    # cluster events

    def move_all(self, event: ClusterEvent, old: object = None, new: object = None) -> None:
        """Something changed in the cluster: retry the unschedulable pods it may help."""
        plugins = self._interested_plugins(event)
        if not plugins:
            return
        self._move_request_cycle = self.scheduling_cycle
        for qpi in list(self._unschedulable.values()):
            if qpi.unschedulable_plugins and qpi.unschedulable_plugins.isdisjoint(plugins):
                continue  # none of the plugins that rejected it cares about this event
            if self._worth_requeuing(qpi, event, old, new):
                del self._unschedulable[qpi.info.uid]
                self._requeue(qpi)

    def flush_unschedulable_leftover(self) -> None:
        """Pods that waited too long for an event are retried regardless."""
        deadline = self.clock() - self.max_unschedulable
        for qpi in list(self._unschedulable.values()):
            if not qpi.gated and qpi.timestamp < deadline:
                del self._unschedulable[qpi.info.uid]
                self._requeue(qpi)

    def _interested_plugins(self, event: ClusterEvent) -> frozenset[str]:
        plugins = self._interested.get(event)
        if plugins is None:
            plugins = self._interested[event] = frozenset(
                name for name, regs in self._registrations.items() if any(r.event.matches(event) for r in regs))
        return plugins

    def _worth_requeuing(self, qpi: QueuedPodInfo, event: ClusterEvent, old: object, new: object) -> bool:
        if qpi.gated:
            return False
        if not qpi.unschedulable_plugins:
            return True
        for plugin in qpi.unschedulable_plugins:
            for registration in self._registrations.get(plugin, ()):
                if not registration.event.matches(event):
                    continue
                if registration.hint is None:
                    return True
                try:
                    if registration.hint(qpi.info, old, new):
                        return True
                except Exception:  # a broken hint must not strand the pod
                    log.exception("queueing hint of %s failed for pod %s", plugin, qpi.info.key)
                    return True
        return False

    # moving between the queues

    def _activate(self, qpi: QueuedPodInfo) -> None:
        status = self.framework.run_pre_enqueue(qpi.info)
        if status is not None:
            qpi.gated = True
            qpi.unschedulable_plugins = {status.plugin}
            self._to_unschedulable(qpi)
            return
        qpi.gated = False
        self._seq += 1
        qpi.seq = self._seq
        qpi.where = ACTIVE
        heapq.heappush(self._active, (self._sort_key(qpi), self._seq, qpi))
        self._wake.set()

    def _requeue(self, qpi: QueuedPodInfo) -> None:
        if self._backoff_expiry(qpi) > self.clock():
            self._to_backoff(qpi)
        else:
            self._activate(qpi)

    def _to_unschedulable(self, qpi: QueuedPodInfo) -> None:
        qpi.where = UNSCHEDULABLE
        self._unschedulable[qpi.info.uid] = qpi

    def _to_backoff(self, qpi: QueuedPodInfo) -> None:
        self._seq += 1
        qpi.seq = self._seq
        qpi.where = BACKOFF
        expiry = self._backoff_expiry(qpi)
        heapq.heappush(self._backoff, (expiry, self._seq, qpi))
        self._arm(expiry)

    def backoff_duration(self, qpi: QueuedPodInfo) -> float:
        if qpi.attempts == 0:
            return 0.0
        return min(self.initial_backoff * 2 ** (qpi.attempts - 1), self.max_backoff)

    def _backoff_expiry(self, qpi: QueuedPodInfo) -> float:
        return qpi.timestamp + self.backoff_duration(qpi)

    def _arm(self, due: float) -> None:
        if due >= self._timer_due or self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        self._timer = asyncio.get_running_loop().call_later(max(0.0, due - self.clock()), self._flush_backoff)

    def _flush_backoff(self) -> None:
        self._timer, self._timer_due = None, float("inf")
        now = self.clock()
        while self._backoff:
            expiry, seq, qpi = self._backoff[0]
            if qpi.where != BACKOFF or qpi.seq != seq:
                heapq.heappop(self._backoff)
                continue
            if expiry > now:
                self._arm(expiry)
                return
            heapq.heappop(self._backoff)
            self._activate(qpi)
