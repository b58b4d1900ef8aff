"""The node lifecycle controller: notices nodes whose kubelet went quiet and taints nodes by condition.

Every monitor period each node's health is checked: a kubelet proves it is alive by renewing its Lease in
kube-node-lease or by posting a new Ready heartbeat. Liveness is judged by when this controller saw either
change (its own clock, so that node clocks do not matter). A node silent for longer than the grace period
has all its conditions set Unknown, its pods marked not ready, and gets the unreachable NoExecute taint,
which the taint eviction controller turns into evictions. A node reporting Ready=False gets not-ready
instead; a Ready node loses both.

NoExecute taints are added per zone at a limited rate, and not at all while every zone is fully disrupted
(then the likelier fault is the control plane's own connectivity, and evicting everything would not help).
NoSchedule taints follow conditions (not-ready, unreachable, memory/disk/PID pressure, network) and
spec.unschedulable at once.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from timoneiro.api.printers.age import parse_time
from timoneiro.client import ApiError
from timoneiro.client.resources import LEASES, NODES, PODS
from timoneiro.controllers.base import Controller
from timoneiro.controllers.clock import rfc3339
from timoneiro.controllers.events import EventRecorder
from timoneiro.controllers.node_taints import (
    NO_EXECUTE,
    NO_SCHEDULE,
    NO_SCHEDULE_KEYS,
    NODE_NAME_INDEX,
    NOT_READY,
    PODS_BY_NODE,
    UNREACHABLE,
    condition,
    no_schedule_taints,
    taints,
    write_taints,
)

log = logging.getLogger("timoneiro.controllers.nodelifecycle")
LEASE_NAMESPACE = "kube-node-lease"
WATCHED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
NORMAL, PARTIAL, FULL = "Normal", "PartialDisruption", "FullDisruption"


@dataclass
class Health:
    probe: float  # monotonic time of the last sign of life seen
    heartbeat: str | None  # the Ready condition's lastHeartbeatTime then
    renewed: datetime | None = None  # the Lease's renewTime then


class Limiter:
    """A token bucket of burst 1: at most qps tokens a second; qps 0 never grants one."""

    def __init__(self, qps: float) -> None:
        self.qps = qps
        self._tokens = 1.0
        self._last = time.monotonic()

    def try_accept(self) -> bool:
        if self.qps <= 0:
            return False
        now = time.monotonic()
        self._tokens = min(1.0, self._tokens + (now - self._last) * self.qps)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def zone_of(node: dict) -> str:
    labels = node["metadata"].get("labels") or {}
    region = labels.get("topology.kubernetes.io/region") or labels.get("failure-domain.beta.kubernetes.io/region", "")
    zone = labels.get("topology.kubernetes.io/zone") or labels.get("failure-domain.beta.kubernetes.io/zone", "")
    return f"{region}:\x00:{zone}" if region or zone else ""


def zone_state(ready: list[str | None], unhealthy_threshold: float) -> str:
    """Full disruption: no node ready; partial: more than two not ready and at least the threshold's share."""
    up = sum(1 for r in ready if r == "True")
    down = len(ready) - up
    if up == 0 and down > 0:
        return FULL
    if down > 2 and down / len(ready) >= unhealthy_threshold:
        return PARTIAL
    return NORMAL


