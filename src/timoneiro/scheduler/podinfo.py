"""A pod with what every cycle asks of it computed once: requests, host ports, affinity terms, priority."""

from __future__ import annotations

from timoneiro.scheduler.affinity import AffinityTerm, WeightedAffinityTerm, affinity_terms, weighted_terms
from timoneiro.scheduler.resources import CPU, MEMORY, Resource, pod_requests

HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort)
DEFAULT_SCHEDULER = "default-scheduler"


def host_ports(spec: dict) -> tuple[HostPort, ...]:
    """The host ports the pod's containers (and sidecars) claim on their node."""
    containers = list(spec.get("containers") or ())
    containers += [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    out = []
    for container in containers:
        for port in container.get("ports") or ():
            host_port = port.get("hostPort") or 0
            if host_port > 0:
                out.append((port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP", host_port))
    return tuple(out)


class PodInfo:
    __slots__ = ("pod", "uid", "namespace", "name", "key", "labels", "priority", "node_name", "scheduler_name",
                 "nominated_node_name", "deleting", "tolerations", "requests", "non_zero_cpu", "non_zero_memory",
                 "host_ports", "has_affinity", "required_affinity_terms", "required_anti_affinity_terms",
                 "preferred_affinity_terms", "preferred_anti_affinity_terms")

    def __init__(self, pod: dict, priority: int = 0) -> None:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        self.pod = pod
        self.namespace: str = meta.get("namespace") or ""
        self.name: str = meta.get("name") or ""
        self.key = f"{self.namespace}/{self.name}"
        self.uid: str = meta.get("uid") or self.key
        self.labels: dict = meta.get("labels") or {}
        self.priority = priority
        self.node_name: str = spec.get("nodeName") or ""
        self.scheduler_name: str = spec.get("schedulerName") or DEFAULT_SCHEDULER
        self.nominated_node_name: str = (pod.get("status") or {}).get("nominatedNodeName") or ""
        self.deleting = bool(meta.get("deletionTimestamp"))
        self.tolerations: list[dict] = spec.get("tolerations") or []
        self.requests = Resource.of(pod_requests(spec))
        non_zero = pod_requests(spec, non_zero=True)
        self.non_zero_cpu: int = non_zero[CPU]
        self.non_zero_memory: int = non_zero[MEMORY]
        self.host_ports = host_ports(spec)
        affinity = spec.get("affinity") or {}
        pod_affinity = affinity.get("podAffinity") or {}
        anti_affinity = affinity.get("podAntiAffinity") or {}
        self.has_affinity = bool(pod_affinity or anti_affinity)
        required, preferred = ("requiredDuringSchedulingIgnoredDuringExecution",
                               "preferredDuringSchedulingIgnoredDuringExecution")
        self.required_affinity_terms: tuple[AffinityTerm, ...] = affinity_terms(
            self.namespace, pod_affinity.get(required))
        self.required_anti_affinity_terms: tuple[AffinityTerm, ...] = affinity_terms(
            self.namespace, anti_affinity.get(required))
        self.preferred_affinity_terms: tuple[WeightedAffinityTerm, ...] = weighted_terms(
            self.namespace, pod_affinity.get(preferred))
        self.preferred_anti_affinity_terms: tuple[WeightedAffinityTerm, ...] = weighted_terms(
            self.namespace, anti_affinity.get(preferred))

    @property
    def spec(self) -> dict:
        return self.pod.get("spec") or {}

    def assumed_on(self, node_name: str) -> PodInfo:
        """A copy bound to node_name, as the cache holds it between the scheduling decision and the binding."""
        pod = {**self.pod, "spec": {**self.spec, "nodeName": node_name}}
        clone = object.__new__(PodInfo)
        for slot in PodInfo.__slots__:
            setattr(clone, slot, getattr(self, slot))
        clone.pod = pod
        clone.node_name = node_name
        return clone

    def __repr__(self) -> str:
        return f"PodInfo({self.key}, node={self.node_name!r}, priority={self.priority})"
