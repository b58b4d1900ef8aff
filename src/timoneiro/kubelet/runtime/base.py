"""The container runtime as the kubelet sees it: the calls of the CRI's RuntimeService and ImageService.

The kubelet never knows which runtime it drives. Sandboxes and containers are named by the ids the
runtime gives them; the kubelet finds its pods again through the labels it set on them (a sandbox's pod
uid, a container's name) and counts restarts in the container's attempt number, as kuberuntime does.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from timoneiro.kubelet.runtime.image_names import normalize_image
from timoneiro.kubelet.stats.host import host_usage
from timoneiro.kubelet.stats.usage import PodStats, Usage

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
class Mount:
    """A host path bind-mounted into a container (a volume, or a file of the kubelet's)."""

    container_path: str
    host_path: str
    read_only: bool = False


@dataclass
class SecurityContext:
    """A container's Linux security settings, as the CRI's LinuxContainerSecurityContext has them: the
    pod's and the container's merged, the user settled (None: the image's)."""

    run_as_user: int | None = None
    run_as_username: str = ""  # the image's user by name, when it has no uid
    run_as_group: int | None = None
    supplemental_groups: list[int] = field(default_factory=list)
    read_only_root_filesystem: bool = False
    privileged: bool = False
    no_new_privileges: bool = False
    add_capabilities: list[str] = field(default_factory=list)
    drop_capabilities: list[str] = field(default_factory=list)


@dataclass
class AuthConfig:
    """Credentials to pull an image with, as the CRI's AuthConfig (from an imagePullSecret)."""

    username: str = ""
    password: str = ""
    auth: str = ""
    server_address: str = ""
    identity_token: str = ""
    registry_token: str = ""


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
    privileged: bool = False  # a container of the pod is privileged: so must its sandbox be


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
    mounts: list[Mount] = field(default_factory=list)
    security: SecurityContext | None = None


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
    mounts: list[Mount] = field(default_factory=list)  # where the termination message file is, among others


@dataclass
class Image:
    id: str
    repo_tags: list[str]
    repo_digests: list[str]
    size: int
    uid: int | None = None  # the user its config runs as, as a number ...
    username: str = ""  # ... or a name (neither: root)


@dataclass
class RuntimeStatus:
    """What the node's Ready condition reports on: whether containers can run, and have a network."""

    runtime_ready: bool = True
    network_ready: bool = True
    message: str = ""


@dataclass(frozen=True)
class StreamOptions:
    """Which standard streams an exec or attach session carries, and whether on a terminal (the CRI's
    ExecRequest and AttachRequest flags; a terminal merges stderr into stdout)."""

    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    tty: bool = False


class RuntimeFailure(Exception):
    """A runtime call failed; reason is the waiting reason the container shows (CreateContainerError...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Runtime(ABC):
    """One node's container runtime. Calls are made from the kubelet's event loop."""

    name = "runtime"  # the scheme of container ids: "containerd", "sim"
    # where the kubelet keeps its pods' directories (their volumes: DIR/UID/volumes/...) for containers to
    # mount; None for a runtime whose containers have no filesystem (the simulated one)
    pods_dir: Path | None = None

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

    async def list_all(self) -> tuple[list[PodSandboxStatus], list[ContainerStatus]]:
        """Every sandbox and container, as cheaply as the runtime can tell them, for the PLEG's relist (as
        upstream's GetPods, from the CRI's two lists alone): ids, pods, attempts, states and creation times
        are exact; what only a status tells (a sandbox's IP, a container's exit code and times) may be
        missing."""
        return await self.list_pod_sandboxes(), await self.list_containers()

    # images

    @abstractmethod
    async def pull_image(self, image: str, credentials: list[AuthConfig] | None = None) -> str:
        """Pull an image; answers its digested reference (the container status' imageID). With credentials
        (the pod's pull secrets' for the image's registry) each is tried in turn, as kuberuntime does, else
        none. A failed pull raises RuntimeFailure, whose message the container shows with ErrImagePull."""

    @abstractmethod
    async def list_images(self) -> list[Image]: ...

    async def image_status(self, image: str) -> Image | None:
        """The image if the node has it (the CRI's ImageStatus), by any of its names; a runtime that can
        ask for one image overrides this."""
        wanted = {image, normalize_image(image)}
        return next((i for i in await self.list_images() if wanted & {i.id, *i.repo_tags, *i.repo_digests}), None)

    # stats, behind the kubelet's /stats/summary and /metrics/resource

    async def pod_stats(self) -> list[PodStats]:
        """The usage of every ready sandbox and its running containers (the CRI's ListPodSandboxStats)."""
        raise NotImplementedError(f"{self.name} runtime reports no stats")

    async def node_usage(self) -> Usage:
        """The node's usage: the host's, since a node's kubelet runs on it (a local cluster's nodes share one
        host, so each reports the same machine)."""
        return await asyncio.to_thread(host_usage)

    # probes, and the streaming calls behind kubectl exec/logs/port-forward

    @abstractmethod
    async def probe(self, kind: str, probe: dict, pod: dict, container: str, container_id: str
                    ) -> tuple[bool, str]:
        """Run one readiness, liveness or startup probe of a container: whether it succeeded, and its output
        (what an exec probe printed, or why it failed), which the kubelet's Unhealthy event shows."""

    async def run_hook(self, hook: dict, pod: dict, container: str, container_id: str) -> str | None:
        """Run a postStart or preStop handler (exec, httpGet or sleep) of a running container: None if it
        succeeded, else why not, as upstream's handler runner says it. A runtime whose containers run no
        process has nothing to run a hook in."""
        return None

    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> tuple[int, bytes, bytes]:
        raise NotImplementedError(f"{self.name} runtime does not run commands in containers")

    def container_logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                       since: float | None = None, timestamps: bool = False) -> AsyncIterator[bytes]:
        """What the container wrote: its last `tail` lines, only those written at or after `since`
        (seconds since the epoch), each after its RFC 3339 time if `timestamps`; on while it runs if
        `follow`."""
        raise NotImplementedError(f"{self.name} runtime keeps no container logs")

    async def exec_url(self, container_id: str, command: list[str], streams: StreamOptions) -> str:
        """Where the runtime's streaming server runs `command` in the container (the CRI's Exec)."""
        raise NotImplementedError(f"{self.name} runtime does not run commands in containers")

    async def attach_url(self, container_id: str, streams: StreamOptions) -> str:
        """Where the runtime's streaming server attaches to the container's own process (the CRI's Attach)."""
        raise NotImplementedError(f"{self.name} runtime has no container processes to attach to")

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[object, object]:
        raise NotImplementedError(f"{self.name} runtime does not forward ports")
