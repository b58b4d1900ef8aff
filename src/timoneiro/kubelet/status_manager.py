"""The status manager: the only writer of pod status to the API server.

Pod workers hand it the status they worked out; it stamps transition and start times, keeps the latest
per pod, and writers send each pod's latest through the pods/status subresource as a merge patch of only
what differs from what the API server has (so many updates in a burst are one write, and an unchanged
status is no write). Conditions others own (readiness gates, DisruptionTarget) are kept. Once a deleted
pod's containers are stopped and its final status is written, it deletes the pod for good: grace period
0, on the condition that the uid is still the one it ran. Others may wait until it is idle (the kubelet's
events do: they must not hold up the writes that show pods starting).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from timoneiro.client import ApiError, Client
from timoneiro.client.resources import PODS
from timoneiro.client.workqueue import ItemExponentialBackoff, WorkQueue, run_worker
from timoneiro.kubelet.pod_conditions import foreign
from timoneiro.kubelet.times import rfc3339

# the status fields the kubelet writes; others (nominatedNodeName, resize) are left as they are
OWNED = ("phase", "conditions", "message", "reason", "hostIP", "hostIPs", "podIP", "podIPs", "startTime",
         "initContainerStatuses", "containerStatuses", "qosClass")


def stamp(status: dict, old: dict, api_status: dict) -> dict:
    """Transition times kept while a condition's status stays, and the time the pod was first seen."""
    now = rfc3339()
    before = {c.get("type"): c for c in [*(api_status.get("conditions") or ()), *(old.get("conditions") or ())]}
    for condition in status.get("conditions") or ():
        prev = before.get(condition["type"]) or {}
        kept = prev.get("status") == condition["status"] and prev.get("lastTransitionTime")
        condition["lastTransitionTime"] = kept or now
    status["startTime"] = old.get("startTime") or api_status.get("startTime") or now
    return status


def status_patch(current: dict, wanted: dict) -> dict:
    """A merge patch from the API's status to the kubelet's: changed owned fields, null for dropped ones."""
    return {k: wanted.get(k) for k in OWNED if current.get(k) != wanted.get(k)}


def _rv(obj: dict | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class StatusManager:
    def __init__(self, client: Client, api_pod: Callable[[str], dict | None], *, writers: int = 4,
                 retry_initial: float = 0.2, retry_max: float = 7.0) -> None:
        self.client = client
        self.api_pod = api_pod  # the informer's copy of a pod, by uid
        self.writers = writers
        self.queue: WorkQueue[str] = WorkQueue(ItemExponentialBackoff(retry_initial, retry_max))
        self._statuses: dict[str, dict] = {}  # uid -> the kubelet's latest status
        self._written: dict[str, dict] = {}  # uid -> the pod as the last write answered it
        self._finished: set[str] = set()  # containers stopped: deletable once deleted
        self._writing = 0  # syncs under way
        self._idle = asyncio.Event()  # set while nothing is queued or being written
        self._idle.set()

    def get(self, uid: str) -> dict | None:
        return self._statuses.get(uid)

    def set(self, pod: dict, status: dict) -> None:
        uid = pod["metadata"]["uid"]
        old = self._statuses.get(uid)
        status = stamp(status, old or {}, pod.get("status") or {})
        if status != old:
            self._statuses[uid] = status
            self._enqueue(uid)

    def reconcile(self, uid: str) -> None:
        """The pod changed in the API: if its status is no longer the kubelet's, write it again."""
        if uid in self._statuses:
            self._enqueue(uid)

    def finished(self, uid: str) -> None:
        """The pod's containers are stopped for good: once it is deleted, it can go."""
        self._finished.add(uid)
        self._enqueue(uid)

    def forget(self, uid: str) -> None:
        self._statuses.pop(uid, None)
        self._written.pop(uid, None)
        self._finished.discard(uid)

    async def idle(self) -> None:
        """Return once no status write is queued or under way."""
        await self._idle.wait()

    def _enqueue(self, uid: str) -> None:
        self.queue.add(uid)
        self._idle.clear()

    async def run(self) -> None:
        """Write statuses until cancelled."""
        try:
            await asyncio.gather(*(run_worker(self.queue, self._sync) for _ in range(self.writers)))
        finally:
            self.queue.shutdown()

    async def _sync(self, uid: str) -> None:
        self._writing += 1
        try:
            await self._sync_pod(uid)
        finally:
            self._writing -= 1
            if not self._writing and not len(self.queue):
                self._idle.set()

    async def _sync_pod(self, uid: str) -> None:
        pod = self._newest(uid)
        if pod is None:
            return
        meta = pod["metadata"]
        status = self._statuses.get(uid)
        try:
            if status is not None:
                pod = await self._write(uid, pod, status)
            if uid in self._finished and pod["metadata"].get("deletionTimestamp"):
                await self.client.delete(PODS, meta["name"], meta["namespace"], grace_period_seconds=0,
                                         preconditions={"uid": uid})
                self._finished.discard(uid)
        except ApiError as e:
            if e.code not in (404, 409):  # gone, or another pod of that name now: nothing to write
                raise

    async def _write(self, uid: str, pod: dict, status: dict) -> dict:
        """Send what differs between the API's status and the kubelet's; answers the pod as written."""
        current = pod.get("status") or {}
        wanted = {**status, "conditions": foreign(current) + list(status.get("conditions") or ())}
        if not wanted["conditions"]:
            del wanted["conditions"]
        patch = status_patch(current, wanted)
        if not patch:
            return pod
        meta = pod["metadata"]
        answer = await self.client.patch(PODS, meta["name"], {"status": patch}, meta["namespace"],
                                         subresource="status")
        if answer["metadata"].get("uid") != uid:
            return pod  # another pod of that name: not ours to write
        if uid in self._statuses:
            self._written[uid] = answer
        return answer

    def _newest(self, uid: str) -> dict | None:
        """The latest copy of the pod: the informer's, or the answer to our last write if that is newer."""
        cached = self.api_pod(uid)
        if cached is None:
            return None
        written = self._written.get(uid)
        return written if written is not None and _rv(written) > _rv(cached) else cached
