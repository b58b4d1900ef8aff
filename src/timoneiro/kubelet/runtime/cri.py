"""The kubelet's runtime over a CRI runtime (containerd) on its unix socket: each call of the Runtime
interface is one or a few CRI calls, as kuberuntime makes them.

Pods keep their logs where upstream's kubelet keeps them, under log_dir/NAMESPACE_NAME_UID/CONTAINER/
ATTEMPT.log, written by the runtime in the CRI log format. Probes run from the node: exec probes through
ExecSync, httpGet and tcpSocket against the pod's IP. Port-forwarding connects to localhost:PORT inside
the sandbox's network namespace, as containerd's own port-forward does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
from google.protobuf import json_format

from timoneiro.kubelet import handlers
from timoneiro.kubelet.containers import pod_full_name
from timoneiro.kubelet.cri import api_pb2 as api
from timoneiro.kubelet.cri import container_spec, logs, netns, stats
from timoneiro.kubelet.cri.client import CriClient
from timoneiro.kubelet.runtime.base import (
    POD_NAME_LABEL,
    POD_NAMESPACE_LABEL,
    POD_UID_LABEL,
    AuthConfig,
    ContainerConfig,
    ContainerResources,
    ContainerState,
    ContainerStatus,
    Image,
    Mount,
    PodSandboxConfig,
    PodSandboxStatus,
    PodStats,
    Runtime,
    RuntimeFailure,
    RuntimeStatus,
    StreamOptions,
)
from timoneiro.kubelet.runtime.image_names import repository

log = logging.getLogger("timoneiro.kubelet.runtime.cri")
HOOK_HTTP_TIMEOUT = 10.0  # seconds an httpGet hook waits for an answer before it failed
_STATES = {api.CONTAINER_CREATED: ContainerState.CREATED, api.CONTAINER_RUNNING: ContainerState.RUNNING,
           api.CONTAINER_EXITED: ContainerState.EXITED, api.CONTAINER_UNKNOWN: ContainerState.UNKNOWN}


def rpc_error(e: grpc.aio.AioRpcError) -> str:
    """The error as Go's gRPC prints it, which is what upstream's kubelet shows: rpc error: code = NotFound
    desc = ..."""
    code = "".join(word.title() for word in e.code().name.split("_")).replace("Cancelled", "Canceled")
    return f"rpc error: code = {code} desc = {e.details()}"


@contextlib.contextmanager
def _failing_as(reason: str, *, full: bool = False) -> Iterator[None]:
    """CRI errors become RuntimeFailure(reason): the status' message, or (full) the whole error text."""
    try:
        yield
    except grpc.aio.AioRpcError as e:
        raise RuntimeFailure(reason, rpc_error(e) if full else (e.details() or rpc_error(e))) from e


@contextlib.contextmanager
def _unless_gone() -> Iterator[None]:
    """Stopping or removing what is already gone succeeds, as in kuberuntime."""
    try:
        yield
    except grpc.aio.AioRpcError as e:
        if e.code() != grpc.StatusCode.NOT_FOUND:
            raise RuntimeFailure("RuntimeError", rpc_error(e)) from e


def _seconds(nanoseconds: int) -> float | None:
    return nanoseconds / 1e9 if nanoseconds > 0 else None


