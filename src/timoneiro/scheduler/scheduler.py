"""kube-scheduler: watch pods and nodes, pick a node for each pending pod, bind it.

Each scheduling cycle runs synchronously on a fresh snapshot (no other task runs between reading the cluster and
assuming the pod onto its node), then hands the binding to a task of its own, so the next cycle starts while
the API call is in flight. The assumed pod counts on its node from that moment; the informer's view of the
bound pod confirms it and a failed binding gives its room back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from itertools import compress, repeat
from operator import eq

from timoneiro.client import Client, ClientConfig, Resource
from timoneiro.client.eventsv1 import EventRecorder
from timoneiro.client.informer import InformerFactory, without_managed_fields
from timoneiro.client.leaderelection import LeaderElector
from timoneiro.client.resources import (
    NAMESPACES,
    NODES,
    PDBS,
    PODS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
    SERVICES,
    STATEFULSETS,
)
from timoneiro.scheduler.cache import Cache
from timoneiro.scheduler.events import (
    ASSIGNED_POD,
    ASSIGNED_POD_ADD,
    ASSIGNED_POD_DELETE,
    NODE,
    NODE_ADD,
    Action,
    ClusterEvent,
    node_changes,
    pod_changes,
)
from timoneiro.scheduler.framework import (
    MISSING,
    CycleState,
    Diagnosis,
    FitError,
    Framework,
    Listers,
    go_list,
    num_feasible_nodes_to_find,
    remembered_verdict,
)
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.plugins import default_plugins
from timoneiro.scheduler.podinfo import DEFAULT_SCHEDULER, PodInfo
from timoneiro.scheduler.podstatus import patch_pod_status
from timoneiro.scheduler.queue import QueueClosed, QueuedPodInfo, SchedulingQueue
from timoneiro.scheduler.snapshot import Snapshot
from timoneiro.scheduler.status import Code, Status

log = logging.getLogger("timoneiro.scheduler")

PRIORITY_CLASSES = Resource("scheduling.k8s.io", "v1", "priorityclasses", namespaced=False)
NOT_TERMINAL = "status.phase!=Succeeded,status.phase!=Failed"
NO_NODES = "no nodes available to schedule pods"
NOTE_LENGTH_LIMIT = 1024  # an event's message is cut to this, as the API's validation wants
FLUSH_UNSCHEDULABLE_EVERY = 30.0


class SchedulingError(Exception):
    """Scheduling failed for a reason other than the pod not fitting: retried after back-off."""


class _NoNodes(Exception):
    pass


class Scheduler:
    def __init__(self, config: ClientConfig | str, name: str = DEFAULT_SCHEDULER, *,
                 percentage_of_nodes_to_score: int = 0, parallel_bindings: int = 256, leader_elect: bool = True,
                 identity: str | None = None, lease_seconds: int = 15, retry_period: float = 2.0) -> None:
        """`leader_elect` (kube-scheduler's --leader-elect, on by default): schedule only while holding the
        kube-system/kube-scheduler Lease, as `identity` (hostname_uuid unless given), so that of several
        schedulers one acts."""
        self.name = name
        self.client = Client(config)
        self.elector = LeaderElector(self.client, "kube-scheduler", identity=identity, lease_seconds=lease_seconds,
                                     renew_deadline=lease_seconds * 2 / 3, retry_period=retry_period
                                     ) if leader_elect else None
        self.informers = InformerFactory(self.client)
        # as kube-scheduler's pod informer: non-terminal pods, without their managedFields
        self.pods = self.informers.informer(PODS, field_selector=NOT_TERMINAL, transform=without_managed_fields)
        self.nodes = self.informers.informer(NODES)
        listers = Listers(
            pods=self.pods.store,
            namespaces=self.informers.informer(NAMESPACES).store,
            services=self.informers.informer(SERVICES).store,
            replicasets=self.informers.informer(REPLICASETS).store,
            statefulsets=self.informers.informer(STATEFULSETS).store,
            replicationcontrollers=self.informers.informer(REPLICATIONCONTROLLERS).store,
            pdbs=self.informers.informer(PDBS).store,
        )
        self.cache = Cache()
        self.snapshot = Snapshot()
        self.recorder = EventRecorder(self.client, name, f"{name}-{socket.gethostname()}")
        self.framework = Framework(default_plugins(), profile=name, snapshot=self.snapshot, listers=listers,
                                   client=self.client, recorder=self.recorder,
                                   percentage_of_nodes_to_score=percentage_of_nodes_to_score)
        self.queue = SchedulingQueue(self.framework)
        self.framework.nominator = self.queue.nominator
        self.parallel_bindings = parallel_bindings
        self.stats = {"scheduled": 0, "unschedulable": 0, "errors": 0}
        self._next_start_node_index = 0
        self._binding_slots: asyncio.Semaphore | None = None
        self._tasks: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.nodes.add_handler(self._node_added, self._node_updated, self._node_deleted)

    # lifecycle

    async def start(self) -> None:
        """Sync the informers, then, once this scheduler leads (at once without leader election), start
        scheduling."""
        self._binding_slots = asyncio.Semaphore(self.parallel_bindings)
        self.informers.start()
        await self.informers.wait_for_sync()
        if self.elector is not None:
            await self.elector.acquire()
        self.recorder.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run(), name="scheduling loop"),
                       loop.create_task(self._flush_unschedulable(), name="unschedulable flush")]
        if self.elector is not None:
            self._tasks.append(loop.create_task(self.elector.keep(self._lost), name="leader election"))

    def _lost(self) -> None:
        """The Lease could not be renewed: stop scheduling at once (kube-scheduler exits), since another
        scheduler may be leading by now."""
        log.error("leader election lost: no more scheduling")
        self.queue.close()

    async def stop(self) -> None:
        self.queue.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._background:
            await asyncio.wait(list(self._background), timeout=5)
        await self.recorder.stop()
        await self.informers.stop()
        if self.elector is not None:
            await self.elector.release()  # so that a standby need not wait for the Lease to expire
        await self.client.close()

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # informer events

    def priority_of(self, pod: dict) -> int:
        """spec.priority as the Priority admission plugin set it, else 0 (upstream's PodPriority): the
        scheduler reads no PriorityClasses, which its RBAC role does not grant."""
        priority = (pod.get("spec") or {}).get("priority")
        return priority if priority is not None else 0

    def pod_info(self, pod: dict) -> PodInfo:
        return PodInfo(pod, self.priority_of(pod))

    def _responsible(self, pod: dict) -> bool:
        return ((pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER) == self.name

    def _pod_added(self, pod: dict) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            info = self.pod_info(pod)
            self.cache.add_pod(info)
            self.queue.move_all(ASSIGNED_POD_ADD, None, info)
        elif self._responsible(pod):
            self.queue.add(self.pod_info(pod))

    def _pod_updated(self, old: dict, new: dict) -> None:
        if (new.get("spec") or {}).get("nodeName"):
            info = self.pod_info(new)
            before = self.cache.get_pod(info.uid)
            self.cache.add_pod(info)
            if (old.get("spec") or {}).get("nodeName"):
                if before is not None:
                    self.queue.move_all(ClusterEvent(ASSIGNED_POD, pod_changes(before, info)), before, info)
            else:  # just bound (by us, or by someone else)
                self.queue.delete(info.uid)
                self.queue.move_all(ASSIGNED_POD_ADD, None, info)
        elif self._responsible(new):
            queued = self.queue.get((new.get("metadata") or {}).get("uid", ""))
            info = self.pod_info(new)
            self.queue.update(queued.info if queued is not None else self.pod_info(old), info)

    def _pod_deleted(self, pod: dict) -> None:
        uid = (pod.get("metadata") or {}).get("uid", "")
        if (pod.get("spec") or {}).get("nodeName"):
            info = self.cache.get_pod(uid) or self.pod_info(pod)
            self.cache.remove_pod(uid)
            self.queue.move_all(ASSIGNED_POD_DELETE, info, None)
        else:
            self.queue.delete(uid)

    def _node_added(self, node: dict) -> None:
        self.cache.add_node(node)
        self.queue.move_all(NODE_ADD, None, node)

    def _node_updated(self, old: dict, new: dict) -> None:
        self.cache.add_node(new)
        action = node_changes(old, new)
        if action:
            self.queue.move_all(ClusterEvent(NODE, action), old, new)

    def _node_deleted(self, node: dict) -> None:
        self.cache.remove_node(node["metadata"]["name"])
        self.queue.move_all(ClusterEvent(NODE, Action.DELETE), node, None)

    # the scheduling loop

    async def _run(self) -> None:
        assert self._binding_slots is not None
        while True:
            try:
                queued = await self.queue.pop()
            except QueueClosed:
                return
            await self._binding_slots.acquire()
            binding = False
            try:
                binding = await self.schedule_one(queued)
            except Exception as e:  # a bug in a plugin must not stop the scheduler
                log.exception("scheduling %s", queued.info.key)
                self._failed(queued, self.queue.scheduling_cycle, Status(Code.ERROR, str(e)), None, None)
            finally:
                if not binding:
                    self._binding_slots.release()
            await asyncio.sleep(0)  # let bindings and informers run between cycles

    async def _flush_unschedulable(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_UNSCHEDULABLE_EVERY)
            self.queue.flush_unschedulable_leftover()

    async def schedule_one(self, queued: QueuedPodInfo) -> bool:
        """One scheduling cycle; answers whether a binding task now owns the pod (and the binding slot)."""
        pod, fw = queued.info, self.framework
        if pod.deleting:
            self.recorder.event(pod.pod, "Warning", "FailedScheduling", "Scheduling",
                                f"skip schedule deleting pod: {pod.namespace}/{pod.name}")
            self.queue.done(pod.uid)
            return False
        if self.cache.is_assumed(pod.uid):
            self.queue.done(pod.uid)
            return False
        cycle = self.queue.scheduling_cycle
        state = CycleState()
        try:
            host = self.schedule_pod(state, pod)
        except FitError as fit:
            nominated: str | None = ""
            if fw.post_filter_plugins:
                nominated, status = await fw.run_post_filter(state, pod, fit.diagnosis.node_to_status)
                fit.diagnosis.post_filter_msg = status.message
                if status.code == Code.ERROR:
                    log.warning("preemption for %s: %s", pod.key, status.message)
            self._failed(queued, cycle, Status(Code.UNSCHEDULABLE, str(fit)), fit.diagnosis.unschedulable_plugins,
                         nominated)
            return False
        except SchedulingError as e:
            self._failed(queued, cycle, Status(Code.ERROR, str(e)), None, "")
            return False
        except _NoNodes:
            self._failed(queued, cycle, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, NO_NODES), set(), "")
            return False

        assumed = pod.assumed_on(host)
        self.cache.assume_pod(assumed)
        self.queue.nominator.delete(pod.uid)
        status = fw.run_reserve(state, assumed, host) or fw.run_permit(state, assumed, host)
        if status is not None:
            fw.run_unreserve(state, assumed, host)
            self.cache.forget_pod(assumed)
            self._failed(queued, cycle, status, {status.plugin} if status.rejected else None, "")
            return False
        self._spawn(self._binding_cycle(state, queued, assumed, host, cycle), f"bind {pod.key}")
        return True

    def schedule_pod(self, state: CycleState, pod: PodInfo) -> str:
        """The node for the pod: filter, score, pick one of the best at random. Raises FitError if none fits."""
        self.cache.update_snapshot(self.snapshot)
        if not self.snapshot.node_list:
            raise _NoNodes
        feasible, diagnosis = self.find_nodes_that_fit(state, pod)
        if not feasible:
            raise FitError(pod, len(self.snapshot), diagnosis)
        if len(feasible) == 1:
            return feasible[0].name
        fw = self.framework
        status = fw.run_pre_score(state, pod, feasible)
        if status is not None:
            raise SchedulingError(status.message)
        totals = fw.run_score(state, pod, feasible)
        best = max(totals)
        return random.choice(list(compress(feasible, map(eq, totals, repeat(best))))).name  # one of the best

    def find_nodes_that_fit(self, state: CycleState, pod: PodInfo) -> tuple[list[NodeInfo], Diagnosis]:
        fw, snapshot = self.framework, self.snapshot
        diagnosis = Diagnosis()
        names, status, narrowing = fw.run_pre_filter(state, pod)
        diagnosis.unschedulable_plugins |= narrowing
        if status is not None:
            if not status.rejected:
                raise SchedulingError(status.message)
            diagnosis.node_to_status.absent = status
            diagnosis.pre_filter_msg = status.message
            diagnosis.add_plugin_status(status)
            return [], diagnosis
        nominated = snapshot.get(pod.nominated_node_name) if pod.nominated_node_name else None
        if nominated is not None:  # where preemption made room: likely the only fit, so try it first
            feasible, _ = self.filter_nodes(state, pod, diagnosis, [nominated], 1)
            if feasible:
                return feasible, diagnosis
        nodes = snapshot.node_list
        if names is not None:
            nodes = [n for n in nodes if n.name in names]
            diagnosis.node_to_status.absent = Status(
                Code.UNSCHEDULABLE_AND_UNRESOLVABLE, f"node(s) didn't satisfy plugin(s) {go_list(narrowing)}")
        if not nodes:
            return [], diagnosis
        start = self._next_start_node_index % len(nodes)
        to_find = num_feasible_nodes_to_find(fw.percentage_of_nodes_to_score, len(nodes))
        if names is None and state.memo_filters and not state.filters and not fw.nominator:
            feasible, processed = self.filter_by_verdicts(state, pod, diagnosis, start, to_find)
        else:
            feasible, processed = self.filter_nodes(state, pod, diagnosis, nodes[start:] + nodes[:start], to_find)
        self._next_start_node_index = (start + processed) % len(snapshot.node_list)
        return feasible, diagnosis

    def filter_by_verdicts(self, state: CycleState, pod: PodInfo, diagnosis: Diagnosis, start: int,
                           to_find: int) -> tuple[list[NodeInfo], int]:
        """filter_nodes over the whole snapshot from `start`, when every filter's verdict is remembered: the same
        nodes and rejections, from the verdicts the snapshot keeps by position (see verdicts.py)."""
        statuses = diagnosis.node_to_status.statuses

        def rejected(node: NodeInfo, status: Status) -> None:
            if status.code == Code.ERROR:
                raise SchedulingError(status.message)
            statuses[node.name] = status
            diagnosis.add_plugin_status(status)

        verdicts = self.snapshot.verdicts(state.memo_filters_key)
        return verdicts.first_feasible(self.snapshot.node_list, start, to_find,
                                       lambda node: remembered_verdict(state, pod, node), rejected)

    def filter_nodes(self, state: CycleState, pod: PodInfo, diagnosis: Diagnosis, nodes: list[NodeInfo],
                     to_find: int) -> tuple[list[NodeInfo], int]:
        """Run the filters over nodes until to_find fit; answers those and how many nodes were tried."""
        fw = self.framework
        statuses = diagnosis.node_to_status.statuses
        feasible: list[NodeInfo] = []
        processed = 0
        with_nominated = bool(fw.nominator)
        filters, key = state.filters, state.memo_filters_key if state.memo_filters else None
        for processed, node in enumerate(nodes, 1):  # noqa: B007 (processed is read after the loop)
            if with_nominated:
                status = fw.run_filter_with_nominated(state, pod, node)
            else:  # run_filter, inlined: this loop is the scheduler's hottest
                status = None if key is None else node.memo.get(key, MISSING)
                if status is MISSING:
                    status = remembered_verdict(state, pod, node)
                if status is None:
                    for check in filters:
                        status = check(state, pod, node)
                        if status is not None:
                            break
            if status is None:
                feasible.append(node)
                to_find -= 1
                if not to_find:
                    break
            elif status.code == Code.ERROR:
                raise SchedulingError(status.message)
            else:
                statuses[node.name] = status
                diagnosis.add_plugin_status(status)
        return feasible, processed

    async def _binding_cycle(self, state: CycleState, queued: QueuedPodInfo, assumed: PodInfo, host: str,
                             cycle: int) -> None:
        fw = self.framework
        assert self._binding_slots is not None
        try:
            status = await fw.run_pre_bind(state, assumed, host)
            if status is None:
                status = await fw.run_bind(state, assumed, host)
        except Exception as e:
            log.exception("binding %s", assumed.key)
            status = Status(Code.ERROR, str(e))
        finally:
            self._binding_slots.release()
        if status is None:
            self.queue.done(assumed.uid)
            self.stats["scheduled"] += 1
            self.recorder.event(assumed.pod, "Normal", "Scheduled", "Binding",
                                f"Successfully assigned {assumed.namespace}/{assumed.name} to {host}")
            fw.run_post_bind(state, assumed, host)
            return
        fw.run_unreserve(state, assumed, host)
        self.cache.forget_pod(assumed)
        self.queue.move_all(ASSIGNED_POD_DELETE, assumed, None)  # the room it held is free again
        self._failed(queued, cycle, status, None, "")

    # failures

    def _failed(self, queued: QueuedPodInfo, cycle: int, status: Status, rejected_by: set[str] | None,
                nominated: str | None) -> None:
        """Requeue the pod (as it is now), record FailedScheduling and set its PodScheduled condition.
        nominated: the node to nominate, "" to clear the nomination, None to leave it."""
        pod = queued.info
        self.stats["unschedulable" if status.rejected else "errors"] += 1
        current = self.pods.store.get(pod.key)
        if current is None or (current.get("spec") or {}).get("nodeName"):
            self.queue.done(pod.uid)  # gone, or bound meanwhile: nothing to retry
            return
        queued.info = self.pod_info(current)
        self.queue.add_unschedulable(queued, cycle, rejected_by if status.rejected else None)
        self.queue.nominator.add(queued.info, nominated)
        message = status.message
        if len(message) > NOTE_LENGTH_LIMIT:
            message = message[:NOTE_LENGTH_LIMIT - 4] + " ..."
        self.recorder.event(current, "Warning", "FailedScheduling", "Scheduling", message)
        condition = {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                     "reason": "Unschedulable" if status.rejected else "SchedulerError", "message": status.message}
        self._spawn(self._update_status(current, condition, nominated), f"status {pod.key}")

    async def _update_status(self, pod: dict, condition: dict, nominated: str | None) -> None:
        try:
            await patch_pod_status(self.client, pod, condition, nominated)
        except Exception as e:
            log.warning("updating the status of %s/%s: %s", pod["metadata"].get("namespace"),
                        pod["metadata"]["name"], e)
