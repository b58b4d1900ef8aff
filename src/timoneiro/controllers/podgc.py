"""The pod garbage collector: every period, removes pods nothing else will.

- Pods bound to a node that no longer exists: the node must have been missing for a quarantine period
  and then be proved absent by a live read, so that a node being re-registered loses nothing.
- Terminating pods on a node that is not ready and marked node.kubernetes.io/out-of-service (its kubelet
  will not finish them).
- Finished (Succeeded or Failed) pods beyond a threshold, evicted ones first, then the oldest.

Pods that are not finished are first marked Failed (with a DisruptionTarget condition saying why), then
all are deleted at once (grace period 0): there is no kubelet left to stop them gracefully.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from timoneiro.client import ApiError
from timoneiro.client.resources import NODES, PODS
from timoneiro.controllers.base import Controller
from timoneiro.controllers.clock import rfc3339
from timoneiro.controllers.node_taints import NO_EXECUTE, condition, taints
from timoneiro.controllers.pods import is_terminal

log = logging.getLogger("timoneiro.controllers.podgc")
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"


def collection_order(pod: dict) -> tuple:
    """Evicted pods first, then by creation time (then name, so that equal times sort the same way)."""
    evicted = (pod.get("status") or {}).get("reason") == "Evicted"
    return (not evicted, pod["metadata"].get("creationTimestamp") or "", pod["metadata"]["name"])


class PodGCController(Controller):
    name = "pod-garbage-collector"
    service_account = "pod-garbage-collector"
    period = 20.0  # seconds between passes
    quarantine = 40.0  # seconds a node must be missing before its pods count as orphaned
    terminated_threshold = 12500  # finished pods kept; 0 keeps all

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.pods = informers.informer(PODS)
        self.nodes = informers.informer(NODES)
        self.missing_since: dict[str, float] = {}  # node name -> when pods were first seen bound to it, absent

    async def run(self) -> None:
        while True:
            try:
                await self.gc()
            except Exception:
                log.exception("pod garbage collection failed")
            await asyncio.sleep(self.period)

    async def gc(self) -> None:
        pods = self.pods.store.list()
        if self.terminated_threshold > 0:
            finished = sorted((p for p in pods if is_terminal(p)), key=collection_order)
            for pod in finished[:max(0, len(finished) - self.terminated_threshold)]:
                await self.remove(pod, None)
        for pod in pods:
            if self.out_of_service(pod):
                await self.remove(pod, ("DeletionByPodGC", "PodGC: node is out of service"))
        gone = await self.deleted_nodes(pods)
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") in gone:
                await self.remove(pod, ("DeletionByPodGC", "PodGC: node no longer exists"))

    def out_of_service(self, pod: dict) -> bool:
        if not pod["metadata"].get("deletionTimestamp") or is_terminal(pod):
            return False
        node = self.nodes.store.get((pod.get("spec") or {}).get("nodeName") or "")
        return node is not None and (condition(node, "Ready") or {}).get("status") != "True" and any(
            t.get("key") == OUT_OF_SERVICE and t.get("effect") == NO_EXECUTE for t in taints(node))

    async def deleted_nodes(self, pods: list[dict]) -> set[str]:
        """Nodes pods are bound to that have been missing for the quarantine and are proved absent now."""
        now = time.monotonic()
        absent = {n for p in pods if (n := (p.get("spec") or {}).get("nodeName")) and self.nodes.store.get(n) is None}
        self.missing_since = {n: self.missing_since.get(n, now) for n in absent}
        gone = set()
        for name, since in list(self.missing_since.items()):
            if now - since < self.quarantine:
                continue
            del self.missing_since[name]  # quarantined afresh if its pods are still there next time
            try:
                await self.client.get(NODES, name)
            except ApiError as e:
                if e.code != 404:
                    raise
                gone.add(name)
        return gone

    async def remove(self, pod: dict, why: tuple[str, str] | None) -> None:
        m = pod["metadata"]
        try:
            if not is_terminal(pod):
                status: dict = {"phase": "Failed"}
                if why is not None:
                    status["conditions"] = [{"type": "DisruptionTarget", "status": "True", "reason": why[0],
                                             "message": why[1], "lastTransitionTime": rfc3339(datetime.now(UTC))}]
                await self.client.patch(PODS, m["name"], {"status": status}, m["namespace"], patch_type="strategic",
                                        subresource="status")
            await self.client.delete(PODS, m["name"], m["namespace"], grace_period_seconds=0,
                                     preconditions={"uid": m.get("uid")})
            log.info("deleted pod %s/%s", m["namespace"], m["name"])
        except ApiError as e:
            if e.code not in (404, 409):
                raise
