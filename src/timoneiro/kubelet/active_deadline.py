"""A pod's activeDeadlineSeconds, as upstream's active deadline handler keeps it: counted from the pod's
startTime on this node; once past, the kubelet fails the pod (DeadlineExceeded) and stops its containers."""

from __future__ import annotations

import time

from timoneiro.kubelet.times import seconds

REASON = "DeadlineExceeded"
MESSAGE = "Pod was active on the node longer than the specified deadline"


def remaining(pod: dict, status: dict) -> float | None:
    """Seconds left before the pod's deadline (0 or less: past it); None if it has none, or has not started.
    status is the kubelet's latest status of the pod (its startTime)."""
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    start = status.get("startTime")
    if deadline is None or not start:
        return None
    return seconds(start) + deadline - time.time()
