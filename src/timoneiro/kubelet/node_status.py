"""The node's own object: registering it, and reporting its status (capacity, conditions, addresses,
nodeInfo, images) as upstream's node status setters do.

Every nodeStatusUpdateFrequency the status is worked out again; it is posted (a strategic merge patch of
nodes/status, which keeps conditions others set) when it changed or nodeStatusReportFrequency has passed,
and otherwise the Node is read, so that changes others make (the podCIDR the node IPAM controller
assigns, labels, taints) reach the kubelet either way. A condition that changes is told in an event about
the node, as upstream's setters tell it ("Node node-1 status is now: NodeReady").
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from fractions import Fraction

from timoneiro import KUBERNETES_VERSION
from timoneiro.api.quantity import BINARY_SI, DECIMAL_SI, Quantity, canonical, parse
from timoneiro.client import ApiError, Client, TransportError
from timoneiro.client.events import NORMAL, EventRecorder
from timoneiro.client.resources import NODES
from timoneiro.kubelet import events, machine
from timoneiro.kubelet.runtime.base import Image, Runtime, RuntimeStatus
from timoneiro.kubelet.settings import KubeletSettings
from timoneiro.kubelet.times import rfc3339

log = logging.getLogger("timoneiro.kubelet.node_status")

KUBELET_PORT = 10250
MAX_IMAGES = 50  # upstream's nodeStatusMaxImages
MAX_PODS = 110
EVICTION_MEMORY = 100 * 1024**2  # the default hard eviction thresholds come off allocatable:
EVICTION_NODEFS = Fraction(1, 10)  # memory.available<100Mi, nodefs.available<10%
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
ATTACH_DETACH_ANNOTATION = "volumes.kubernetes.io/controller-managed-attach-detach"

# condition type, reason and message when all is well, as upstream's setters write them
PRESSURE_CONDITIONS = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)
# the event reason when a condition turns to a status
CONDITION_EVENTS = {
    ("MemoryPressure", "False"): "NodeHasSufficientMemory", ("MemoryPressure", "True"): "NodeHasInsufficientMemory",
    ("DiskPressure", "False"): "NodeHasNoDiskPressure", ("DiskPressure", "True"): "NodeHasDiskPressure",
    ("PIDPressure", "False"): "NodeHasSufficientPID", ("PIDPressure", "True"): "NodeHasInsufficientPID",
    ("Ready", "True"): "NodeReady", ("Ready", "False"): "NodeNotReady",
}


def node_labels(name: str, control_plane: bool, extra: dict | None) -> dict[str, str]:
    arch = machine.architecture()
    labels = {"beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": arch,
              "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    if control_plane:
        labels[CONTROL_PLANE_LABEL] = ""
    labels.update(extra or {})
    return labels


def resources(overrides: dict | None, reserved: dict | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """capacity (this machine's, with overrides) and allocatable (less what is reserved for the system, as
    --kube-reserved, and the hard eviction thresholds)."""
    host = machine.machine_capacity()
    capacity = {"cpu": Quantity(Fraction(host["cpu"])),
                "ephemeral-storage": Quantity(Fraction(host["ephemeral-storage"] // 1024 * 1024), BINARY_SI),
                "hugepages-1Gi": Quantity(Fraction(0)), "hugepages-2Mi": Quantity(Fraction(0)),
                "memory": Quantity(Fraction(host["memory"] // 1024 * 1024), BINARY_SI),
                "pods": Quantity(Fraction(MAX_PODS))}
    for name, value in (overrides or {}).items():
        capacity[name] = parse(value)
    allocatable = dict(capacity)
    for name, value in (reserved or {}).items():
        allocatable[name] = Quantity(max(Fraction(0), capacity[name].value - parse(value).value),
                                     capacity[name].format)
    allocatable["memory"] = Quantity(max(Fraction(0), allocatable["memory"].value - EVICTION_MEMORY), BINARY_SI)
    storage = capacity["ephemeral-storage"].value
    kept = allocatable["ephemeral-storage"].value
    allocatable["ephemeral-storage"] = Quantity(Fraction(int(kept - storage * EVICTION_NODEFS)), DECIMAL_SI)
    return ({k: canonical(v) for k, v in sorted(capacity.items())},
            {k: canonical(v) for k, v in sorted(allocatable.items())})


def conditions(previous: list[dict], runtime: RuntimeStatus, now: str) -> list[dict]:
    """MemoryPressure, DiskPressure, PIDPressure and Ready; transition times kept while a status stays."""
    before = {c.get("type"): c for c in previous}
    out = []

    def add(kind: str, status: str, reason: str, message: str) -> None:
        prev = before.get(kind) or {}
        kept = prev.get("status") == status and prev.get("lastTransitionTime")
        out.append({"type": kind, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": kept or now,
                    "reason": reason, "message": message})

    for kind, reason, message in PRESSURE_CONDITIONS:
        add(kind, "False", reason, message)
    if not runtime.runtime_ready:
        add("Ready", "False", "KubeletNotReady", f"container runtime is down: {runtime.message}")
    elif not runtime.network_ready:
        add("Ready", "False", "KubeletNotReady", f"container runtime network not ready: {runtime.message}")
    else:
        add("Ready", "True", "KubeletReady", "kubelet is posting ready status")
    return out


def is_ready(node: dict) -> bool:
    """Whether the Node's Ready condition is True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())


def node_images(images: list[Image]) -> list[dict]:
    """The largest images first, at most MAX_IMAGES, each by its digests and tags."""
    ordered = sorted(images, key=lambda i: i.size, reverse=True)[:MAX_IMAGES]
    return [{"names": [*i.repo_digests, *i.repo_tags], "sizeBytes": i.size} for i in ordered]