class CriRuntime(Runtime):
    name = "containerd"  # replaced by the runtime's own name once version() asked it

    def __init__(self, socket_path: str, *, log_dir: Path, cgroup_parent: str = "") -> None:
        self.socket_path = socket_path
        self.log_dir = Path(log_dir)
        self.pods_dir = self.log_dir  # pods' volumes in UID/, next to their logs in NAMESPACE_NAME_UID/
        self.cgroup_parent = "/" + cgroup_parent.strip("/") if cgroup_parent.strip("/") else ""
        self._client: CriClient | None = None
        # the config each sandbox this runtime ran was made with, which its containers are created with
        # (else read back from the runtime's verbose status, as after a restart)
        self._sandbox_configs: dict[str, api.PodSandboxConfig] = {}

    @property
    def client(self) -> CriClient:
        """The channel, made on first use inside the event loop that uses it."""
        if self._client is None:
            self._client = CriClient(self.socket_path)
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # the runtime

    async def version(self) -> str:
        with _failing_as("RuntimeError", full=True):
            response = await self.client.version()
        self.name = response.runtime_name or self.name
        return response.runtime_version

    async def status(self) -> RuntimeStatus:
        try:
            response = await self.client.status()
        except grpc.aio.AioRpcError as e:
            return RuntimeStatus(False, False, rpc_error(e))
        conditions = {c.type: c for c in response.status.conditions}
        status = RuntimeStatus()
        for kind in ("RuntimeReady", "NetworkReady"):  # a condition not reported counts as false
            condition = conditions.get(kind)
            if condition is not None and condition.status:
                continue
            status.message = status.message or ("<nil>" if condition is None else
                                                 f"{kind}=false reason:{condition.reason} message:{condition.message}")
            if kind == "RuntimeReady":
                status.runtime_ready = False
            else:
                status.network_ready = False
        return status

    async def update_runtime_config(self, pod_cidr: str) -> None:
        with _failing_as("RuntimeError", full=True):
            await self.client.update_runtime_config(pod_cidr)

    # sandboxes

    def _pod_log_dir(self, namespace: str, name: str, uid: str) -> Path:
        return self.log_dir / f"{namespace}_{name}_{uid}"

    def _sandbox_config(self, config: PodSandboxConfig) -> api.PodSandboxConfig:
        labels = {**config.labels, POD_NAME_LABEL: config.name, POD_NAMESPACE_LABEL: config.namespace,
                  POD_UID_LABEL: config.uid}
        namespaces = api.NamespaceOption(network=api.NODE if config.host_network else api.POD,
                                         pid=api.CONTAINER, ipc=api.POD)
        return api.PodSandboxConfig(
            metadata=api.PodSandboxMetadata(name=config.name, uid=config.uid, namespace=config.namespace,
                                            attempt=config.attempt),
            hostname="" if config.host_network else config.hostname,
            log_directory=str(self._pod_log_dir(config.namespace, config.name, config.uid)),
            labels=labels, annotations=config.annotations,
            port_mappings=[api.PortMapping(protocol=api.Protocol.Value(p.protocol), container_port=p.container_port,
                                           host_port=p.host_port, host_ip=p.host_ip) for p in config.port_mappings],
            linux=api.LinuxPodSandboxConfig(
                cgroup_parent=self.cgroup_parent,
                security_context=api.LinuxSandboxSecurityContext(namespace_options=namespaces,
                                                                 privileged=config.privileged)))

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        request = self._sandbox_config(config)
        with _failing_as("CreatePodSandboxError", full=True):
            sandbox_id = await self.client.run_pod_sandbox(request)
        self._sandbox_configs[sandbox_id] = request
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        with _unless_gone():
            await self.client.stop_pod_sandbox(sandbox_id)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self._sandbox_configs.pop(sandbox_id, None)
        sandbox = await self._sandbox_status(sandbox_id)
        if sandbox is None:
            return
        with _unless_gone():
            await self.client.remove_pod_sandbox(sandbox_id)
        config = sandbox.config
        with _failing_as("RuntimeError", full=True):
            left = await self.client.list_pod_sandbox(_pod_filter(config.uid))
        if not left:  # the pod's last: its logs go with it
            shutil.rmtree(self._pod_log_dir(config.namespace, config.name, config.uid), ignore_errors=True)

    async def list_pod_sandboxes(self, pod_uid: str | None = None) -> list[PodSandboxStatus]:
        with _failing_as("RuntimeError", full=True):
            sandboxes = await self.client.list_pod_sandbox(_pod_filter(pod_uid) if pod_uid else None)
        statuses = await asyncio.gather(*(self._sandbox_status(s.id) for s in sandboxes))
        return [s for s in statuses if s is not None]

    async def list_all(self) -> tuple[list[PodSandboxStatus], list[ContainerStatus]]:
        """ListPodSandbox and ListContainers alone, no status of each."""
        with _failing_as("RuntimeError", full=True):
            sandboxes, containers = await asyncio.gather(self.client.list_pod_sandbox(),
                                                         self.client.list_containers())
        return [_listed_sandbox(s) for s in sandboxes], [_listed_container(c) for c in containers]

    async def _sandbox_status(self, sandbox_id: str) -> PodSandboxStatus | None:
        """The sandbox, or None if it is gone."""
        try:
            response = await self.client.pod_sandbox_status(sandbox_id)
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise RuntimeFailure("RuntimeError", rpc_error(e)) from e
        status, meta = response.status, response.status.metadata
        host_network = status.linux.namespaces.options.network == api.NODE
        config = PodSandboxConfig(meta.name, meta.namespace, meta.uid, meta.attempt, host_network=host_network,
                                  labels=dict(status.labels), annotations=dict(status.annotations))
        return PodSandboxStatus(status.id, config, status.state == api.SANDBOX_READY, status.created_at / 1e9,
                                status.network.ip or None)

    # containers

    async def _sandbox_config_of(self, sandbox_id: str) -> api.PodSandboxConfig:
        """The config the sandbox was made with, as this runtime sent it or else as containerd keeps it (its
        verbose status): containers are created with it (the hostname in their HOSTNAME, their log
        directory)."""
        kept = self._sandbox_configs.get(sandbox_id)
        if kept is not None:
            return kept
        try:
            response = await self.client.pod_sandbox_status(sandbox_id, verbose=True)
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                raise RuntimeFailure("CreateContainerError", f"sandbox {sandbox_id} is gone") from e
            raise RuntimeFailure("CreateContainerError", rpc_error(e)) from e
        kept = json.loads(response.info.get("info") or "{}").get("config") or {}
        return json_format.ParseDict(kept, api.PodSandboxConfig(), ignore_unknown_fields=True)

    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        sandbox_config = await self._sandbox_config_of(sandbox_id)
        request = api.ContainerConfig(
            metadata=api.ContainerMetadata(name=config.name, attempt=config.attempt),
            image=api.ImageSpec(image=config.image), command=config.command, args=config.args,
            working_dir=config.working_dir, envs=[api.KeyValue(key=k, value=v) for k, v in config.envs],
            labels=config.labels, annotations=config.annotations, log_path=f"{config.name}/{config.attempt}.log",
            mounts=container_spec.mounts(config.mounts),
            linux=api.LinuxContainerConfig(resources=_resources(config.resources),
                                           security_context=container_spec.security_context(config.security)))
        with _failing_as("CreateContainerError"):
            return await self.client.create_container(sandbox_id, request, sandbox_config)

    async def start_container(self, container_id: str) -> None:
        with _failing_as("RunContainerError"):
            await self.client.start_container(container_id)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        with _unless_gone():
            await self.client.stop_container(container_id, math.ceil(timeout))

    async def remove_container(self, container_id: str) -> None:
        status = await self._container_status(container_id)
        if status is None:
            return
        with _unless_gone():
            await self.client.remove_container(container_id)
        if status.log_path:  # the kubelet, not the runtime, removes a container's log
            Path(status.log_path).unlink(missing_ok=True)

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        selector = api.ContainerFilter(pod_sandbox_id=sandbox_id) if sandbox_id else None
        with _failing_as("RuntimeError", full=True):
            containers = await self.client.list_containers(selector)
        statuses = await asyncio.gather(*(self._container_status(c.id) for c in containers))
        return [_container(s, c.pod_sandbox_id) for s, c in zip(statuses, containers, strict=True) if s is not None]

    async def _container_status(self, container_id: str) -> api.ContainerStatus | None:
        try:
            return (await self.client.container_status(container_id)).status
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise RuntimeFailure("RuntimeError", rpc_error(e)) from e

    async def _running(self, container_id: str) -> bool:
        status = await self._container_status(container_id)
        return status is not None and status.state == api.CONTAINER_RUNNING

    # stats

    async def pod_stats(self) -> list[PodStats]:
        with _failing_as("RuntimeError", full=True):
            return await stats.pod_stats(self.client)

    # images

    async def pull_image(self, image: str, credentials: list[AuthConfig] | None = None) -> str:
        image_id = await self._pull(image, credentials or [])
        with _failing_as("ErrImagePull", full=True):
            pulled = await self.client.image_status(image)
        if pulled is None or not pulled.repo_digests:
            return image_id
        name = repository(image)
        return next((d for d in pulled.repo_digests if d.startswith(name + "@")), pulled.repo_digests[0])

    async def _pull(self, image: str, credentials: list[AuthConfig]) -> str:
        """Pull without credentials if there are none, else with each in turn until one works; the errors of
        all joined as upstream's aggregate error prints them ([a, b]) if none does."""
        errors: list[str] = []
        for credential in credentials or [None]:
            auth = api.AuthConfig(**dataclasses.asdict(credential)) if credential is not None else None
            try:
                return await self.client.pull_image(image, auth)
            except grpc.aio.AioRpcError as e:
                errors.append(rpc_error(e))
        unique = list(dict.fromkeys(errors))
        raise RuntimeFailure("ErrImagePull", unique[0] if len(unique) == 1 else f"[{', '.join(unique)}]")

    async def list_images(self) -> list[Image]:
        with _failing_as("RuntimeError", full=True):
            images = await self.client.list_images()
        return [_image(i) for i in images]

    async def image_status(self, image: str) -> Image | None:
        with _failing_as("RuntimeError", full=True):
            found = await self.client.image_status(image)
        return _image(found) if found is not None else None

    # probes, commands, logs, ports

    async def probe(self, kind: str, probe: dict, pod: dict, container: str, container_id: str
                    ) -> tuple[bool, str]:
        timeout = float(probe.get("timeoutSeconds") or 1)
        try:
            if "exec" in probe:
                return await self._exec_probe(container_id, list((probe["exec"] or {}).get("command") or ()),
                                              timeout)
            if "httpGet" in probe or "tcpSocket" in probe:
                action = probe.get("httpGet") or probe.get("tcpSocket") or {}
                host = action.get("host") or await self._pod_ip(pod, container_id)
                port = handlers.resolve_port(action.get("port"), pod, container)
                if "tcpSocket" in probe:
                    return await handlers.tcp_connect(host, port, timeout)
                return await handlers.http_get(action, host, port, timeout)
        except (RuntimeFailure, handlers.HandlerError) as e:
            return False, str(e)
        log.warning("%s probe of container %s: only exec, httpGet and tcpSocket probes run", kind, container)
        return False, "unknown probe action"

    async def _exec_probe(self, container_id: str, command: list[str], timeout: float) -> tuple[bool, str]:
        """The command's exit code decides; its output (stdout, then stderr) is the probe's."""
        try:
            code, stdout, stderr = await self.exec_sync(container_id, command, timeout)
        except RuntimeFailure as e:
            if "DeadlineExceeded" not in e.message:
                raise
            return False, f"command {json.dumps(' '.join(command))} timed out"
        return code == 0, (stdout + stderr).decode(errors="replace")

    async def run_hook(self, hook: dict, pod: dict, container: str, container_id: str) -> str | None:
        where = f'for Container "{container}" in Pod "{pod_full_name(pod)}"'
        if "exec" in hook:
            command = list((hook["exec"] or {}).get("command") or ())
            try:
                code, stdout, stderr = await self.exec_sync(container_id, command, 0)
            except RuntimeFailure as e:
                code, stdout, stderr, error = -1, b"", b"", e.message
            else:
                error = f"command '{' '.join(command)}' exited with {code}: {stderr.decode(errors='replace')}"
            if code == 0:
                return None
            output = json.dumps((stdout + stderr).decode(errors="replace"))
            return (f"Exec lifecycle hook ([{' '.join(command)}]) {where} failed - error: {error}, "
                    f"message: {output}")
        if "httpGet" in hook:
            action = hook["httpGet"] or {}
            try:
                host = action.get("host") or await self._pod_ip(pod, container_id)
                port = handlers.resolve_port(action.get("port"), pod, container)
                ok, error = await handlers.http_get(action, host, port, HOOK_HTTP_TIMEOUT, probe=False)
            except (RuntimeFailure, handlers.HandlerError) as e:
                ok, error = False, str(e)
            return None if ok else f"HTTP lifecycle hook ({action.get('path', '')}) {where} failed - error: {error}"
        if "sleep" in hook:
            await asyncio.sleep(float((hook["sleep"] or {}).get("seconds") or 0))
            return None
        return f"Invalid handler: {json.dumps(hook)}"

    async def _pod_ip(self, pod: dict, container_id: str) -> str:
        """The pod's IP as its status has it, else as its sandbox reports it."""
        ip = (pod.get("status") or {}).get("podIP")
        if ip:
            return ip
        containers = await self.client.list_containers(api.ContainerFilter(id=container_id))
        sandbox = await self._sandbox_status(containers[0].pod_sandbox_id) if containers else None
        if sandbox is None or sandbox.ip is None:
            raise RuntimeFailure("ProbeError", f"container {container_id} has no pod IP")
        return sandbox.ip

    async def exec_sync(self, container_id: str, command: list[str], timeout: float) -> tuple[int, bytes, bytes]:
        with _failing_as("ExecSyncError", full=True):
            response = await self.client.exec_sync(container_id, command, math.ceil(timeout))
        return response.exit_code, response.stdout, response.stderr

    async def container_logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                             since: float | None = None, timestamps: bool = False) -> AsyncIterator[bytes]:
        status = await self._container_status(container_id)
        if status is None:
            raise RuntimeFailure("ContainerNotFound", f"no container {container_id}")
        if not status.log_path or not Path(status.log_path).exists():
            return
        async for record in logs.read(Path(status.log_path), tail=tail, follow=follow,
                                      running=lambda: self._running(container_id)):
            if since is not None and record.seconds < since:
                continue
            yield record.timestamp.encode() + b" " + record.text if timestamps else record.text

    async def exec_url(self, container_id: str, command: list[str], streams: StreamOptions) -> str:
        request = api.ExecRequest(container_id=container_id, cmd=command, tty=streams.tty, stdin=streams.stdin,
                                  stdout=streams.stdout, stderr=streams.stderr)
        with _failing_as("ExecError", full=True):
            return await self.client.exec(request)

    async def attach_url(self, container_id: str, streams: StreamOptions) -> str:
        request = api.AttachRequest(container_id=container_id, tty=streams.tty, stdin=streams.stdin,
                                    stdout=streams.stdout, stderr=streams.stderr)
        with _failing_as("AttachError", full=True):
            return await self.client.attach(request)

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[object, object]:
        with _failing_as("PortForwardError", full=True):
            response = await self.client.pod_sandbox_status(sandbox_id, verbose=True)
        pid = json.loads(response.info.get("info") or "{}").get("pid")
        if not pid:
            raise RuntimeFailure("PortForwardError", f"sandbox {sandbox_id} has no running process")
        return await netns.connect(f"/proc/{pid}/ns/net", port)


