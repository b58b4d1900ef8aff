"""Which pods a ReplicaSet gives up first when it has too many: upstream's ActivePodsWithRanks order.

Pods that cost least to lose go first: unscheduled before scheduled, pending before running, not ready
before ready, lower pod-deletion-cost first, pods doubled up on a node with more of their siblings first,
then the more recently ready and more recently created (in power-of-two age buckets, as upstream's
logarithmic scale-down), and the ones restarting more.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from datetime import datetime

from timoneiro.api.printers.age import parse_time
from timoneiro.controllers.pods import is_active, is_ready, phase, ready_condition

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def pods_to_delete(pods: list[dict], related: list[dict], count: int, now: datetime) -> list[dict]:
    """The `count` pods to delete; `related` are the pods of the ReplicaSet and its siblings under the
    same owner, whose count per node ranks pods that share a node."""
    if count < len(pods):
        on_node = Counter(_node(p) for p in related if is_active(p))
        ranked = [(on_node[_node(p)], p) for p in pods]

        def compare(a: tuple[int, dict], b: tuple[int, dict]) -> int:
            return -1 if _less(a, b, now) else 1 if _less(b, a, now) else 0
        ranked.sort(key=functools.cmp_to_key(compare))
        pods = [p for _, p in ranked]
    return pods[:count]


def _less(a: tuple[int, dict], b: tuple[int, dict], now: datetime) -> bool:
    (rank_a, pa), (rank_b, pb) = a, b
    node_a, node_b = _node(pa), _node(pb)
    if node_a != node_b and (not node_a or not node_b):
        return not node_a
    phase_a, phase_b = _PHASE_ORDINAL.get(phase(pa), 0), _PHASE_ORDINAL.get(phase(pb), 0)
    if phase_a != phase_b:
        return phase_a < phase_b
    ready_a, ready_b = is_ready(pa), is_ready(pb)
    if ready_a != ready_b:
        return not ready_a
    cost_a, cost_b = _deletion_cost(pa), _deletion_cost(pb)
    if cost_a != cost_b:
        return cost_a < cost_b
    if rank_a != rank_b:
        return rank_a > rank_b
    if ready_a and ready_b:
        since_a, since_b = _ready_since(pa), _ready_since(pb)
        if since_a != since_b:
            return _newer(since_a, since_b, pa, pb, now)
    restarts_a, restarts_b = _restarts(pa), _restarts(pb)
    if restarts_a != restarts_b:
        return restarts_a > restarts_b
    created_a, created_b = _created(pa), _created(pb)
    if created_a != created_b:
        return _newer(created_a, created_b, pa, pb, now)
    return False


def _newer(t_a: datetime | None, t_b: datetime | None, pa: dict, pb: dict, now: datetime) -> bool:
    """Unset times first; then the younger power-of-two age bucket; within one bucket, by uid."""
    if t_a is None or t_b is None:
        return t_a is None
    diff = _age_bucket(now - t_a) - _age_bucket(now - t_b)
    if diff == 0:
        return pa["metadata"].get("uid", "") < pb["metadata"].get("uid", "")
    return diff < 0


def _age_bucket(age) -> int:
    nanoseconds = age.total_seconds() * 1e9
    return int(math.log2(nanoseconds)) if nanoseconds > 0 else -1


def _node(pod: dict) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


def _deletion_cost(pod: dict) -> int:
    text = (pod["metadata"].get("annotations") or {}).get(DELETION_COST)
    try:
        cost = int(text) if text is not None else 0
    except ValueError:
        return 0
    return cost if -(2**31) <= cost < 2**31 else 0


def _ready_since(pod: dict) -> datetime | None:
    return parse_time((ready_condition(pod) or {}).get("lastTransitionTime"))


def _created(pod: dict) -> datetime | None:
    return parse_time(pod["metadata"].get("creationTimestamp"))


def _restarts(pod: dict) -> tuple[int, int]:
    """The most restarts of a regular container, then of a sidecar (an init container restarting Always)."""
    status = pod.get("status") or {}
    regular = max((c.get("restartCount") or 0 for c in status.get("containerStatuses") or ()), default=0)
    sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or ()
                if c.get("restartPolicy") == "Always"}
    sidecar = max((c.get("restartCount") or 0 for c in status.get("initContainerStatuses") or ()
                   if c.get("name") in sidecars), default=0)
    return regular, sidecar
