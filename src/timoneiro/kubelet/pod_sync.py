"""One step of a pod toward its spec through the runtime, as kuberuntime's SyncPod and KillPod take it.

A sync reads the runtime's state of the pod and acts on it: a sandbox if there is none, the next init
container (in order; a sidecar must have started before the next one), then the regular containers, each
restarted as the restart policy says, after the container's back-off (CrashLoopBackOff while it lasts).
Containers whose spec changed or whose liveness or startup probe failed are stopped and started again.
Each step is told as upstream's kubelet tells it, in Events about the container (Pulling, Pulled, Created,
Started, Killing, BackOff, Failed) or the pod (SandboxChanged, FailedCreatePodSandBox). A container's
postStart hook runs once it started (failing, it kills the container: FailedPostStartHook); its preStop
hook runs before it is stopped, within the grace period, which then gives SIGTERM what is left of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from timoneiro.client.events import NORMAL, WARNING, EventRecorder
from timoneiro.kubelet import events, termination_message
from timoneiro.kubelet.backoff import Backoff, go_duration
from timoneiro.kubelet.container_env import ContainerEnv, linux_resources, port_mappings
from timoneiro.kubelet.containers import (
    INIT,
    REGULAR,
    SIDECAR,
    RuntimePod,
    container_spec,
    pod_full_name,
    should_restart,
    spec_containers,
    spec_hash,
)
from timoneiro.kubelet.expansion import command_and_args
from timoneiro.kubelet.image_manager import ImageManager
from timoneiro.kubelet.probes import FIELDS, ProbeManager
from timoneiro.kubelet.runtime.base import (
    CONTAINER_NAME_LABEL,
    CONTAINER_TYPE_ANNOTATION,
    POD_NAME_LABEL,
    POD_NAMESPACE_LABEL,
    POD_UID_LABEL,
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    Image,
    Mount,
    PodSandboxConfig,
    Runtime,
    RuntimeFailure,
    SecurityContext,
)
from timoneiro.kubelet.security_context import (
    image_user,
    privileged,
    security_context,
    verify_run_as_non_root,
)
from timoneiro.kubelet.volumes.container_mounts import container_mounts
from timoneiro.kubelet.volumes.manager import VolumeManager

log = logging.getLogger("timoneiro.kubelet.pod_sync")
MOUNT_BACKOFF_INITIAL, MOUNT_BACKOFF_MAX = 0.5, 122.0  # upstream's volume operations retry after these
MINIMUM_GRACE_PERIOD = 2.0  # seconds: upstream's kubelet never stops a container with less
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
    acted: bool = False  # a container was started (or tried): the runtime's state changed


def grace_period(pod: dict) -> float:
    """How long containers get to stop: the deletion's grace period, else the spec's."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    grace = meta.get("deletionGracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", 30)
    return float(grace or 0)


def kill_grace_period(pod: dict, spec: dict, failed_probe: str | None) -> float:
    """How long a container killed by the kubelet gets to stop, as upstream's setTerminationGracePeriod:
    the deletion's grace period, else that of the probe that failed if it has one, else the spec's."""
    meta = pod.get("metadata") or {}
    if meta.get("deletionGracePeriodSeconds") is None and failed_probe is not None:
        grace = (spec.get(FIELDS[failed_probe]) or {}).get("terminationGracePeriodSeconds")
        if grace is not None:
            return float(grace)
    return grace_period(pod)


