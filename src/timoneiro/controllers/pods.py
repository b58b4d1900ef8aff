"""What controllers read off pods (ready, available, active, terminating), the order in which they give
pods up, and the pod they create from a template."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

from timoneiro.api.printers.age import parse_time

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def ready_condition(pod: dict) -> dict | None:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c
    return None


def is_ready(pod: dict) -> bool:
    c = ready_condition(pod)
    return c is not None and c.get("status") == "True"


def is_available(pod: dict, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least min_ready_seconds (upstream's IsPodAvailable)."""
    if not is_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = parse_time((ready_condition(pod) or {}).get("lastTransitionTime"))
    return since is not None and since + timedelta(seconds=min_ready_seconds) < now


def phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase") or ""


def is_terminal(pod: dict) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def is_deleted(pod: dict) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_active(pod: dict) -> bool:
    """Neither finished nor being deleted (upstream's FilterActivePods)."""
    return not is_terminal(pod) and not is_deleted(pod)


def is_terminating(pod: dict) -> bool:
    """Being deleted but not finished yet: it may still be running."""
    return is_deleted(pod) and not is_terminal(pod)


def max_restarts(pod: dict) -> int:
    return max((s.get("restartCount") or 0 for s in (pod.get("status") or {}).get("containerStatuses") or ()),
               default=0)


def _newer_first(value: object) -> tuple[int, float]:
    """A sort key putting unset times first, then later times before earlier ones."""
    t = parse_time(value)
    return (0, 0.0) if t is None else (1, -t.timestamp())


def removal_order(pod: dict) -> tuple:
    """Sort key, pods to give up first first (upstream's ActivePods): unscheduled, then pending before
    running, not ready before ready, ready more recently, restarted more, created more recently."""
    ready = is_ready(pod)
    return (
        1 if (pod.get("spec") or {}).get("nodeName") else 0,
        _PHASE_ORDINAL.get(phase(pod), 0),
        ready,
        _newer_first((ready_condition(pod) or {}).get("lastTransitionTime")) if ready else (0, 0.0),
        -max_restarts(pod),
        _newer_first(pod["metadata"].get("creationTimestamp")),
    )


def from_template(template: dict, owner_name: str, owner_ref: dict | None) -> dict:
    """A pod to create from a pod template (upstream's GetPodFromTemplate): the template's labels,
    annotations, finalizers and spec, named "<owner>-" plus a random suffix by the API server."""
    meta = template.get("metadata") or {}
    pod_meta: dict = {"generateName": f"{owner_name}-"}
    for field in ("labels", "annotations", "finalizers"):
        if meta.get(field):
            pod_meta[field] = copy.deepcopy(meta[field])
    if owner_ref is not None:
        pod_meta["ownerReferences"] = [owner_ref]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": copy.deepcopy(template.get("spec") or {})}
