"""A runtime with no processes, like KWOK's: containers are records that run, exit and stop on cue.

Pods steer it with annotations, each either for the whole pod or for one container (`NAME.CONTAINER`
wins over `NAME`; pod-wide ones do not apply to init containers, which otherwise exit 0 at once):

  sim.timoneiro.io/exit-code: "1"      the containers exit with this code (at once, unless run-seconds)
  sim.timoneiro.io/run-seconds: "2"    the containers exit after running this long (code 0 unless exit-code)
  sim.timoneiro.io/stop-seconds: "5"   on a stop, they take this long to go (killed, 137, at the grace period)
  sim.timoneiro.io/readiness: fail     the containers' readiness probes fail (likewise liveness, startup)
  sim.timoneiro.io/cpu-usage: "250m"   while running, each container uses this much cpu (as KWOK's
  sim.timoneiro.io/memory-usage: 64Mi  ResourceUsage does), and this much memory; both 0 by default, fixed
                                       when the pod's sandbox is made. Pods report their containers' sum,
                                       the node its pods' (kubectl top, the kubelet's stats)

Containers start start_latency seconds after they are asked to (0 by default). Images are pulled at once,
except those the registry does not have, whose pulls fail as containerd's do (the kubelet then shows
ErrImagePull and ImagePullBackOff):

  - any image on a registry host under `.invalid` (a name that never resolves, RFC 2606), such as
    `registry.invalid/app:1.0`: "... dial tcp: lookup registry.invalid: no such host";
  - the node's `missing_images` (in any spelling: `nginx:0.0` is docker.io/library/nginx:0.0):
    "... docker.io/library/nginx:0.0: not found".

Pod addresses come from the pod CIDR the kubelet passes on. State is a few dicts per node and one timer
per container due to exit, so thousands of nodes fit in one process.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from timoneiro import __version__
from timoneiro.api import quantity
from timoneiro.kubelet.runtime.base import (
    CONTAINER_TYPE_ANNOTATION,
    AuthConfig,
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    Image,
    PodSandboxConfig,
    PodSandboxStatus,
    Runtime,
    RuntimeFailure,
    RuntimeStatus,
)
from timoneiro.kubelet.runtime.image_names import normalize_image, untagged
from timoneiro.kubelet.stats.usage import ContainerStats, PodStats, Usage

PREFIX = "sim.timoneiro.io/"
KILLED = 137  # 128 + SIGKILL
# the runtime's NetworkReady condition before it has a pod CIDR, as containerd's CRI reports it
NETWORK_NOT_READY = ("NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: "
                     "cni plugin not initialized")

_ids = itertools.count(1)
ZERO = quantity.Quantity(Fraction(0))


def setting(annotations: dict[str, str], name: str, container: str, *, pod_wide: bool = True) -> str | None:
    """A sim annotation's value for one container: its own, else the pod's (if pod_wide)."""
    value = annotations.get(f"{PREFIX}{name}.{container}")
    if value is None and pod_wide:
        value = annotations.get(PREFIX + name)
    return value


def _seconds(text: str | None) -> float | None:
    try:
        return max(0.0, float(text)) if text is not None else None
    except ValueError:
        return None


def _code(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _quantity(text: str | None) -> quantity.Quantity:
    """A usage annotation's quantity; none (or one that is not a quantity) is 0."""
    try:
        return max(quantity.parse(text), ZERO) if text is not None else ZERO
    except quantity.QuantityError:
        return ZERO


def _manifest(reference: str) -> str:
    """The registry path of a reference's manifest: registry.invalid/app:1.0 -> app/manifests/1.0."""
    path = reference.partition("/")[2]
    name, at, digest = path.partition("@")
    return f"{untagged(path)}/manifests/{digest if at else name.rpartition(':')[2]}"


def image_digest(image: str) -> str:
    return "sha256:" + hashlib.sha256(normalize_image(image).encode()).hexdigest()


