"""One step of a pod toward its spec through the runtime, as kuberuntime's SyncPod and KillPod take it.

A sync reads the runtime's state of the pod and acts on it: a sandbox if there is none, the next init
container (in order; a sidecar must have started before the next one), then the regular containers, each
restarted as the restart policy says, after the container's back-off (CrashLoopBackOff while it lasts).
Containers whose spec changed or whose liveness or startup probe failed are stopped and started again.
Each step is told as upstream's kubelet tells it, in Events about the container (Pulling, Pulled, Created,
Started, Killing, BackOff, Failed) or the pod (SandboxChanged, FailedCreatePodSandBox).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from timoneiro.client.events import NORMAL, WARNING, EventRecorder
from timoneiro.kubelet import events
from timoneiro.kubelet.backoff import Backoff, go_duration
from timoneiro.kubelet.container_env import ContainerEnv, linux_resources, port_mappings
from timoneiro.kubelet.containers import (
    INIT,
    REGULAR,
    SIDECAR,
    RuntimePod,
    pod_full_name,
    should_restart,
    spec_containers,
    spec_hash,
)
from timoneiro.kubelet.image_manager import ImageManager
from timoneiro.kubelet.probes import ProbeManager
from timoneiro.kubelet.runtime.base import (
    CONTAINER_NAME_LABEL,
    CONTAINER_TYPE_ANNOTATION,
    POD_NAME_LABEL,
    POD_NAMESPACE_LABEL,
    POD_UID_LABEL,
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    PodSandboxConfig,
    Runtime,
    RuntimeFailure,
)

log = logging.getLogger("timoneiro.kubelet.pod_sync")
HASH_ANNOTATION = "io.kubernetes.container.hash"
RESTART_COUNT_ANNOTATION = "io.kubernetes.container.restartCount"


@dataclass
class PodState:
    """What the kubelet remembers of a pod between syncs."""

    admitted: dict | None = None  # the pod as admitted: what it takes counts until it finishes
    finished: bool = False  # its containers are stopped for good (done, rejected or deleted)
    reasons: dict[str, tuple[str, str]] = field(default_factory=dict)  # why a container waits
    restart: set[str] = field(default_factory=set)  # killed by a probe: restart whatever the exit code
    evicted: tuple[str, str] | None = None  # why the kubelet failed the pod (DeadlineExceeded...): reason, message


@dataclass
class SyncResult:
    resync: float | None = None  # seconds until a back-off ends
    done: bool = False  # no container will run again: the pod is finished
    again: bool = False  # an init container or sidecar started: the next one may be due at once


def grace_period(pod: dict) -> float:
    """How long containers get to stop: the deletion's grace period, else the spec's."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    grace = meta.get("deletionGracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", 30)
    return float(grace or 0)


