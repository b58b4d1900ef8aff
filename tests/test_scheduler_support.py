"""Builders the scheduler tests share: Node and Pod objects, node infos, and a scheduler that is never started
(its cache, snapshot and plugins work without an API server)."""

from __future__ import annotations

import itertools

from timoneiro.scheduler.framework import CycleState, FitError
from timoneiro.scheduler.nodeinfo import NodeInfo
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.scheduler import Scheduler

CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
_uids = itertools.count()


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: str = "110", labels: dict | None = None,
         taints: list | None = None, unschedulable: bool = False, **extra: str) -> dict:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods, **extra}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or [], **({"unschedulable": True} if unschedulable else {})},
            "status": {"capacity": allocatable, "allocatable": allocatable,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}


def pod(name: str, cpu: str | None = "100m", memory: str | None = None, namespace: str = "default",
        labels: dict | None = None, node_name: str | None = None, **spec: object) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1",
                                     "resources": {"requests": requests}}], **spec}}
    if node_name:
        body["spec"]["nodeName"] = node_name
    return body


def info(obj: dict, priority: int | None = None) -> PodInfo:
    """A PodInfo for a pod that never went through the API server (so it gets a made-up uid)."""
    obj["metadata"].setdefault("uid", f"uid-{next(_uids)}")
    return PodInfo(obj, priority if priority is not None else obj["spec"].get("priority", 0))


def node_info(obj: dict, *pods: dict) -> NodeInfo:
    n = NodeInfo(obj)
    for p in pods:
        p["spec"]["nodeName"] = obj["metadata"]["name"]
        n.add_pod(info(p))
    return n


def offline_scheduler(*nodes: dict, pods: tuple[dict, ...] = ()) -> Scheduler:
    """A scheduler with these nodes and bound pods in its cache, to run scheduling cycles on."""
    s = Scheduler("http://127.0.0.1:9")
    for n in nodes:
        s.cache.add_node(n)
    for p in pods:
        s.cache.add_pod(info(p))
    return s


def place(s: Scheduler, obj: dict) -> str:
    """Run one scheduling cycle for the pod and assume it where it goes; FitError if it fits nowhere."""
    pi = info(obj)
    host = s.schedule_pod(CycleState(), pi)
    s.cache.assume_pod(pi.assumed_on(host))
    return host


def why_not(s: Scheduler, obj: dict) -> str:
    """The FailedScheduling message of a pod that fits nowhere (without preemption)."""
    try:
        host = s.schedule_pod(CycleState(), info(obj))
    except FitError as e:
        return str(e)
    raise AssertionError(f"expected no fit, got {host}")