@dataclass
class _Behaviour:
    """How one container acts, fixed when it is created."""

    run_seconds: float | None  # None: runs until stopped
    exit_code: int
    stop_seconds: float
    nano_cores: int = 0  # cpu used while running, in billionths of a core
    memory_bytes: int = 0

    @classmethod
    def of(cls, sandbox: PodSandboxConfig, config: ContainerConfig) -> _Behaviour:
        notes, name = sandbox.annotations, config.name
        init = config.annotations.get(CONTAINER_TYPE_ANNOTATION) == "init"
        run = _seconds(setting(notes, "run-seconds", name, pod_wide=not init))
        code = _code(setting(notes, "exit-code", name, pod_wide=not init))
        if init and run is None:
            run = 0.0
        if code is not None and run is None:
            run = 0.0
        stop = _seconds(setting(notes, "stop-seconds", name)) or 0.0
        cpu = _quantity(setting(notes, "cpu-usage", name, pod_wide=not init))
        memory = _quantity(setting(notes, "memory-usage", name, pod_wide=not init))
        return cls(run, code or 0, stop, cpu.scaled(-9), memory.int_value())


@dataclass
class _Sandbox:
    status: PodSandboxStatus
    containers: list[str] = field(default_factory=list)


class SimulatedRuntime(Runtime):
    name = "sim"

    def __init__(self, start_latency: float = 0.0, missing_images: Iterable[str] = ()) -> None:
        self.start_latency = start_latency
        self.missing_images = {normalize_image(image) for image in missing_images}
        self._sandboxes: dict[str, _Sandbox] = {}
        self._by_pod: dict[str, list[str]] = {}  # pod uid -> its sandbox ids
        self._containers: dict[str, ContainerStatus] = {}
        self._behaviour: dict[str, _Behaviour] = {}
        self._exits: dict[str, asyncio.TimerHandle] = {}
        self._images: dict[str, Image] = {}
        self._network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
        self._next_host = 0
        self._ips_in_use: set[str] = set()
        self._listener: Callable[[str], None] | None = None

    async def version(self) -> str:
        return __version__

    async def status(self) -> RuntimeStatus:
        """Its network is ready once it has a pod CIDR, as containerd's CNI is once it has its config."""
        if self._network is None:
            return RuntimeStatus(network_ready=False, message=NETWORK_NOT_READY)
        return RuntimeStatus()

    async def update_runtime_config(self, pod_cidr: str) -> None:
        network = ipaddress.ip_network(pod_cidr, strict=False)
        if network != self._network:
            self._network, self._next_host = network, 0

    def watch_events(self, callback: Callable[[str], None]) -> bool:
        self._listener = callback
        return True

    # sandboxes

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        ip = None if config.host_network else self._allocate_ip()
        sandbox_id = _new_id()
        self._sandboxes[sandbox_id] = _Sandbox(PodSandboxStatus(sandbox_id, config, True, time.time(), ip))
        self._by_pod.setdefault(config.uid, []).append(sandbox_id)
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        for container_id in sandbox.containers:
            self._finish(container_id, KILLED, "Error")
        if sandbox.status.ready:
            sandbox.status.ready = False
            self._ips_in_use.discard(sandbox.status.ip or "")

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        await self.stop_pod_sandbox(sandbox_id)
        sandbox = self._sandboxes.pop(sandbox_id, None)
        if sandbox is None:
            return
        for container_id in sandbox.containers:
            self._forget(container_id)
        siblings = self._by_pod[sandbox.status.config.uid]
        siblings.remove(sandbox_id)
        if not siblings:
            del self._by_pod[sandbox.status.config.uid]

    async def list_pod_sandboxes(self, pod_uid: str | None = None) -> list[PodSandboxStatus]:
        if pod_uid is None:
            return [s.status for s in self._sandboxes.values()]
        return [self._sandboxes[i].status for i in self._by_pod.get(pod_uid, ())]

    # containers

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None or not sandbox.status.ready:
            raise RuntimeFailure("CreateContainerError", f"sandbox {sandbox_id} is not ready")
        image = self._images.get(normalize_image(config.image))
        if image is None:
            raise RuntimeFailure("CreateContainerError", f"image {config.image} is not present")
        container_id = _new_id()
        self._containers[container_id] = ContainerStatus(
            container_id, sandbox_id, config.name, config.attempt, ContainerState.CREATED,
            image.repo_tags[0], image.repo_digests[0], time.time(), labels=config.labels,
            annotations=config.annotations)
        self._behaviour[container_id] = _Behaviour.of(sandbox.status.config, config)
        sandbox.containers.append(container_id)
        return container_id

    async def start_container(self, container_id: str) -> None:
        container = self._container(container_id)
        if container.state is not ContainerState.CREATED:
            raise RuntimeFailure("RunContainerError", f"container {container_id} is {container.state}")
        if self.start_latency:
            await asyncio.sleep(self.start_latency)
        container.state, container.started_at = ContainerState.RUNNING, time.time()
        behaviour = self._behaviour[container_id]
        if behaviour.run_seconds is not None:
            self._exits[container_id] = asyncio.get_running_loop().call_later(
                behaviour.run_seconds, self._exited, container_id)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        container = self._container(container_id)
        if container.state is not ContainerState.RUNNING:
            if container.state is ContainerState.CREATED:
                self._finish(container_id, 0, "Completed")
            return
        wanted = self._behaviour[container_id].stop_seconds
        if min(wanted, timeout) > 0:
            await asyncio.sleep(min(wanted, timeout))
        if wanted <= timeout:
            self._finish(container_id, 0, "Completed")
        else:
            self._finish(container_id, KILLED, "Error")

    async def remove_container(self, container_id: str) -> None:
        container = self._containers.get(container_id)
        if container is None:
            return
        sandbox = self._sandboxes.get(container.sandbox_id)
        if sandbox is not None:
            sandbox.containers.remove(container_id)
        self._forget(container_id)

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        if sandbox_id is None:
            return list(self._containers.values())
        sandbox = self._sandboxes.get(sandbox_id)
        return [self._containers[c] for c in sandbox.containers] if sandbox else []

    # stats

    async def pod_stats(self) -> list[PodStats]:
        """Each ready sandbox's running containers, using what their annotations say; cpu counted over the
        time each has run (up to now in whole milliseconds, the precision of the times metrics carry)."""
        now = round(time.time(), 3)
        pods = []
        for sandbox_id, sandbox in self._sandboxes.items():
            if not sandbox.status.ready:
                continue
            containers = [self._container_stats(self._containers[c], now) for c in sandbox.containers
                          if self._containers[c].state == ContainerState.RUNNING]
            config = sandbox.status.config
            pods.append(PodStats(sandbox_id, config.name, config.namespace, config.uid, sandbox.status.created_at,
                                 _sum(now, (c.usage for c in containers)), containers))
        return pods

    async def node_usage(self) -> Usage:
        """A simulated node uses what its pods do, and nothing of its own."""
        return _sum(time.time(), (pod.usage for pod in await self.pod_stats()))

    def _container_stats(self, container: ContainerStatus, now: float) -> ContainerStats:
        behaviour = self._behaviour[container.id]
        started = container.started_at or now
        cpu = int(behaviour.nano_cores * max(0.0, now - started))
        memory = behaviour.memory_bytes
        return ContainerStats(container.name, container.id, container.started_at,
                              Usage(now, cpu, memory, memory, memory))

    # images

    async def pull_image(self, image: str, credentials: list[AuthConfig] | None = None) -> str:
        reference = normalize_image(image)
        failure = self._pull_failure(reference)
        if failure:
            raise RuntimeFailure("ErrImagePull", failure)
        known = self._images.get(reference)
        if known is None:
            digest = image_digest(image)
            size = 5_000_000 + int(digest[7:15], 16) % 200_000_000
            known = self._images[reference] = Image(digest, [reference], [f"{untagged(reference)}@{digest}"],
                                                    size)
        return known.repo_digests[0]

    async def list_images(self) -> list[Image]:
        return list(self._images.values())

    async def image_status(self, image: str) -> Image | None:
        return self._images.get(normalize_image(image))

    def _pull_failure(self, reference: str) -> str | None:
        """containerd's error pulling this image (a full reference) if the registry would not give it."""
        host = reference.partition("/")[0]
        if host.partition(":")[0].endswith(".invalid"):
            code, cause = "Unknown", (f'failed to do request: Head "https://{host}/v2/{_manifest(reference)}": '
                                      f"dial tcp: lookup {host.partition(':')[0]}: no such host")
        elif reference in self.missing_images:
            code, cause = "NotFound", f"{reference}: not found"
        else:
            return None
        return (f'rpc error: code = {code} desc = failed to pull and unpack image "{reference}": '
                f'failed to resolve reference "{reference}": {cause}')

    async def probe(self, kind: str, probe: dict, pod: dict, container: str, container_id: str
                    ) -> tuple[bool, str]:
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        return setting(annotations, kind, container) != "fail", ""

    async def container_logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                             since: float | None = None, timestamps: bool = False) -> AsyncIterator[bytes]:
        """A simulated container writes nothing: its log is empty, as a KWOK pod's is (exec and attach stay
        refused: there is no process to run a command beside or to attach to)."""
        self._container(container_id)  # one that does not exist says so
        for line in ():
            yield line

    # the records

    def _container(self, container_id: str) -> ContainerStatus:
        container = self._containers.get(container_id)
        if container is None:
            raise RuntimeFailure("ContainerNotFound", f"no container {container_id}")
        return container

    def _exited(self, container_id: str) -> None:
        self._exits.pop(container_id, None)
        self._finish(container_id, self._behaviour[container_id].exit_code, None)
        if self._listener is not None:
            self._listener(self._sandboxes[self._containers[container_id].sandbox_id].status.config.uid)

    def _finish(self, container_id: str, code: int, reason: str | None) -> None:
        container = self._containers[container_id]
        if container.state is ContainerState.EXITED:
            return
        timer = self._exits.pop(container_id, None)
        if timer is not None:
            timer.cancel()
        now = time.time()
        container.state, container.exit_code, container.finished_at = ContainerState.EXITED, code, now
        container.started_at = container.started_at or now
        container.reason = reason or ("Completed" if code == 0 else "Error")

    def _forget(self, container_id: str) -> None:
        timer = self._exits.pop(container_id, None)
        if timer is not None:
            timer.cancel()
        self._containers.pop(container_id, None)
        self._behaviour.pop(container_id, None)

    def _allocate_ip(self) -> str:
        """The next free host address of the pod CIDR, skipping the gateway (the first one)."""
        if self._network is None:
            raise RuntimeFailure("CreatePodSandboxError", "the network plugin has no pod CIDR yet")
        hosts = self._network.num_addresses - 3  # less the network, the gateway and the broadcast address
        for _ in range(max(hosts, 0)):
            self._next_host = self._next_host % hosts + 1
            ip = str(self._network.network_address + 1 + self._next_host)
            if ip not in self._ips_in_use:
                self._ips_in_use.add(ip)
                return ip
        raise RuntimeFailure("CreatePodSandboxError", f"no free address left in {self._network}")


def _sum(now: float, usages: Iterable[Usage]) -> Usage:
    cpu = working_set = usage = rss = 0
    for one in usages:
        cpu += one.cpu_core_nanoseconds
        working_set += one.memory_working_set_bytes
        usage += one.memory_usage_bytes
        rss += one.memory_rss_bytes
    return Usage(now, cpu, working_set, usage, rss)


def _new_id() -> str:
    """A 64-hex id like containerd's, unique in the process."""
    return hashlib.sha256(f"{time.time_ns()}-{next(_ids)}".encode()).hexdigest()