def unknown_conditions(node: dict, now: str) -> list[dict]:
    """The node's conditions with the kubelet-owned ones Unknown, as when nothing is heard from it."""
    conditions = copy.deepcopy((node.get("status") or {}).get("conditions") or [])
    for type_ in WATCHED_CONDITIONS:
        c = next((c for c in conditions if c.get("type") == type_), None)
        if c is None:
            conditions.append({"type": type_, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status.",
                               "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                               "lastTransitionTime": now})
        elif c.get("status") != "Unknown":
            c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                     lastTransitionTime=now)
    return conditions


class NodeLifecycleController(Controller):
    """Its queue carries node names for the NoSchedule pass; the health monitor runs on its own period."""

    name = "nodelifecycle"
    service_account = "node-controller"
    workers = 2
    grace_period = 40.0  # seconds without a sign of life before a node is Unknown (nodeMonitorGracePeriod)
    startup_grace_period = 60.0  # the same for a node that never posted Ready
    monitor_period = 5.0
    eviction_rate = 0.1  # nodes a second tainted NoExecute per zone
    secondary_eviction_rate = 0.01  # the same in a partially disrupted zone of a large cluster
    large_cluster_threshold = 50  # nodes in a zone above which partial disruption keeps evicting slowly
    unhealthy_zone_threshold = 0.55

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.nodes = self.follow(informers.informer(NODES))
        self.leases = informers.informer(LEASES, field_selector=f"metadata.namespace={LEASE_NAMESPACE}")
        self.pods = informers.informer(PODS, indexers=PODS_BY_NODE)
        self.events = EventRecorder(client, "node-controller")
        self.health: dict[str, Health] = {}
        self.zone_states: dict[str, str] = {}
        self.limiters: dict[str, Limiter] = {}
        self.to_taint: dict[str, dict[str, None]] = {}  # zone -> node names waiting for a NoExecute taint

    async def run(self) -> None:
        await asyncio.gather(super().run(), self._monitor())

    async def _monitor(self) -> None:
        while True:
            try:
                await self.monitor()
            except Exception:
                log.exception("node health monitoring failed")
            await asyncio.sleep(self.monitor_period)

    # NoSchedule taints, on every node change

    async def sync(self, key: str) -> None:
        node = self.nodes.store.get(key)
        if node is None:
            self.health.pop(key, None)
            for queue in self.to_taint.values():
                queue.pop(key, None)
            return
        want = no_schedule_taints(node)
        current = taints(node)
        keep = [t for t in current if not (t.get("effect") == NO_SCHEDULE and t.get("key") in NO_SCHEDULE_KEYS
                                           and t.get("key") not in want)]
        have = {t.get("key") for t in keep if t.get("effect") == NO_SCHEDULE}
        add = [{"key": k, "effect": NO_SCHEDULE} for k in sorted(want - have)]
        if add or len(keep) != len(current):
            await write_taints(self.client, node, keep + add)

    # health

    async def monitor(self) -> None:
        nodes = self.nodes.store.list()
        ready_by_zone: dict[str, list[str | None]] = {}
        for node in nodes:
            observed, current = await self.check_health(node)
            ready_by_zone.setdefault(zone_of(node), []).append(current)
            if current is None:
                continue
            await self.no_execute(node, current)
            if observed == "True" and current != "True":
                await self.mark_pods_not_ready(node["metadata"]["name"])
        await self.handle_disruption(ready_by_zone, nodes)
        await self.taint_pass()

    async def check_health(self, node: dict) -> tuple[str | None, str | None]:
        """The Ready status as read and as it is after this check (None: never posted, still in grace)."""
        name = node["metadata"]["name"]
        now = time.monotonic()
        ready = condition(node, "Ready")
        heartbeat = (ready or {}).get("lastHeartbeatTime")
        health = self.health.get(name)
        if health is None:
            health = self.health[name] = Health(now, heartbeat)
        elif heartbeat != health.heartbeat:
            health.probe, health.heartbeat = now, heartbeat
        lease = self.leases.store.get(f"{LEASE_NAMESPACE}/{name}")
        renewed = parse_time(((lease or {}).get("spec") or {}).get("renewTime"))
        if renewed is not None and (health.renewed is None or renewed > health.renewed):
            health.probe, health.renewed = now, renewed
        observed = (ready or {}).get("status")
        grace = self.grace_period if ready is not None else self.startup_grace_period
        if now - health.probe <= grace:
            return observed, observed
        conditions = unknown_conditions(node, rfc3339(datetime.now(UTC)))
        if conditions != (node.get("status") or {}).get("conditions"):
            try:
                await self.client.update_status(NODES, {**node, "status": {**node["status"], "conditions": conditions}})
            except ApiError as e:
                if e.code in (404, 409):
                    return observed, observed  # changed meanwhile: looked at again next period
                raise
            if observed != "Unknown":
                ref = {"kind": "Node", "name": name, "uid": node["metadata"].get("uid"), "apiVersion": "v1"}
                self.events.normal(ref, "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        return observed, "Unknown"

    async def mark_pods_not_ready(self, node_name: str) -> None:
        """The node's pods can no longer be trusted to serve: their Ready condition goes False."""
        now = rfc3339(datetime.now(UTC))
        for pod in self.pods.store.by_index(NODE_NAME_INDEX, node_name):
            ready = next((c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"),
                         None)
            if ready is None or ready.get("status") == "False":
                continue
            patch = {"status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": now}]}}
            try:
                await self.client.patch(PODS, pod["metadata"]["name"], patch, pod["metadata"]["namespace"],
                                        patch_type="strategic", subresource="status")
            except ApiError as e:
                if e.code != 404:
                    raise

    # NoExecute taints

    async def no_execute(self, node: dict, ready: str) -> None:
        name = node["metadata"]["name"]
        present = {t.get("key") for t in taints(node) if t.get("effect") == NO_EXECUTE}
        if ready == "True":
            self.unmark(name)
            if present & {NOT_READY, UNREACHABLE}:
                await self.swap_taints(node, None)
            return
        wanted, other = (NOT_READY, UNREACHABLE) if ready == "False" else (UNREACHABLE, NOT_READY)
        if other in present:
            await self.swap_taints(node, wanted)  # already evicting: switch the reason at once
        elif wanted not in present:
            self.to_taint.setdefault(zone_of(node), {})[name] = None

    def unmark(self, name: str) -> None:
        for queue in self.to_taint.values():
            queue.pop(name, None)

    async def swap_taints(self, node: dict, key: str | None) -> None:
        """Leave exactly the one NoExecute taint of ours given (none for None), with the time it was added."""
        kept = [t for t in taints(node) if not (t.get("effect") == NO_EXECUTE and t.get("key") in
                                                (NOT_READY, UNREACHABLE) and t.get("key") != key)]
        if key is not None and not any(t.get("key") == key and t.get("effect") == NO_EXECUTE for t in kept):
            kept.append({"key": key, "effect": NO_EXECUTE, "timeAdded": rfc3339(datetime.now(UTC))})
        if kept != taints(node):
            try:
                await write_taints(self.client, node, kept)
            except ApiError as e:
                if e.code not in (404, 409):
                    raise

    async def taint_pass(self) -> None:
        """Taint the nodes waiting for it, as each zone's limiter allows."""
        for zone, queue in self.to_taint.items():
            limiter = self.limiters.setdefault(zone, Limiter(self.eviction_rate))
            while queue and limiter.try_accept():
                name = next(iter(queue))
                del queue[name]
                node = self.nodes.store.get(name)
                ready = (condition(node, "Ready") or {}).get("status") if node else None
                if ready in ("False", "Unknown"):
                    await self.swap_taints(node, NOT_READY if ready == "False" else UNREACHABLE)

    async def handle_disruption(self, ready_by_zone: dict[str, list[str | None]], nodes: list[dict]) -> None:
        states = {z: zone_state(r, self.unhealthy_zone_threshold) for z, r in ready_by_zone.items()}
        all_now = bool(states) and all(s == FULL for s in states.values())
        all_before = bool(self.zone_states) and all(s == FULL for s in self.zone_states.values())
        if all_now and not all_before:
            log.warning("every zone is fully disrupted: no node is tainted for eviction until one recovers")
            for node in nodes:
                self.unmark(node["metadata"]["name"])
                await self.swap_taints(node, None)
            for zone in states:
                self.limiters[zone] = Limiter(0)
        elif all_before and not all_now:
            now = time.monotonic()  # nodes get a full grace period again before judgement
            for health in self.health.values():
                health.probe = now
            for zone, state in states.items():
                self.limiters[zone] = Limiter(self.rate_for(state, len(ready_by_zone[zone])))
        elif not all_now:
            for zone, state in states.items():
                if self.zone_states.get(zone) != state:
                    self.limiters[zone] = Limiter(self.rate_for(state, len(ready_by_zone[zone])))
        self.zone_states = states

    def rate_for(self, state: str, size: int) -> float:
        if state == PARTIAL:
            return self.secondary_eviction_rate if size > self.large_cluster_threshold else 0.0
        return self.eviction_rate
