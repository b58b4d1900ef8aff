"""The CronJob controller: creates a Job for each time the schedule comes round (upstream's controller v2).

A Job is named after its scheduled time in minutes since the epoch, so that a time is never run twice;
the CronJob is requeued for its next scheduled time. Time is read from `clock` (see clock.Clocked).
"""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta

from timoneiro.api.printers.age import parse_time
from timoneiro.client import ApiError
from timoneiro.client.resources import CRONJOBS, JOBS
from timoneiro.client.store import object_key
from timoneiro.controllers import cron_schedule
from timoneiro.controllers.clock import Clocked, rfc3339
from timoneiro.controllers.controller_ref import controller_of, controller_ref, object_reference, resolve
from timoneiro.controllers.cron_schedule import Schedule, ScheduleError
from timoneiro.controllers.events import EventRecorder
from timoneiro.controllers.job_status import finished_type

log = logging.getLogger("timoneiro.controllers.cronjob")

API_VERSION, KIND = "batch/v1", "CronJob"
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
NEXT_SCHEDULE_DELTA = 0.1  # seconds added to a requeue, in case the clocks disagree a little
TOO_MANY_MISSED = 100


def job_name(cronjob: dict, scheduled: datetime) -> str:
    return f"{cronjob['metadata']['name']}-{int(scheduled.timestamp()) // 60}"


def go_rfc3339(t: datetime) -> str:
    """Go's time.RFC3339 in t's zone: "Z" for UTC, else the offset."""
    text = t.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def most_recent_schedule(cronjob: dict, now: datetime, schedule: Schedule, with_deadline: bool
                         ) -> tuple[datetime, datetime | None, int]:
    """(the time scheduling counts from, the latest scheduled time not after now or None, how many were
    missed); raises ScheduleError for a schedule that never or too often comes round."""
    earliest = parse_time(cronjob["metadata"].get("creationTimestamp")) or now
    last = parse_time((cronjob.get("status") or {}).get("lastScheduleTime"))
    if last is not None:
        earliest = last
    deadline = cronjob["spec"].get("startingDeadlineSeconds")
    if with_deadline and deadline is not None:
        earliest = max(earliest, now - timedelta(seconds=deadline))
    t1 = schedule.next(earliest)
    t2 = schedule.next(t1) if t1 is not None else None
    if t1 is not None and now < t1:
        return earliest, None, 0
    if t1 is not None and t2 is not None and now < t2:
        return earliest, t1, 0
    between = round((t2 - t1).total_seconds()) if t1 is not None and t2 is not None else 0
    if between < 1:
        raise ScheduleError("time difference between two schedules is less than 1 second")
    missed = int((now - t1).total_seconds()) // between + 1
    # start a little before the estimate of the last slot and walk to now: exact for uneven schedules too
    t: datetime | None = schedule.next(t1 + timedelta(seconds=(missed - 2) * between))
    recent = None
    while t is not None and t <= now:
        recent = t
        t = schedule.next(t)
    return earliest, recent, missed


def next_schedule_delay(cronjob: dict, now: datetime, schedule: Schedule) -> float:
    """Seconds until the next scheduled time after the last one (or now, if the schedule is broken)."""
    try:
        earliest, recent, _ = most_recent_schedule(cronjob, now, schedule, with_deadline=False)
        base = recent or earliest
    except ScheduleError:
        base = now
    following = schedule.next(base)
    if following is None:
        return 3600.0
    return (following - now).total_seconds() + NEXT_SCHEDULE_DELTA


