"""The container runtime as the kubelet sees it: the calls of the CRI's RuntimeService and ImageService.

The kubelet never knows which runtime it drives. Sandboxes and containers are named by the ids the
runtime gives them; the kubelet finds its pods again through the labels it set on them (a sandbox's pod
uid, a container's name) and counts restarts in the container's attempt number, as kuberuntime does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from timoneiro.kubelet.runtime.image_names import normalize_image

# labels the kubelet puts on what it creates, as upstream's kuberuntime labels them
POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
# which part of the pod a container is: "init", "sidecar" (a restartable init container) or "regular"
CONTAINER_TYPE_ANNOTATION = "timoneiro.io/container-type"


class ContainerState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


@dataclass
class PortMapping:
    """A container port the node forwards a host port to (hostPort)."""

    container_port: int
    host_port: int
    protocol: str = "TCP"
    host_ip: str = ""


@dataclass
class ContainerResources:
    """Linux cgroup limits, as the CRI's LinuxContainerResources (0: not set)."""

    cpu_shares: int = 0
    cpu_quota: int = 0  # microseconds a cpu_period
    cpu_period: int = 0
    memory_limit: int = 0  # bytes


@dataclass
class PodSandboxConfig:
    name: str
    namespace: str
    uid: str
    attempt: int = 0
    hostname: str = ""
    host_network: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)  # the pod's annotations
    port_mappings: list[PortMapping] = field(default_factory=list)


@dataclass
class PodSandboxStatus:
    id: str
    config: PodSandboxConfig
    ready: bool
    created_at: float  # seconds since the epoch
    ip: str | None  # None for a host-network sandbox: the pod has the node's addresses


@dataclass
class ContainerConfig:
    name: str
    image: str
    attempt: int = 0  # how many times this container was restarted before
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    # what a real container needs; the simulated runtime ignores them
    envs: list[tuple[str, str]] = field(default_factory=list)
    working_dir: str = ""
    resources: ContainerResources | None = None


@dataclass
class ContainerStatus:
    id: str
    sandbox_id: str
    name: str
    attempt: int
    state: ContainerState
    image: str
    image_ref: str
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class Image:
    id: str
    repo_tags: list[str]
    repo_digests: list[str]
    size: int


@dataclass
class RuntimeStatus:
    """What the node's Ready condition reports on: whether containers can run, and have a network."""

    runtime_ready: bool = True
    network_ready: bool = True
    message: str = ""


class RuntimeFailure(Exception):
    """A runtime call failed; reason is the waiting reason the container shows (CreateContainerError...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Runtime(ABC):
    """One node's container runtime. Calls are made from the kubelet's event loop."""

    name = "runtime"  # the scheme of container ids: "containerd", "sim"

    @abstractmethod
    async def version(self) -> str:
        """The runtime's version, shown in the node's containerRuntimeVersion as name://version."""

    async def status(self) -> RuntimeStatus:
        return RuntimeStatus()

    @abstractmethod
    async def update_runtime_config(self, pod_cidr: str) -> None:
        """The node's pod CIDR, for the network plugin to take pod addresses from."""

    def watch_events(self, callback: Callable[[str], None]) -> bool:
        """Call callback(pod_uid), instead of any callback given before, whenever a container of that pod
        changes state on its own (CRI container events carry the sandbox's metadata). Answers whether it
        will: if not, the kubelet only relists."""
        return False

    # sandboxes

    @abstractmethod
    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str: ...

    @abstractmethod
    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Stop the sandbox and every container left in it, and release its network."""

    @abstractmethod
    async def remove_pod_sandbox(self, sandbox_id: str) -> None: ...

    @abstractmethod
    async def list_pod_sandboxes(self, pod_uid: str | None = None) -> list[PodSandboxStatus]:
        """Every sandbox, or those of one pod (the CRI's filter on the pod uid label)."""

    # containers

    @abstractmethod
    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str: ...

    @abstractmethod
    async def start_container(self, container_id: str) -> None: ...

    @abstractmethod
    async def stop_container(self, container_id: str, timeout: float) -> None:
        """Ask the container to stop and wait up to timeout seconds before killing it."""

    @abstractmethod
    async def remove_container(self, container_id: str) -> None: ...

    @abstractmethod
    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]: ...

    # images

    @abstractmethod
    async def pull_image(self, image: str) -> str:
        """Pull an image; answers its digested reference (the container status' imageID). A failed pull
        raises RuntimeFailure, whose message the container shows with ErrImagePull."""

    @abstractmethod
    async def list_images(self) -> list[Image]: ...

    async def image_status(self, image: str) -> Image | None:
        """The image if the node has it (the CRI's ImageStatus), by any of its names; a runtime that can
        ask for one image overrides this."""
        wanted = {image, normalize_image(image)}
        return next((i for i in await self.list_images() if wanted & {i.id, *i.repo_tags, *i.repo_digests}), None)

    # probes, and the streaming calls behind kubectl exec/logs/port-forward

    @abstractmethod
    async def probe(self, kind: str, probe: dict, pod: dict, container: str, container_id: str) -> bool:
        """Run one readiness, liveness or startup probe of a container: True if it succeeded."""

    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> tuple[int, bytes, bytes]:
        raise NotImplementedError(f"{self.name} runtime does not run commands in containers")

    def container_logs(self, container_id: str, *, follow: bool = False, tail: int | None = None
                       ) -> AsyncIterator[bytes]:
        raise NotImplementedError(f"{self.name} runtime keeps no container logs")

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[object, object]:
        raise NotImplementedError(f"{self.name} runtime does not forward ports")