def _resources(resources: ContainerResources | None) -> api.LinuxContainerResources | None:
    if resources is None:
        return None
    return api.LinuxContainerResources(cpu_shares=resources.cpu_shares, cpu_quota=resources.cpu_quota,
                                       cpu_period=resources.cpu_period,
                                       memory_limit_in_bytes=resources.memory_limit)


def _pod_filter(pod_uid: str) -> api.PodSandboxFilter:
    return api.PodSandboxFilter(label_selector={POD_UID_LABEL: pod_uid})


def _listed_sandbox(sandbox: api.PodSandbox) -> PodSandboxStatus:
    meta = sandbox.metadata
    config = PodSandboxConfig(meta.name, meta.namespace, meta.uid, meta.attempt, labels=dict(sandbox.labels),
                              annotations=dict(sandbox.annotations))
    ready = sandbox.state == api.SANDBOX_READY
    return PodSandboxStatus(sandbox.id, config, ready, sandbox.created_at / 1e9, None)


def _listed_container(container: api.Container) -> ContainerStatus:
    return ContainerStatus(container.id, container.pod_sandbox_id, container.metadata.name,
                           container.metadata.attempt, _STATES[container.state], container.image.image,
                           container.image_ref, container.created_at / 1e9, labels=dict(container.labels),
                           annotations=dict(container.annotations))


def _container(status: api.ContainerStatus, sandbox_id: str) -> ContainerStatus:
    return ContainerStatus(
        status.id, sandbox_id, status.metadata.name, status.metadata.attempt, _STATES[status.state],
        status.image.image, status.image_ref, status.created_at / 1e9, _seconds(status.started_at),
        _seconds(status.finished_at), status.exit_code, status.reason, status.message, dict(status.labels),
        dict(status.annotations), [Mount(m.container_path, m.host_path, m.readonly) for m in status.mounts])


def _image(image) -> Image:
    return Image(image.id, list(image.repo_tags), list(image.repo_digests), image.size,
                 image.uid.value if image.HasField("uid") else None, image.username)
