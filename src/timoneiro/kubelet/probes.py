"""Probe workers: one per probe of a running container, only reporting results; the pod worker acts on them.

Probes run through the runtime (the simulated one answers from pod annotations). As upstream's prober
does, a readiness result starts as failure, liveness as success, startup as unknown; a result flips after
successThreshold successes or failureThreshold failures in a row; readiness and liveness wait for the
startup probe; a failed liveness or startup probe stops its worker until the container is replaced.
Every failed probe is told in an Unhealthy event about its container, with what the probe printed or why it
failed ("Liveness probe failed: HTTP probe failed with statuscode: 500").
A worker is a timer, not a task, so idle probes cost nothing but their record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from timoneiro.client.events import WARNING, EventRecorder
from timoneiro.kubelet import events
from timoneiro.kubelet.containers import INIT, RuntimePod, spec_containers
from timoneiro.kubelet.runtime.base import ContainerState, Runtime

log = logging.getLogger("timoneiro.kubelet.probes")

READINESS, LIVENESS, STARTUP = "readiness", "liveness", "startup"
FIELDS = {READINESS: "readinessProbe", LIVENESS: "livenessProbe", STARTUP: "startupProbe"}
_INITIAL = {READINESS: False, LIVENESS: True, STARTUP: None}
RUNTIME_SLACK = 5.0  # seconds past a probe's timeoutSeconds before the kubelet gives up on the runtime


@dataclass
class _Worker:
    kind: str
    pod_uid: str
    container: str
    container_id: str
    probe: dict
    started_at: float  # when the container started, for initialDelaySeconds
    result: bool | None
    successes: int = 0
    failures: int = 0
    timer: asyncio.TimerHandle | None = None
    held: bool = False  # failed liveness/startup: no more probing of this container


class ProbeManager:
    def __init__(self, runtime: Runtime, get_pod: Callable[[str], dict | None],
                 on_change: Callable[[str], None], recorder: EventRecorder) -> None:
        self.runtime = runtime
        self.recorder = recorder
        self.get_pod = get_pod
        self.on_change = on_change  # told a pod uid whose probe results changed
        self._workers: dict[tuple[str, str], _Worker] = {}  # (container id, kind)
        self._by_pod: dict[str, set[tuple[str, str]]] = {}
        self._tasks: set[asyncio.Task] = set()

    def update(self, pod: dict, runtime_pod: RuntimePod) -> None:
        """Probe each running container that has probes; stop probing containers that are gone."""
        uid = runtime_pod.uid
        wanted: set[tuple[str, str]] = set()
        for spec, kind in spec_containers(pod):
            if kind == INIT:
                continue
            container = runtime_pod.latest(spec["name"])
            if container is None or container.state is not ContainerState.RUNNING:
                continue
            for probe_kind, field in FIELDS.items():
                if not spec.get(field):
                    continue
                key = (container.id, probe_kind)
                wanted.add(key)
                if key not in self._workers:
                    worker = _Worker(probe_kind, uid, spec["name"], container.id, spec[field],
                                     container.started_at or time.time(), _INITIAL[probe_kind])
                    self._workers[key] = worker
                    self._schedule(worker, 0.0)
        for key in self._by_pod.get(uid, set()) - wanted:
            self._drop(key)
        if wanted:
            self._by_pod[uid] = wanted
        else:
            self._by_pod.pop(uid, None)

    def remove_pod(self, uid: str) -> None:
        for key in self._by_pod.pop(uid, set()):
            self._drop(key)

    def stop(self) -> None:
        for key in list(self._workers):
            self._drop(key)
        self._by_pod.clear()
        for task in self._tasks:
            task.cancel()

    # results, for the pod's status and the pod worker

    def started(self, container_id: str, spec: dict) -> bool:
        """No startup probe, or it succeeded."""
        return not spec.get(FIELDS[STARTUP]) or self._result(container_id, STARTUP) is True

    def ready(self, container_id: str, spec: dict) -> bool:
        """No readiness probe, or it succeeded last."""
        return not spec.get(FIELDS[READINESS]) or self._result(container_id, READINESS) is True

    def failed(self, container_id: str) -> str | None:
        """"liveness" or "startup" if that probe failed: the container must be restarted."""
        for kind in (LIVENESS, STARTUP):
            if self._result(container_id, kind) is False:
                return kind
        return None

    def _result(self, container_id: str, kind: str) -> bool | None:
        worker = self._workers.get((container_id, kind))
        return worker.result if worker else None

    # the workers

    def _schedule(self, worker: _Worker, delay: float) -> None:
        worker.timer = asyncio.get_running_loop().call_later(delay, self._due, worker)

    def _drop(self, key: tuple[str, str]) -> None:
        worker = self._workers.pop(key, None)
        if worker is not None and worker.timer is not None:
            worker.timer.cancel()

    def _due(self, worker: _Worker) -> None:
        if self._workers.get((worker.container_id, worker.kind)) is not worker or worker.held:
            return
        period = float(worker.probe.get("periodSeconds") or 10)
        waited = time.time() - worker.started_at
        delay = float(worker.probe.get("initialDelaySeconds") or 0)
        if waited < delay:
            self._schedule(worker, delay - waited)
            return
        task = asyncio.get_running_loop().create_task(self._run(worker, period))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, worker: _Worker, period: float) -> None:
        pod = self.get_pod(worker.pod_uid)
        if pod is None or (worker.kind == STARTUP and worker.result):
            return  # gone, or started: the startup probe is done
        startup = self._workers.get((worker.container_id, STARTUP))
        if worker.kind != STARTUP and startup is not None and startup.result is not True:
            self._schedule(worker, period)  # not started yet
            return
        timeout = float(worker.probe.get("timeoutSeconds") or 1)
        try:  # the runtime times its probes out itself, and says so; this is only in case it hangs
            ok, output = await asyncio.wait_for(self.runtime.probe(
                worker.kind, worker.probe, pod, worker.container, worker.container_id), timeout + RUNTIME_SLACK)
        except Exception as e:  # a probe that cannot run, or times out, counts as failed
            log.debug("%s probe of %s failed to run: %s", worker.kind, worker.container, e)
            ok, output = False, str(e) or f"probe timed out after {timeout:g}s"
        if self._workers.get((worker.container_id, worker.kind)) is not worker:
            return
        if not ok:
            self.recorder.record(events.container_ref(pod, worker.container), WARNING, events.UNHEALTHY,
                                 f"{worker.kind.capitalize()} probe failed: {output}")
        self._record(worker, ok)
        if not worker.held:
            self._schedule(worker, period)

    def _record(self, worker: _Worker, ok: bool) -> None:
        before = worker.result
        if ok:
            worker.successes, worker.failures = worker.successes + 1, 0
            if worker.successes >= int(worker.probe.get("successThreshold") or 1):
                worker.result = True
        else:
            worker.failures, worker.successes = worker.failures + 1, 0
            if worker.failures >= int(worker.probe.get("failureThreshold") or 3):
                worker.result = False
                worker.held = worker.kind != READINESS
        if worker.result != before:
            self.on_change(worker.pod_uid)
