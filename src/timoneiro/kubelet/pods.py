"""The pods bound to this node: watched, admitted, synced one pod worker each, their status written.

A pod's sync is level-based, like upstream's syncPod / syncTerminatingPod / syncTerminatedPod: from the
pod as the API has it and the runtime's state of it, take one step. A new pod is admitted (or rejected:
Failed, never run); a running pod has its containers brought to its spec; a pod that is done or deleted
has its containers stopped (within the grace period) and its final status written, after which the status
manager deletes a deleted pod for good; a pod gone from the API has what the runtime held of it removed.
A pod past its activeDeadlineSeconds is failed (DeadlineExceeded) and stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine

from timoneiro.client import Client
from timoneiro.client.events import NORMAL, WARNING, EventRecorder
from timoneiro.client.informer import Informer
from timoneiro.client.resources import PODS
from timoneiro.client.store import by_field
from timoneiro.kubelet import active_deadline, events
from timoneiro.kubelet.admission import Usage, admit
from timoneiro.kubelet.backoff import Backoff
from timoneiro.kubelet.container_env import ContainerEnv
from timoneiro.kubelet.containers import RuntimePod
from timoneiro.kubelet.image_credentials import PullSecrets
from timoneiro.kubelet.image_manager import ImageManager
from timoneiro.kubelet.pleg import PLEG
from timoneiro.kubelet.pod_conditions import foreign
from timoneiro.kubelet.pod_status import TERMINAL, StatusContext, generate, rejected
from timoneiro.kubelet.pod_sync import PodState, PodSyncer, grace_period
from timoneiro.kubelet.pod_workers import PodWorkers
from timoneiro.kubelet.probes import ProbeManager
from timoneiro.kubelet.runtime.base import Runtime
from timoneiro.kubelet.settings import KubeletSettings
from timoneiro.kubelet.status_manager import StatusManager
from timoneiro.kubelet.volumes.manager import VolumeManager

log = logging.getLogger("timoneiro.kubelet.pods")
UID_INDEX = "uid"


def _uid(pod: dict) -> str:
    return pod["metadata"]["uid"]


def worth_a_sync(old: dict, new: dict) -> bool:
    """Whether a change of the pod can change what the kubelet does: not its own status writes."""
    def essence(pod: dict) -> tuple:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        return (pod.get("spec"), meta.get("labels"), meta.get("annotations"), meta.get("deletionTimestamp"),
                meta.get("deletionGracePeriodSeconds"), status.get("phase") in TERMINAL, foreign(status))
    return essence(old) != essence(new)


class PodLifecycle:
    def __init__(self, client: Client, node_name: str, runtime: Runtime, settings: KubeletSettings,
                 node: Callable[[], dict], host_ip: str, recorder: EventRecorder) -> None:
        self.node = node  # the Node as last read: allocatable, labels, taints for admission
        self.node_name = node_name
        self.runtime = runtime
        self.recorder = recorder
        self.informer = Informer(client, PODS, field_selector=f"spec.nodeName={node_name}",
                                 indexers={UID_INDEX: by_field("metadata.uid")})
        self.status = StatusManager(client, self.api_pod, writers=settings.status_writers,
                                    retry_initial=settings.retry_initial, retry_max=settings.retry_max)
        self.probes = ProbeManager(runtime, self.api_pod, self.changed, recorder)
        self.images = ImageManager(runtime, recorder, Backoff(settings.backoff_initial, settings.backoff_max),
                                   PullSecrets(client, recorder))
        self.volumes = VolumeManager(client, runtime.pods_dir, node, settings.volume_resync_period)
        self.syncer = PodSyncer(runtime, Backoff(settings.backoff_initial, settings.backoff_max), self.probes,
                                self.images, recorder, ContainerEnv(client, host_ip, node), self.volumes)
        self.workers = PodWorkers(self.sync, retry_initial=settings.retry_initial, retry_max=settings.retry_max)
        self.pleg = PLEG(runtime, self.changed, relist_period=settings.relist_period,
                         evented_relist_period=settings.evented_relist_period)
        self.context = StatusContext(runtime.name, host_ip, self.probes)
        self.states: dict[str, PodState] = {}
        self.usage = Usage()  # what the admitted pods that are not finished take from the node
        self.informer.add_handler(on_add=lambda pod: self.changed(_uid(pod)), on_update=self._updated,
                                  on_delete=lambda pod: self.changed(_uid(pod)))

    # what the kubelet's API serves (kubelet.server.app.Host)

    def pod(self, namespace: str, name: str) -> dict | None:
        return self.informer.store.get(f"{namespace}/{name}")

    def pods(self) -> list[dict]:
        return self.informer.store.list()

    def pod_status(self, pod: dict) -> dict:
        return self._previous(pod)

    def api_pod(self, uid: str) -> dict | None:
        found = self.informer.store.by_index(UID_INDEX, uid)
        return found[0] if found else None

    def changed(self, uid: str) -> None:
        self.workers.update(uid)

    def _updated(self, old: dict, new: dict) -> None:
        if worth_a_sync(old, new):
            self.changed(_uid(new))
        else:
            self.status.reconcile(_uid(new))

    async def start(self) -> None:
        """Watch the node's pods; answers once the first list is in (and the pods in it are being synced)."""
        self.informer.start()
        await self.informer.wait_for_sync()

    def loops(self) -> list[Coroutine[None, None, None]]:
        """What runs in the background until cancelled: the status writers, the PLEG and the volumes'
        resync."""
        return [self.status.run(), self.pleg.run(),
                self.volumes.run(self.changed, lambda uid: self.api_pod(uid) is not None)]

    async def stop(self) -> None:
        await self.workers.stop()
        self.probes.stop()
        await self.informer.stop()

    # one pod

    async def sync(self, uid: str) -> float | None:
        pod = self.api_pod(uid)
        if pod is None:
            await self._gone(uid)
            return None
        state = self.states.setdefault(uid, PodState())
        deleted = bool(pod["metadata"].get("deletionTimestamp"))
        if state.admitted is None and not state.finished:
            if (pod.get("status") or {}).get("phase") in TERMINAL or deleted:
                state.finished = True  # over before this kubelet saw it: nothing to run
            elif not self._admit(pod, state):
                return None
        if state.finished:
            if deleted:
                self.status.finished(uid)
            return None
        if deleted or (pod.get("status") or {}).get("phase") in TERMINAL:
            await self._terminate(pod, state, await self.syncer.inspect(uid))
            return None
        runtime_pod = await self.syncer.inspect(uid)  # the status as things stand, while the runtime works
        self.status.set(pod, generate(pod, runtime_pod, self._previous(pod), state.reasons, self.context))
        deadline = active_deadline.remaining(pod, self._previous(pod))
        if deadline is not None and deadline <= 0:
            state.evicted = (active_deadline.REASON, active_deadline.MESSAGE)
            self.recorder.record(events.pod_ref(pod), NORMAL, active_deadline.REASON, active_deadline.MESSAGE)
            await self._terminate(pod, state, runtime_pod)
            return None
        runtime_pod, result = await self.syncer.sync(pod, state, runtime_pod)
        self.probes.update(pod, runtime_pod)
        if result.done:
            await self._terminate(pod, state, runtime_pod)
            return None
        self.status.set(pod, generate(pod, runtime_pod, self._previous(pod), state.reasons, self.context))
        if deadline is not None and (result.resync is None or deadline < result.resync):
            return deadline
        return result.resync

    def _admit(self, pod: dict, state: PodState) -> bool:
        failure = admit(pod, self.node(), self.usage)
        if failure is None:
            state.admitted = pod
            self.usage.add(pod)
            return True
        log.info("pod %s/%s rejected: %s", pod["metadata"]["namespace"], pod["metadata"]["name"], failure[1])
        self.recorder.record(events.pod_ref(pod), WARNING, *failure)
        self.status.set(pod, rejected(pod, *failure))
        state.finished = True
        return False

    async def _terminate(self, pod: dict, state: PodState, runtime_pod: RuntimePod) -> None:
        """Stop the containers within the grace period, then write the pod's final status (never a terminal
        phase while containers may still run, as upstream's status manager holds it back)."""
        uid = _uid(pod)
        self.status.set(pod, generate(pod, runtime_pod, self._previous(pod), state.reasons, self.context))
        await self.syncer.kill(runtime_pod, grace_period(pod), pod)
        self.probes.remove_pod(uid)
        runtime_pod = await self.syncer.inspect(uid)
        self.status.set(pod, generate(pod, runtime_pod, self._previous(pod), {}, self.context, terminal=True,
                                      evicted=state.evicted))
        self._finish(state)
        self.status.finished(uid)

    def _finish(self, state: PodState) -> None:
        """The pod's containers are stopped for good: what it took from the node is free again."""
        if state.admitted is not None and not state.finished:
            self.usage.remove(state.admitted)
        state.finished = True

    async def _gone(self, uid: str) -> None:
        await self.syncer.remove(uid)
        self.probes.remove_pod(uid)
        self.status.forget(uid)
        state = self.states.pop(uid, None)
        if state is not None:
            self._finish(state)
        self.syncer.backoff.forget(uid)
        self.images.backoff.forget(uid)
        self.workers.forget(uid)

    def _previous(self, pod: dict) -> dict:
        return self.status.get(_uid(pod)) or pod.get("status") or {}