def job_from_template(cronjob: dict, scheduled: datetime) -> dict:
    template = cronjob["spec"]["jobTemplate"]
    meta = template.get("metadata") or {}
    annotations = dict(meta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP] = go_rfc3339(
        scheduled.astimezone(cron_schedule.zone(cronjob["spec"].get("timeZone"))))
    job_meta = {"name": job_name(cronjob, scheduled), "namespace": cronjob["metadata"]["namespace"],
                "annotations": annotations, "ownerReferences": [controller_ref(cronjob, API_VERSION, KIND)]}
    if meta.get("labels"):
        job_meta["labels"] = dict(meta["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


def _start_order(job: dict) -> tuple:
    """Oldest start first, Jobs not started last; by name among equals."""
    started = parse_time((job.get("status") or {}).get("startTime"))
    return (started is None, started or datetime.max.replace(tzinfo=UTC), job["metadata"]["name"])


class CronJobController(Clocked):
    name = "cronjob"
    service_account = "cronjob-controller"
    workers = 5

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.events = EventRecorder(client, "cronjob-controller")
        self.cronjobs = informers.informer(CRONJOBS)
        self.cronjobs.add_handler(on_add=self.enqueue, on_update=self._cronjob_updated, on_delete=self.enqueue)
        self.jobs = informers.informer(JOBS)
        self.jobs.add_handler(on_add=self._job_changed, on_update=self._job_updated, on_delete=self._job_changed)

    def on_clock_step(self) -> None:
        for cronjob in self.cronjobs.store.list():
            self.enqueue(cronjob)

    def _cronjob_updated(self, old: dict, new: dict) -> None:
        """A new schedule counts from now; any other change is synced at once."""
        spec, old_spec = new["spec"], old["spec"]
        if (spec.get("schedule"), spec.get("timeZone")) == (old_spec.get("schedule"), old_spec.get("timeZone")):
            self.enqueue(new)
            return
        try:
            schedule = cron_schedule.parse(spec.get("schedule", ""), spec.get("timeZone"))
        except ScheduleError:
            self.events.warning(self._ref(new), "UnParseableCronJobSchedule",
                                f"unparseable schedule for cronjob: {spec.get('schedule')}")
            return
        self.queue.add_after(object_key(new), next_schedule_delay(new, self.clock.now(), schedule))

    def _job_changed(self, job: dict) -> None:
        cronjob = resolve(self.cronjobs.store, job["metadata"].get("namespace"), controller_of(job), KIND)
        if cronjob is not None:
            self.enqueue(cronjob)

    def _job_updated(self, old: dict, new: dict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        if controller_of(old) != controller_of(new):
            self._job_changed(old)
        self._job_changed(new)

    def _ref(self, cronjob: dict) -> dict:
        return object_reference(cronjob, API_VERSION, KIND)

    async def sync(self, key: str) -> None:
        cached = self.cronjobs.store.get(key)
        if cached is None:
            return
        namespace, name = cached["metadata"]["namespace"], cached["metadata"]["name"]
        jobs = [j for j in self.jobs.store.by_index("namespace", namespace)
                if (controller_of(j) or {}).get("name") == name]
        cronjob = copy.deepcopy(cached)
        cronjob.setdefault("status", {})
        changed = await self._clean_up_finished(cronjob, jobs)
        try:
            requeue, synced_change = await self._sync(cronjob, jobs)
            error = None
        except Exception as e:  # still write what changed; retried below unless requeued anyway
            requeue, synced_change, error = None, True, e
        if changed or synced_change:
            await self.client.update_status(CRONJOBS, cronjob)
        if requeue is not None:
            self.queue.add_after(key, requeue)
        elif error is not None:
            raise error

    async def _sync(self, cronjob: dict, jobs: list[dict]) -> tuple[float | None, bool]:
        """One step: track the Jobs, then start the Job of the latest missed time if it is due; answers
        (seconds until the next check, whether status changed)."""
        now = self.clock.now()
        changed = await self._track_jobs(cronjob, jobs)
        spec, status = cronjob["spec"], cronjob["status"]
        if cronjob["metadata"].get("deletionTimestamp"):
            return None, changed
        if spec.get("timeZone") is not None:
            try:
                cron_schedule.zone(spec["timeZone"])
            except ScheduleError as e:
                self.events.warning(self._ref(cronjob), "UnknownTimeZone", f'invalid timeZone: "{spec["timeZone"]}": {e}')
                return None, changed
        if spec.get("suspend"):
            return None, changed
        if "TZ" in spec.get("schedule", ""):
            self.events.warning(self._ref(cronjob), "UnsupportedSchedule",
                                f'CRON_TZ or TZ used in schedule "{spec["schedule"]}" is not officially supported, '
                                "see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details")
        try:
            schedule = cron_schedule.parse(spec.get("schedule", ""), spec.get("timeZone"))
        except ScheduleError as e:
            self.events.warning(self._ref(cronjob), "UnparseableSchedule",
                                f'unparseable schedule: "{spec.get("schedule")}" : {e}')
            return None, changed
        try:
            _, scheduled, missed = most_recent_schedule(cronjob, now, schedule, with_deadline=True)
        except ScheduleError as e:
            self.events.warning(self._ref(cronjob), "InvalidSchedule", f"invalid schedule: {spec['schedule']} : {e}")
            return None, changed
        later = next_schedule_delay(cronjob, now, schedule)
        if scheduled is None:
            return later, changed
        if missed > TOO_MANY_MISSED:
            self.events.warning(self._ref(cronjob), "TooManyMissedTimes", "too many missed start times. Set or "
                                "decrease .spec.startingDeadlineSeconds or check clock skew")
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + timedelta(seconds=deadline) < now:
            self.events.warning(self._ref(cronjob), "MissSchedule", "Missed scheduled time to start a job: "
                                + scheduled.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000"))
            return later, changed
        name = job_name(cronjob, scheduled)
        if any(ref.get("name") == name for ref in status.get("active") or ()) or \
                status.get("lastScheduleTime") == rfc3339(scheduled):
            return later, changed
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and status.get("active"):
            self.events.normal(self._ref(cronjob), "JobAlreadyActive",
                               "Not starting job because prior execution is running and concurrency policy is Forbid")
            return later, changed
        if policy == "Replace":
            for ref in list(status.get("active") or ()):
                job = await self.client.get(JOBS, ref["name"], ref.get("namespace"))
                if not await self._delete_job(cronjob, job):
                    raise RuntimeError(f"could not replace job {ref.get('namespace')}/{ref['name']}")
                changed = True
        created = await self._create_job(cronjob, scheduled)
        if created is None:
            return None, changed
        status.setdefault("active", []).append(object_reference(created, "batch/v1", "Job"))
        status["lastScheduleTime"] = rfc3339(scheduled)
        return later, True

    async def _track_jobs(self, cronjob: dict, jobs: list[dict]) -> bool:
        """Keep status.active to the unfinished Jobs and lastSuccessfulTime to the latest success."""
        status = cronjob["status"]
        changed = False
        children = set()
        for job in jobs:
            uid = job["metadata"]["uid"]
            children.add(uid)
            active = any(ref.get("uid") == uid for ref in status.get("active") or ())
            finished = finished_type(job)
            if not active and finished is None:
                fresh = await self.client.get(CRONJOBS, cronjob["metadata"]["name"], cronjob["metadata"]["namespace"])
                if any(ref.get("uid") == uid for ref in (fresh.get("status") or {}).get("active") or ()):
                    cronjob.clear()
                    cronjob.update(fresh)
                    cronjob.setdefault("status", {})
                    status = cronjob["status"]
                    continue
                self.events.warning(self._ref(cronjob), "UnexpectedJob",
                                    f"Saw a job that the controller did not create or forgot: {job['metadata']['name']}")
            elif active and finished is not None:
                self._forget_active(cronjob, uid)
                self.events.normal(self._ref(cronjob), "SawCompletedJob",
                                   f"Saw completed job: {job['metadata']['name']}, status: {finished}")
                changed = True
            elif finished == "Complete":
                completed = job["status"].get("completionTime")
                last = status.get("lastSuccessfulTime")
                if completed and (last is None or parse_time(completed) > parse_time(last)):
                    status["lastSuccessfulTime"] = completed
                    changed = True
        for ref in list(status.get("active") or ()):
            if ref.get("uid") in children:
                continue
            try:
                await self.client.get(JOBS, ref["name"], ref.get("namespace"))
            except ApiError as e:
                if e.code != 404:
                    raise
                self.events.normal(self._ref(cronjob), "MissingJob", f"Active job went missing: {ref['name']}")
                self._forget_active(cronjob, ref.get("uid"))
                changed = True
        return changed

    @staticmethod
    def _forget_active(cronjob: dict, uid: str | None) -> None:
        status = cronjob["status"]
        status["active"] = [ref for ref in status.get("active") or () if ref.get("uid") != uid]
        if not status["active"]:
            del status["active"]

    async def _create_job(self, cronjob: dict, scheduled: datetime) -> dict | None:
        """Create the Job for a scheduled time; None if one exists that is not ours, or already tracked."""
        body = job_from_template(cronjob, scheduled)
        namespace = cronjob["metadata"]["namespace"]
        try:
            created = await self.client.create(JOBS, body, namespace)
        except ApiError as e:
            if e.has_cause("NamespaceTerminating"):
                raise
            if e.code != 409:
                self.events.warning(self._ref(cronjob), "FailedCreate", f"Error creating job: {e.message}")
                raise
            existing = await self.client.get(JOBS, body["metadata"]["name"], namespace)
            owner = controller_of(existing)
            if owner is None or owner.get("uid") != cronjob["metadata"]["uid"]:
                return None
            if any(ref.get("uid") == existing["metadata"]["uid"] for ref in cronjob["status"].get("active") or ()):
                return None
            log.info("job %s/%s already exists", namespace, body["metadata"]["name"])
            return existing
        self.events.normal(self._ref(cronjob), "SuccessfulCreate", f"Created job {created['metadata']['name']}")
        return created

    async def _delete_job(self, cronjob: dict, job: dict) -> bool:
        try:
            await self.client.delete(JOBS, job["metadata"]["name"], job["metadata"]["namespace"],
                                     propagation_policy="Background")
        except ApiError as e:
            self.events.warning(self._ref(cronjob), "FailedDelete", f"Deleted job: {e.message}")
            return False
        self._forget_active(cronjob, job["metadata"]["uid"])
        self.events.normal(self._ref(cronjob), "SuccessfulDelete", f"Deleted job {job['metadata']['name']}")
        return True

    async def _clean_up_finished(self, cronjob: dict, jobs: list[dict]) -> bool:
        """Delete the oldest finished Jobs beyond the successful and failed history limits."""
        changed = False
        for type_, limit_field in (("Complete", "successfulJobsHistoryLimit"), ("Failed", "failedJobsHistoryLimit")):
            limit = cronjob["spec"].get(limit_field)
            finished = sorted((j for j in jobs if finished_type(j) == type_), key=_start_order)
            if limit is None or len(finished) <= limit:
                continue
            for job in finished[:len(finished) - limit]:
                changed |= await self._delete_job(cronjob, job)
        return changed