class PodSyncer:
    def __init__(self, runtime: Runtime, backoff: Backoff, probes: ProbeManager, images: ImageManager,
                 recorder: EventRecorder, env: ContainerEnv) -> None:
        self.runtime = runtime
        self.env = env
        self.backoff = backoff
        self.probes = probes
        self.images = images
        self.recorder = recorder

    async def inspect(self, uid: str) -> RuntimePod:
        """The runtime's state of one pod, newest first."""
        sandboxes = sorted(await self.runtime.list_pod_sandboxes(uid), key=lambda s: s.created_at, reverse=True)
        containers: list[ContainerStatus] = []
        for sandbox in sandboxes:
            containers += await self.runtime.list_containers(sandbox.id)
        containers.sort(key=lambda c: (c.attempt, c.created_at), reverse=True)
        return RuntimePod(uid, sandboxes, containers)

    async def sync(self, pod: dict, state: PodState, runtime_pod: RuntimePod) -> tuple[RuntimePod, SyncResult]:
        """Act on the runtime's state of the pod; answers the state after."""
        uid = pod["metadata"]["uid"]
        if runtime_pod.sandbox is None:
            if runtime_pod.sandboxes:  # the sandbox died: what ran in it is over
                self.recorder.record(events.pod_ref(pod), NORMAL, events.SANDBOX_CHANGED,
                                     "Pod sandbox changed, it will be killed and re-created.")
                await self.kill(runtime_pod, 0, pod)
                if (pod.get("spec") or {}).get("restartPolicy") == "Never" and runtime_pod.containers:
                    return await self.inspect(uid), SyncResult(done=True)
            try:
                await self.runtime.run_pod_sandbox(_sandbox_config(pod, len(runtime_pod.sandboxes)))
            except RuntimeFailure as e:  # the pod stays ContainerCreating; try again after a back-off
                log.warning("creating the sandbox of pod %s failed: %s", pod_full_name(pod), e.message)
                self.recorder.record(events.pod_ref(pod), WARNING, events.FAILED_SANDBOX,
                                     f"Failed to create pod sandbox: {e.message}")
                self.backoff.next(uid, time.time())
                return runtime_pod, SyncResult(resync=self.backoff.get(uid))
            runtime_pod = await self.inspect(uid)
        if await self._replace_failed(pod, runtime_pod, state):
            runtime_pod = await self.inspect(uid)
        for _ in range(len(spec_containers(pod)) + 1):
            result = await self._start_containers(pod, runtime_pod, state)
            runtime_pod = await self.inspect(uid)
            if not result.again:
                break
        result.done = _finished(pod, runtime_pod)
        return runtime_pod, result

    async def kill(self, runtime_pod: RuntimePod, grace: float, pod: dict | None = None) -> None:
        """Stop every container, giving each up to grace seconds, then the sandboxes. With the pod, each
        stop is told in a Killing event."""
        running = runtime_pod.running()
        if pod is not None:
            for container in running:
                self._killing(pod, container.name, f"Stopping container {container.name}")
        await asyncio.gather(*(self.runtime.stop_container(c.id, grace) for c in running))
        for sandbox in runtime_pod.sandboxes:
            if sandbox.ready:
                await self.runtime.stop_pod_sandbox(sandbox.id)

    async def remove(self, uid: str) -> None:
        """The pod is gone from the API: stop at once and remove what the runtime holds of it."""
        runtime_pod = await self.inspect(uid)
        await self.kill(runtime_pod, 0)
        for sandbox in runtime_pod.sandboxes:
            await self.runtime.remove_pod_sandbox(sandbox.id)

    # containers

    async def _replace_failed(self, pod: dict, runtime_pod: RuntimePod, state: PodState) -> bool:
        """Stop running containers whose spec changed or whose liveness/startup probe failed."""
        stopping = []
        for spec, kind in spec_containers(pod):
            container = runtime_pod.latest(spec["name"])
            if container is None or container.state is not ContainerState.RUNNING or kind == INIT:
                continue
            failed = self.probes.failed(container.id)
            if failed or container.annotations.get(HASH_ANNOTATION) != spec_hash(spec):
                state.restart.add(spec["name"])
                why = f"failed {failed} probe" if failed else "definition changed"
                self._killing(pod, spec["name"], f"Container {spec['name']} {why}, will be restarted")
                stopping.append(self.runtime.stop_container(container.id, grace_period(pod)))
        await asyncio.gather(*stopping)
        return bool(stopping)

    async def _start_containers(self, pod: dict, runtime_pod: RuntimePod, state: PodState) -> SyncResult:
        """Start what should run now: the next init container, else sidecars and regular containers.
        result.again: an init container or sidecar was started and the next one may be due at once."""
        result = SyncResult()
        containers = spec_containers(pod)
        initialized = any(runtime_pod.latest(c["name"]) for c, kind in containers if kind == REGULAR)
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        for spec, kind in containers:
            name = spec["name"]
            if kind == INIT and initialized:
                continue
            sequential = kind != REGULAR and not initialized  # init containers run one after another
            latest = runtime_pod.latest(name)
            if latest is not None and latest.state is not ContainerState.EXITED:
                state.reasons.pop(name, None)
                if sequential and (kind == INIT or latest.state is not ContainerState.RUNNING
                                   or not self.probes.started(latest.id, spec)):
                    return result  # the next one waits for this one to finish, or a sidecar to start
                continue
            if latest is not None and not self._restarts(kind, policy, latest, state):
                state.reasons.pop(name, None)
                if sequential and latest.exit_code != 0:
                    return result  # an init container failed under restartPolicy Never: so did the pod
                continue
            wait = await self._start(pod, spec, kind, runtime_pod, latest, state)
            if wait is not None:
                result.resync = wait if result.resync is None else min(result.resync, wait)
            if sequential:
                result.again = wait is None
                return result
        return result

    @staticmethod
    def _restarts(kind: str, policy: str, exited: ContainerStatus, state: PodState) -> bool:
        if exited.name in state.restart:
            return policy != "Never"
        if kind == SIDECAR:
            return True
        if kind == INIT:
            return exited.exit_code != 0 and policy != "Never"
        return should_restart(policy, exited.exit_code)

    async def _start(self, pod: dict, spec: dict, kind: str, runtime_pod: RuntimePod,
                     previous: ContainerStatus | None, state: PodState) -> float | None:
        """Start a container, or answer how long its back-off still lasts."""
        name, uid = spec["name"], pod["metadata"]["uid"]
        key = f"{uid}/{name}"
        if previous is not None:
            wait = self.backoff.remaining(key, previous.finished_at or time.time())
            if wait > 0:
                state.reasons[name] = ("CrashLoopBackOff", f"back-off {go_duration(self.backoff.get(key))} "
                                       f"restarting failed container={name} pod={pod_full_name(pod)}")
                self.recorder.record(events.container_ref(pod, name), WARNING, events.BACK_OFF,
                                     f"Back-off restarting failed container {name} in pod {pod_full_name(pod)}")
                return wait
        sandbox = runtime_pod.sandbox
        assert sandbox is not None
        attempt = previous.attempt + 1 if previous is not None else 0
        ref = events.container_ref(pod, name)
        try:
            await self.images.ensure(pod, spec)
        except RuntimeFailure as e:  # tried again after the pod worker's back-off period, as upstream's
            state.reasons[name] = (e.reason, e.message)
            self.recorder.record(ref, WARNING, events.FAILED, f"Error: {e.reason}")
            return self.backoff.initial
        if previous is not None:
            self.backoff.next(key, previous.finished_at or time.time())
        try:
            for old in runtime_pod.attempts(name)[1:]:  # keep one dead container, for lastState
                await self.runtime.remove_container(old.id)
            envs = await self.env.resolve(pod, spec, sandbox.ip)
            container_id = await self.runtime.create_container(sandbox.id,
                                                               _container_config(pod, spec, kind, attempt, envs))
            self.recorder.record(ref, NORMAL, events.CREATED, f"Created container: {name}")
            try:
                await self.runtime.start_container(container_id)
            except RuntimeFailure:
                await self.runtime.remove_container(container_id)
                raise
        except RuntimeFailure as e:
            state.reasons[name] = (e.reason, e.message)
            self.recorder.record(ref, WARNING, events.FAILED, f"Error: {e.message}")
            self.backoff.next(key, time.time())
            return self.backoff.get(key)
        self.recorder.record(ref, NORMAL, events.STARTED, f"Started container {name}")
        state.reasons.pop(name, None)
        state.restart.discard(name)
        return None

    def _killing(self, pod: dict, name: str, message: str) -> None:
        self.recorder.record(events.container_ref(pod, name), NORMAL, events.KILLING, message)


