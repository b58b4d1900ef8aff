"""What the scheduler knows of one node: the Node object, and the pods on it (bound or assumed) added up."""

from __future__ import annotations

from timoneiro.scheduler.affinity import LABEL_REGION, LABEL_ZONE
from timoneiro.scheduler.podinfo import PodInfo
from timoneiro.scheduler.resources import Resource
from timoneiro.scheduler.taints import NO_EXECUTE, NO_SCHEDULE, PREFER_NO_SCHEDULE

ANY_IP = "0.0.0.0"


def zone_key(node: dict) -> str:
    """The failure domain a node is in ("" when it has no region or zone label), for spreading the node order."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    region, zone = labels.get(LABEL_REGION, ""), labels.get(LABEL_ZONE, "")
    return f"{region}:\x00:{zone}" if region or zone else ""


class NodeInfo:
    __slots__ = ("node", "name", "labels", "taints", "schedule_taints", "prefer_taints", "unschedulable",
                 "allocatable", "requested", "non_zero_requested", "pods", "pods_with_affinity",
                 "pods_with_required_anti_affinity", "used_ports", "memo")

    def __init__(self, node: dict | None = None, name: str = "") -> None:
        self.node: dict | None = None
        self.name = name
        self.labels: dict = {}
        self.taints: list[dict] = []
        self.schedule_taints: list[dict] = []  # NoSchedule and NoExecute: what the filter checks
        self.prefer_taints: list[dict] = []  # PreferNoSchedule: what the score counts
        self.unschedulable = False
        self.allocatable = Resource()
        self.requested = Resource()
        self.non_zero_requested = Resource()  # cpu and memory only, with defaults for unset requests
        self.pods: list[PodInfo] = []
        self.pods_with_affinity: list[PodInfo] = []
        self.pods_with_required_anti_affinity: list[PodInfo] = []
        self.used_ports: dict[tuple[str, int], set[str]] = {}  # (protocol, port) -> host IPs
        # filter verdicts and scores the framework remembers: valid while this node info does not change
        self.memo: dict[str, object] = {}
        if node is not None:
            self.set_node(node)

    def set_node(self, node: dict) -> None:
        spec = node.get("spec") or {}
        self.node = node
        self.name = node["metadata"]["name"]
        self.labels = node["metadata"].get("labels") or {}
        self.taints = spec.get("taints") or []
        self.schedule_taints = [t for t in self.taints if t.get("effect") in (NO_SCHEDULE, NO_EXECUTE)]
        self.prefer_taints = [t for t in self.taints if t.get("effect") == PREFER_NO_SCHEDULE]
        self.unschedulable = bool(spec.get("unschedulable"))
        self.allocatable = Resource.parse((node.get("status") or {}).get("allocatable"))
        self.memo = {}

    def remove_node(self) -> None:
        self.node = None

    # pods

    def add_pod(self, pod: PodInfo) -> None:
        self.pods.append(pod)
        if pod.has_affinity:
            self.pods_with_affinity.append(pod)
        if pod.required_anti_affinity_terms:
            self.pods_with_required_anti_affinity.append(pod)
        self._count(pod, 1)

    def remove_pod(self, pod: PodInfo) -> bool:
        """Take out the pod with pod's uid; False if it is not here."""
        for i, held in enumerate(self.pods):
            if held.uid == pod.uid:
                del self.pods[i]
                break
        else:
            return False
        if held.has_affinity:
            self.pods_with_affinity = [p for p in self.pods_with_affinity if p.uid != held.uid]
        if held.required_anti_affinity_terms:
            self.pods_with_required_anti_affinity = [p for p in self.pods_with_required_anti_affinity
                                                     if p.uid != held.uid]
        self._count(held, -1)
        return True

    def _count(self, pod: PodInfo, sign: int) -> None:
        self.memo = {}
        self.requested.add(pod.requests, sign)
        self.non_zero_requested.milli_cpu += sign * pod.non_zero_cpu
        self.non_zero_requested.memory += sign * pod.non_zero_memory
        for ip, protocol, port in pod.host_ports:
            if sign > 0:
                self.used_ports.setdefault((protocol, port), set()).add(ip)
            else:
                ips = self.used_ports.get((protocol, port))
                if ips is not None:
                    ips.discard(ip)
                    if not ips:
                        del self.used_ports[(protocol, port)]

    def port_conflict(self, ip: str, protocol: str, port: int) -> bool:
        """Whether ip:port/protocol is taken: binding all addresses clashes with any use of the port."""
        ips = self.used_ports.get((protocol, port))
        if not ips:
            return False
        return ip == ANY_IP or ip in ips or ANY_IP in ips

    def clone(self) -> NodeInfo:
        """A copy whose pods and sums can change (snapshots, preemption's what-ifs) without touching this one."""
        c = object.__new__(NodeInfo)
        c.node, c.name, c.labels, c.taints = self.node, self.name, self.labels, self.taints
        c.schedule_taints, c.prefer_taints, c.unschedulable = self.schedule_taints, self.prefer_taints, self.unschedulable
        c.allocatable = self.allocatable
        c.requested = self.requested.clone()
        c.non_zero_requested = self.non_zero_requested.clone()
        c.pods = list(self.pods)
        c.pods_with_affinity = list(self.pods_with_affinity)
        c.pods_with_required_anti_affinity = list(self.pods_with_required_anti_affinity)
        c.used_ports = {k: set(v) for k, v in self.used_ports.items()}
        c.memo = {}
        return c

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)}, requested={self.requested})"