class PodSyncer:
    def __init__(self, runtime: Runtime, backoff: Backoff, probes: ProbeManager, images: ImageManager,
                 recorder: EventRecorder, env: ContainerEnv, volumes: VolumeManager) -> None:
        self.runtime = runtime
        self.env = env
        self.volumes = volumes
        self.mount_backoff = Backoff(MOUNT_BACKOFF_INITIAL, MOUNT_BACKOFF_MAX)
        self.backoff = backoff
        self.probes = probes
        self.images = images
        self.recorder = recorder
        self.messages = termination_message.TerminationMessages(runtime)

    async def inspect(self, uid: str) -> RuntimePod:
        """The runtime's state of one pod, newest first."""
        sandboxes = sorted(await self.runtime.list_pod_sandboxes(uid), key=lambda s: s.created_at, reverse=True)
        containers: list[ContainerStatus] = []
        for sandbox in sandboxes:
            containers += await self.runtime.list_containers(sandbox.id)
        containers.sort(key=lambda c: (c.attempt, c.created_at), reverse=True)
        return RuntimePod(uid, sandboxes, await self.messages.add(uid, containers))

    async def sync(self, pod: dict, state: PodState, runtime_pod: RuntimePod) -> tuple[RuntimePod, SyncResult]:
        """Act on the runtime's state of the pod; answers the state after."""
        uid = pod["metadata"]["uid"]
        mounted = await self.volumes.mount(pod)
        for message in mounted.failures:
            self.recorder.record(events.pod_ref(pod), WARNING, events.FAILED_MOUNT, message)
        if not mounted.ready:  # the pod stays ContainerCreating until its volumes are there
            self.mount_backoff.next(uid, time.time())
            return runtime_pod, SyncResult(resync=self.mount_backoff.get(uid))
        self.mount_backoff.forget(uid)
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
            if result.acted:  # else the state read stands, as SyncPod's without actions (the PLEG tells more)
                runtime_pod = await self.inspect(uid)
            if not result.again:
                break
        result.done = _finished(pod, runtime_pod)
        return runtime_pod, result

    async def kill(self, runtime_pod: RuntimePod, grace: float, pod: dict | None = None) -> None:
        """Stop every container, giving each up to grace seconds, then the sandboxes. With the pod, each
        is stopped as the kubelet kills a container (a Killing event, its preStop hook)."""
        running = runtime_pod.running()
        if pod is not None:
            await asyncio.gather(*(self._kill_container(pod, c.name, c.id, grace, f"Stopping container {c.name}")
                                   for c in running))
        else:
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
        await self.volumes.unmount(uid)
        self.mount_backoff.forget(uid)
        self.messages.forget(uid)

    # containers

    async def _replace_failed(self, pod: dict, runtime_pod: RuntimePod, state: PodState) -> bool:
        """Stop running containers whose spec changed or whose liveness/startup probe failed."""
        stopping = []
        restarts = (pod.get("spec") or {}).get("restartPolicy", "Always") != "Never"
        for spec, kind in spec_containers(pod):
            name, container = spec["name"], runtime_pod.latest(spec["name"])
            if container is None or container.state is not ContainerState.RUNNING or kind == INIT:
                continue
            failed = self.probes.failed(container.id)
            changed = container.annotations.get(HASH_ANNOTATION) != spec_hash(spec)
            if failed or changed:
                state.restart.add(name)
                message = f"Container {name} definition changed" if changed else \
                    f"Container {name} failed {failed} probe"
                if changed or restarts:
                    message += ", will be restarted"
                stopping.append(self._kill_container(pod, name, container.id,
                                                     kill_grace_period(pod, spec, None if changed else failed),
                                                     message))
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
            result.acted = True
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
            image = await self.images.ensure(pod, spec)
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
            mounts, security = self._host_settings(pod, spec, envs, image)
            config = _container_config(pod, spec, kind, attempt, envs, mounts, security)
            container_id = await self.runtime.create_container(sandbox.id, config)
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
        hook = (spec.get("lifecycle") or {}).get("postStart")
        failure = await self.runtime.run_hook(hook, pod, name, container_id) if hook else None
        if failure is not None:  # the message stays out of the event, as upstream's, lest it tell secrets
            log.info("postStart hook of container %s of pod %s failed: %s", name, pod_full_name(pod), failure)
            self.recorder.record(ref, WARNING, events.FAILED_POST_START_HOOK, "PostStartHook failed")
            await self._kill_container(pod, name, container_id, kill_grace_period(pod, spec, None),
                                       "FailedPostStartHook")
            state.reasons[name] = ("PostStartHookError", failure)
        return None

    def _host_settings(self, pod: dict, spec: dict, envs: list[tuple[str, str]], image: Image | None
                       ) -> tuple[list[Mount], SecurityContext | None]:
        """A real container's mounts and security context (runAsNonRoot checked against its image's user);
        nothing for a runtime without a filesystem."""
        if self.runtime.pods_dir is None:
            return [], None
        mounts = container_mounts(spec, self.volumes.volumes(pod["metadata"]["uid"]), envs)
        message_file = termination_message.message_file(self.runtime.pods_dir, pod["metadata"]["uid"], spec)
        if message_file is not None:
            mounts.append(message_file)
        verify_run_as_non_root(pod, spec, *image_user(image))
        return mounts, security_context(pod, spec, image)

    async def _kill_container(self, pod: dict, name: str, container_id: str, grace: float, message: str) -> None:
        """Upstream's killContainer: a Killing event with the message, the preStop hook run for at most the
        grace period, then the container stopped with what is left of it (never less than 2 s)."""
        ref = events.container_ref(pod, name)
        self.recorder.record(ref, NORMAL, events.KILLING, message)
        hook = ((container_spec(pod, name) or {}).get("lifecycle") or {}).get("preStop")
        if hook and grace > 0:
            began = time.monotonic()
            try:
                failure = await asyncio.wait_for(self.runtime.run_hook(hook, pod, name, container_id), grace)
            except TimeoutError:  # still running when the grace period ended: the container stops anyway
                failure = None
            if failure is not None:
                log.info("preStop hook of container %s of pod %s failed: %s", name, pod_full_name(pod), failure)
                self.recorder.record(ref, WARNING, events.FAILED_PRE_STOP_HOOK, "PreStopHook failed")
            grace -= int(time.monotonic() - began)  # whole seconds, as upstream counts them
        await self.runtime.stop_container(container_id, max(grace, MINIMUM_GRACE_PERIOD))


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
                            dict(meta.get("annotations") or {}), port_mappings(pod), privileged(pod))


def _container_config(pod: dict, spec: dict, kind: str, attempt: int, envs: list[tuple[str, str]],
                      mounts: list[Mount], security: SecurityContext | None) -> ContainerConfig:
    meta = pod["metadata"]
    labels = {POD_NAME_LABEL: meta["name"], POD_NAMESPACE_LABEL: meta["namespace"], POD_UID_LABEL: meta["uid"],
              CONTAINER_NAME_LABEL: spec["name"]}
    annotations = {HASH_ANNOTATION: spec_hash(spec), RESTART_COUNT_ANNOTATION: str(attempt),
                   CONTAINER_TYPE_ANNOTATION: kind, **termination_message.annotations(spec)}
    command, args = command_and_args(list(spec.get("command") or ()), list(spec.get("args") or ()), envs)
    return ContainerConfig(spec["name"], spec.get("image", ""), attempt, command, args, labels, annotations, envs,
                           spec.get("workingDir") or "", linux_resources(spec), mounts, security)
