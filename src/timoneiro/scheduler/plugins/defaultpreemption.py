"""DefaultPreemption: when no node fits, find the node where evicting the fewest, least important lower-priority
pods makes room, evict them, and nominate the node for the pod (status.nominatedNodeName).

Candidates are nodes rejected for reasons preemption can fix (Unschedulable, not UnschedulableAndUnresolvable).
On each, all lower-priority pods are taken out; if the pod then fits, they are put back one at a time, most
important first (pods whose PodDisruptionBudget would be violated first), keeping out only those it cannot fit
beside. The best node has the fewest budget violations, then the lowest highest victim priority, the lowest sum
of priorities, the fewest victims, and the most recently started victims.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from timoneiro.api.selectors import SelectorError, from_label_selector, matches
from timoneiro.client import ApiError
from timoneiro.client.resources import PODS
from timoneiro.scheduler.framework import CycleState, Diagnosis, FitError, NodeToStatus
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.podstatus import patch_pod_status
from timoneiro.scheduler.status import SUCCESS, Code, Status, error

log = logging.getLogger("timoneiro.scheduler.preemption")

NAME = "DefaultPreemption"
MIN_CANDIDATE_NODES_PERCENTAGE = 10
MIN_CANDIDATE_NODES_ABSOLUTE = 100
NOT_HELPFUL = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, "Preemption is not helpful for scheduling", plugin=NAME)
NO_VICTIMS = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, "No preemption victims found for incoming pod",
                    plugin=NAME)


@dataclass
class Candidate:
    node: str
    victims: list[PodInfo]  # most important first
    pdb_violations: int


def start_time(pod: PodInfo) -> float:
    text = (pod.pod.get("status") or {}).get("startTime")
    if text:
        try:
            return datetime.datetime.fromisoformat(text).timestamp()
        except ValueError:
            pass
    return time.time()


def importance(pod: PodInfo) -> tuple[int, float]:
    """Sort key putting more important pods first: higher priority, then running longer."""
    return (-pod.priority, start_time(pod))


def terminating_by_preemption(pod: PodInfo) -> bool:
    if not pod.deleting:
        return False
    for c in (pod.pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "DisruptionTarget":
            return c.get("status") == "True" and c.get("reason") == "PreemptionByScheduler"
    return False


def split_by_pdb(pods: list[PodInfo], pdbs: list[dict]) -> tuple[list[PodInfo], list[PodInfo]]:
    """(pods whose eviction would violate a PodDisruptionBudget, the others), each in the order given."""
    allowed = [((p.get("status") or {}).get("disruptionsAllowed") or 0) for p in pdbs]
    violating, fine = [], []
    for pod in pods:
        violated = False
        for i, pdb in enumerate(pdbs) if pod.labels else ():
            if pdb["metadata"].get("namespace") != pod.namespace:
                continue
            try:
                selector = from_label_selector((pdb.get("spec") or {}).get("selector"))
            except SelectorError:
                continue
            if not selector or not matches(selector, pod.labels):
                continue
            if pod.name in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                continue
            allowed[i] -= 1
            if allowed[i] < 0:
                violated = True
        (violating if violated else fine).append(pod)
    return violating, fine


def pick_one(candidates: list[Candidate]) -> Candidate:
    def earliest_top_start(c: Candidate) -> float:
        top = c.victims[0].priority
        return min(start_time(v) for v in c.victims if v.priority == top)

    criteria = (
        lambda c: -c.pdb_violations,
        lambda c: -c.victims[0].priority,
        lambda c: -sum(v.priority + 2**31 for v in c.victims),
        lambda c: -len(c.victims),
        earliest_top_start,
    )
    remaining = candidates
    for score in criteria:
        best = max(score(c) for c in remaining)
        remaining = [c for c in remaining if score(c) == best]
        if len(remaining) == 1:
            break
    return remaining[0]


class DefaultPreemption:
    name = NAME

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def post_filter(self, state: CycleState, pod: PodInfo, statuses: NodeToStatus
                          ) -> tuple[str | None, Status]:
        nominated, status = await self.preempt(state, pod, statuses)
        if status.message:
            return nominated, Status(status.code, f"preemption: {status.message}", plugin=NAME)
        return nominated, status

    async def preempt(self, state: CycleState, pod: PodInfo, statuses: NodeToStatus) -> tuple[str | None, Status]:
        latest = self.handle.listers.pods.get(pod.key)
        if latest is None:
            return None, error(f'pod "{pod.key}" not found')
        eligible, why = self.eligible(pod, latest, statuses)
        if not eligible:
            return None, Status(Code.UNSCHEDULABLE, why)
        nodes = self.handle.snapshot.node_list
        if not nodes:
            return None, error("no nodes available")
        candidates, found = self.find_candidates(state, pod, nodes, statuses)
        if not candidates:
            found.absent = NOT_HELPFUL
            return "", Status(Code.UNSCHEDULABLE, str(FitError(pod, len(nodes), Diagnosis(found))))
        best = pick_one(candidates)
        failure = await self.prepare(best, pod)
        if failure is not None:
            return None, failure
        return best.node, SUCCESS

    def eligible(self, pod: PodInfo, latest: dict, statuses: NodeToStatus) -> tuple[bool, str]:
        if pod.spec.get("preemptionPolicy") == "Never":
            return False, "not eligible due to preemptionPolicy=Never."
        nominated = (latest.get("status") or {}).get("nominatedNodeName")
        if nominated:
            if statuses.get(nominated).code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return True, ""
            node = self.handle.snapshot.get(nominated)
            if node is not None and any(p.priority < pod.priority and terminating_by_preemption(p)
                                        for p in node.pods):
                return False, "not eligible due to a terminating pod on the nominated node."
        return True, ""

    def find_candidates(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo], statuses: NodeToStatus
                        ) -> tuple[list[Candidate], NodeToStatus]:
        potential = statuses.nodes_with_code(nodes, Code.UNSCHEDULABLE)
        found = NodeToStatus()
        if not potential:
            return [], found
        pdbs = self.handle.listers.pdbs.list()
        wanted = min(max(len(potential) * MIN_CANDIDATE_NODES_PERCENTAGE // 100, MIN_CANDIDATE_NODES_ABSOLUTE),
                     len(potential))
        offset = random.randrange(len(potential))
        fine: list[Candidate] = []
        violating: list[Candidate] = []
        for i in range(len(potential)):
            node = potential[(offset + i) % len(potential)].clone()
            victims, violations, status = self.select_victims(state.clone(), pod, node, pdbs)
            if status is None and victims:
                (violating if violations else fine).append(Candidate(node.name, victims, violations))
                if fine and len(fine) + len(violating) >= wanted:
                    break
                continue
            found.statuses[node.name] = status or error(f'expected at least one victim pod on node "{node.name}"')
        return fine + violating, found

    def select_victims(self, state: CycleState, pod: PodInfo, node: NodeInfo, pdbs: list[dict]
                       ) -> tuple[list[PodInfo], int, Status | None]:
        fw = self.handle
        potential = [p for p in node.pods if p.priority < pod.priority]
        if not potential:
            return [], 0, NO_VICTIMS
        for victim in potential:
            node.remove_pod(victim)
            failure = fw.run_remove_pod(state, pod, victim, node)
            if failure is not None:
                return [], 0, failure
        status = fw.run_filter_with_nominated(state, pod, node)
        if status is not None:
            return [], 0, status
        potential.sort(key=importance)
        violating, fine = split_by_pdb(potential, pdbs)
        victims: list[PodInfo] = []

        def reprieve(victim: PodInfo) -> bool:
            node.add_pod(victim)
            fw.run_add_pod(state, pod, victim, node)
            if fw.run_filter_with_nominated(state, pod, node) is None:
                return True
            node.remove_pod(victim)
            fw.run_remove_pod(state, pod, victim, node)
            victims.append(victim)
            return False

        violations = sum(1 for v in violating if not reprieve(v))
        for v in fine:
            reprieve(v)
        if violating and fine:
            victims.sort(key=importance)
        return victims, violations, None

    async def prepare(self, candidate: Candidate, pod: PodInfo) -> Status | None:
        """Evict the victims, and take the nomination from lower-priority pods nominated to the same node."""
        client, recorder = self.handle.client, self.handle.recorder
        condition = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                     "message": f"{pod.scheduler_name}: preempting to accommodate a higher priority pod"}

        async def evict(victim: PodInfo) -> None:
            await patch_pod_status(client, victim.pod, condition)
            try:
                await client.delete(PODS, victim.name, victim.namespace)
            except ApiError as e:
                if e.code != 404:
                    raise
            if recorder is not None:
                recorder.event(victim.pod, "Normal", "Preempted", "Preempting",
                               f"Preempted by pod {pod.uid} on node {candidate.node}", related=pod.pod)

        results = await asyncio.gather(*(evict(v) for v in candidate.victims if not v.deleting),
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            return error(f"preempting victims on node {candidate.node}: {failures[0]}")
        lower = [p for p in self.handle.nominator.pods_for(candidate.node) if p.priority < pod.priority]
        for other in lower:
            try:
                await patch_pod_status(client, other.pod, nominated_node="")
            except ApiError as e:
                log.warning("clearing the nominated node of %s: %s", other.key, e)
        return None
