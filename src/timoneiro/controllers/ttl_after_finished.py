"""The TTL-after-finished controller: deletes a finished Job once spec.ttlSecondsAfterFinished has passed
since it finished (from its Complete or Failed condition), together with its pods (foreground deletion)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from timoneiro.api.printers.age import parse_time
from timoneiro.client import ApiError
from timoneiro.client.resources import JOBS
from timoneiro.controllers.clock import Clocked
from timoneiro.controllers.job_status import finished_type

log = logging.getLogger("timoneiro.controllers.ttl_after_finished")


def expires_at(job: dict) -> datetime | None:
    """When a finished Job with a TTL is due for deletion; None if it is not (yet) to be cleaned up."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    type_ = finished_type(job)
    if ttl is None or type_ is None or job["metadata"].get("deletionTimestamp"):
        return None
    for c in job["status"].get("conditions") or ():
        if c.get("type") == type_:
            finished = parse_time(c.get("lastTransitionTime"))
            return None if finished is None else finished + timedelta(seconds=ttl)
    return None


class TTLAfterFinishedController(Clocked):
    name = "ttl-after-finished"
    service_account = "ttl-after-finished-controller"
    workers = 5

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.jobs = informers.informer(JOBS)
        self.jobs.add_handler(on_add=self._maybe_enqueue, on_update=lambda _old, new: self._maybe_enqueue(new))

    def _maybe_enqueue(self, job: dict) -> None:
        if expires_at(job) is not None:
            self.enqueue(job)

    def on_clock_step(self) -> None:
        for job in self.jobs.store.list():
            self._maybe_enqueue(job)

    async def sync(self, key: str) -> None:
        job = self.jobs.store.get(key)
        if job is None or not self._expired(key, job):
            return
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        try:
            fresh = await self.client.get(JOBS, name, namespace)  # the cache may be behind an update of the TTL
            if not self._expired(key, fresh):
                return
            log.info("cleaning up job %s/%s: its TTL after finished expired", namespace, name)
            await self.client.delete(JOBS, name, namespace, propagation_policy="Foreground",
                                     preconditions={"resourceVersion": fresh["metadata"]["resourceVersion"]})
        except ApiError as e:
            if e.code != 404:
                raise

    def _expired(self, key: str, job: dict) -> bool:
        """Whether the Job's time is up; if not, come back when it will be."""
        expires = expires_at(job)
        if expires is None:
            return False
        left = (expires - self.clock.now()).total_seconds()
        if left > 0:
            self.queue.add_after(key, left)
            return False
        return True
