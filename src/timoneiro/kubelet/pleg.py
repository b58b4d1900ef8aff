"""The pod lifecycle event generator: notices containers that changed on their own (exited, were killed)
and tells the pod workers which pods to sync again.

It relists the runtime and compares each pod's sandboxes and containers with the last relist. A runtime
that sends container events (as the simulated one does) is relisted rarely, as upstream's evented PLEG
does: its events name the pod at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from timoneiro.kubelet.containers import RuntimePod
from timoneiro.kubelet.runtime.base import Runtime

log = logging.getLogger("timoneiro.kubelet.pleg")


async def runtime_pods(runtime: Runtime) -> dict[str, RuntimePod]:
    """Every pod the runtime has, by uid, sandboxes and containers newest first, as the runtime lists them
    (Runtime.list_all: enough for the relist's comparison; a pod's sync reads its statuses)."""
    pods: dict[str, RuntimePod] = {}
    sandbox_pod: dict[str, str] = {}
    sandboxes, containers = await runtime.list_all()
    for sandbox in sorted(sandboxes, key=lambda s: s.created_at, reverse=True):
        uid = sandbox.config.uid
        pods.setdefault(uid, RuntimePod(uid)).sandboxes.append(sandbox)
        sandbox_pod[sandbox.id] = uid
    for container in sorted(containers, key=lambda c: (c.attempt, c.created_at), reverse=True):
        uid = sandbox_pod.get(container.sandbox_id)
        if uid is not None:
            pods[uid].containers.append(container)
    return pods


class PLEG:
    def __init__(self, runtime: Runtime, on_event: Callable[[str], None], *, relist_period: float = 1.0,
                 evented_relist_period: float = 300.0) -> None:
        self.runtime = runtime
        self.on_event = on_event  # told the uid of a pod that changed
        evented = runtime.watch_events(on_event)
        self.period = evented_relist_period if evented else relist_period
        self._last: dict[str, tuple] = {}

    async def relist(self) -> None:
        pods = await runtime_pods(self.runtime)
        now = {uid: pod.key() for uid, pod in pods.items()}
        for uid in now.keys() | self._last.keys():
            if now.get(uid) != self._last.get(uid):
                self.on_event(uid)
        self._last = now

    async def run(self) -> None:
        """Relist every period until cancelled."""
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.relist()
            except Exception:
                log.exception("relisting the runtime failed")