def transitions(previous: list[dict], now: list[dict]) -> list[str]:
    """The events of the conditions whose status changed (or that are new), in their order."""
    before = {c.get("type"): c.get("status") for c in previous}
    return [CONDITION_EVENTS[key] for c in now
            if before.get(c["type"]) != c["status"] and (key := (c["type"], c["status"])) in CONDITION_EVENTS]


def differs(current: dict, wanted: dict) -> bool:
    """Whether the node's status as the API has it differs from what the kubelet would post, heartbeats
    aside (and conditions others own, such as NetworkUnavailable)."""
    for key, value in wanted.items():
        if key != "conditions":
            if current.get(key) != value:
                return True
            continue
        have = {c.get("type"): c for c in current.get("conditions") or ()}
        for condition in value:
            old = have.get(condition["type"]) or {}
            if any(old.get(k) != v for k, v in condition.items() if k != "lastHeartbeatTime"):
                return True
    return False


class NodeStatus:
    def __init__(self, client: Client, name: str, runtime: Runtime, settings: KubeletSettings, *,
                 labels: dict[str, str], taints: list[dict], capacity: dict | None, pod_cidr: str | None,
                 addresses: list[dict], on_node: Callable[[dict], Awaitable[None]], recorder: EventRecorder,
                 reserved: dict | None = None, provider_id: str | None = None,
                 kubelet_port: int = KUBELET_PORT) -> None:
        self.client = client
        self.kubelet_port = kubelet_port  # where the kubelet's API listens, in daemonEndpoints
        self.recorder = recorder
        self.name = name
        self.runtime = runtime
        self.settings = settings
        self.labels = labels
        self.taints = taints
        self.capacity, self.allocatable = resources(capacity, reserved)
        self.pod_cidr = pod_cidr
        self.provider_id = provider_id
        self.addresses = addresses
        self.on_node = on_node  # told every fresh copy of the Node
        self.boot_id = str(uuid.uuid4())
        self._posted_at = float("-inf")

    async def register(self) -> dict:
        """Create the Node, or bring an existing one's labels, taints and annotations up to date."""
        meta: dict = {"name": self.name, "labels": self.labels, "annotations": {ATTACH_DETACH_ANNOTATION: "true"}}
        spec: dict = {"taints": self.taints} if self.taints else {}
        if self.provider_id:
            spec["providerID"] = self.provider_id
        if self.pod_cidr:
            spec.update(podCIDR=self.pod_cidr, podCIDRs=[self.pod_cidr])
        try:
            node = await self.client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": meta,
                                                    "spec": spec})
        except ApiError as e:
            if e.code != 409:
                raise
            node = await self._reconcile(await self.client.get(NODES, self.name))
        await self.on_node(node)
        return node

    async def _reconcile(self, node: dict) -> dict:
        meta, spec = node["metadata"], node.get("spec") or {}
        patch: dict = {}
        labels = {k: v for k, v in self.labels.items() if (meta.get("labels") or {}).get(k) != v}
        if labels:
            patch["metadata"] = {"labels": labels}
        if (meta.get("annotations") or {}).get(ATTACH_DETACH_ANNOTATION) != "true":
            patch.setdefault("metadata", {})["annotations"] = {ATTACH_DETACH_ANNOTATION: "true"}
        have = spec.get("taints") or []
        missing = [t for t in self.taints if not any(t.get("key") == h.get("key") and t.get("effect") == h.get("effect")
                                                     for h in have)]
        if missing:
            patch["spec"] = {"taints": have + missing}
        if self.provider_id and not spec.get("providerID"):  # immutable once set
            patch.setdefault("spec", {})["providerID"] = self.provider_id
        if self.pod_cidr and not spec.get("podCIDR"):
            patch.setdefault("spec", {}).update(podCIDR=self.pod_cidr, podCIDRs=[self.pod_cidr])
        return await self.client.patch(NODES, self.name, patch) if patch else node

    async def status(self, current: dict) -> dict:
        """The status now; conditions keep their transition times from the current one."""
        return {
            "capacity": self.capacity,
            "allocatable": self.allocatable,
            "conditions": conditions(current.get("conditions") or [], await self.runtime.status(), rfc3339()),
            "addresses": self.addresses,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "nodeInfo": {
                "machineID": machine.machine_id(self.name), "systemUUID": machine.system_uuid(self.name),
                "bootID": self.boot_id, "kernelVersion": machine.kernel_version(), "osImage": machine.os_image(),
                "containerRuntimeVersion": f"{self.runtime.name}://{await self.runtime.version()}",
                "kubeletVersion": KUBERNETES_VERSION, "operatingSystem": "linux",
                "architecture": machine.architecture()},
            "images": node_images(await self.runtime.list_images()),
        }

    async def update(self, node: dict | None = None) -> dict:
        """Read the Node (unless given a fresh copy) and post its status if it differs from the kubelet's
        or the report is due."""
        if node is None:
            node = await self.client.get(NODES, self.name)
        current = node.get("status") or {}
        status = await self.status(current)
        if time.monotonic() - self._posted_at >= self.settings.node_status_report_frequency \
                or differs(current, status):
            node = await self.client.patch(NODES, self.name, {"status": status}, patch_type="strategic",
                                           subresource="status")
            self._posted_at = time.monotonic()
            for reason in transitions(current.get("conditions") or [], status["conditions"]):
                self.recorder.record(events.node_ref(self.name), NORMAL, reason,
                                     f"Node {self.name} status is now: {reason}")
        await self.on_node(node)
        return node

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.node_status_update_frequency)
            try:
                await self.update()
            except (ApiError, TransportError) as e:
                log.warning("updating the status of node %s failed: %s", self.name, e)