def _finished(pod: dict, runtime_pod: RuntimePod) -> bool:
    """No container will run again: every regular container exited for good (or an init container failed
    under restartPolicy Never). Sidecars left running are then stopped."""
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    if policy == "Always":
        return False
    for spec, kind in spec_containers(pod):
        latest = runtime_pod.latest(spec["name"])
        if kind == INIT and policy == "Never" and latest is not None \
                and latest.state is ContainerState.EXITED and latest.exit_code != 0:
            return True
        if kind != REGULAR:
            continue
        if latest is None or latest.state is not ContainerState.EXITED or should_restart(policy, latest.exit_code):
            return False
    return True


def _sandbox_config(pod: dict, attempt: int) -> PodSandboxConfig:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    labels = {**(meta.get("labels") or {}), POD_NAME_LABEL: meta["name"], POD_NAMESPACE_LABEL: meta["namespace"],
              POD_UID_LABEL: meta["uid"]}
    return PodSandboxConfig(meta["name"], meta["namespace"], meta["uid"], attempt,
                            spec.get("hostname") or meta["name"], bool(spec.get("hostNetwork")), labels,
                            dict(meta.get("annotations") or {}), port_mappings(pod))


def _container_config(pod: dict, spec: dict, kind: str, attempt: int, envs: list[tuple[str, str]]
                      ) -> ContainerConfig:
    meta = pod["metadata"]
    labels = {POD_NAME_LABEL: meta["name"], POD_NAMESPACE_LABEL: meta["namespace"], POD_UID_LABEL: meta["uid"],
              CONTAINER_NAME_LABEL: spec["name"]}
    annotations = {HASH_ANNOTATION: spec_hash(spec), RESTART_COUNT_ANNOTATION: str(attempt),
                   CONTAINER_TYPE_ANNOTATION: kind}
    return ContainerConfig(spec["name"], spec.get("image", ""), attempt, list(spec.get("command") or ()),
                           list(spec.get("args") or ()), labels, annotations, envs, spec.get("workingDir") or "",
                           linux_resources(spec))
