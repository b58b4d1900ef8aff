"""The Job controller: runs pods until enough of them succeed, or the Job fails.

As upstream (Kubernetes 1.32): every pod it creates carries the batch.kubernetes.io/job-tracking
finalizer, so that a finished pod cannot vanish before it is counted. A finished pod is first written to
status.uncountedTerminatedPods, then its finalizer is removed, then it moves to the succeeded/failed
counters. A Job that meets its end first gets the interim SuccessCriteriaMet or FailureTarget condition;
Complete or Failed follows once no pod is left uncounted or terminating. Which failures count, and when
they fail the Job or one of its indexes, spec.podFailurePolicy (job_failure_policy) and backoffLimitPerIndex
(job_index_failures) say.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass, field
from datetime import datetime

from timoneiro.api import selectors
from timoneiro.api.printers.age import parse_time
from timoneiro.client import ApiError
from timoneiro.client.resources import JOBS, PODS
from timoneiro.client.store import object_key
from timoneiro.client.workqueue import WorkQueue, default_rate_limiter, run_worker
from timoneiro.controllers import job_failure_policy as pfp
from timoneiro.controllers import job_index_failures as jif
from timoneiro.controllers import job_indexes as ix
from timoneiro.controllers.clock import Clocked, rfc3339
from timoneiro.controllers.controller_ref import (
    RefManager,
    controller_of,
    controller_ref,
    object_reference,
    resolve,
    selecting,
)
from timoneiro.controllers.events import EventRecorder
from timoneiro.controllers.expectations import Expectations, UIDExpectations
from timoneiro.controllers.job_backoff import BackoffRecord
from timoneiro.controllers.job_pods import (
    TRACKING_FINALIZER,
    has_finalizer,
    indexed_generate_name,
    is_indexed,
    is_pod_failed,
    only_replace_failed,
    past_backoff_limit_on_failure,
    pod_template,
    removal_candidates,
)
from timoneiro.controllers.job_status import (
    condition,
    count_uncounted,
    ensure_condition,
    is_finished,
    new_condition,
    success_policy_message,
    wire_status,
)
from timoneiro.controllers.pod_control import PodControl, namespace_terminating
from timoneiro.controllers.pods import (
    from_template,
    is_active,
    is_deleted,
    is_ready,
    is_terminating,
    phase,
)
from timoneiro.controllers.replicaset import slow_start

log = logging.getLogger("timoneiro.controllers.job")

API_VERSION, KIND = "batch/v1", "Job"
MANAGED_BY = "kubernetes.io/job-controller"
MAX_UNCOUNTED_PODS = 500  # per status write, to keep the Job small
MAX_POD_CREATE_DELETE_PER_SYNC = 500


def is_suspended(job: dict) -> bool:
    return bool(job["spec"].get("suspend"))


@dataclass
class _Sync:
    """What one sync of a Job has learnt so far."""

    job: dict
    pods: list[dict]
    active: list[dict]
    ready: int
    terminating: int
    uncounted_succeeded: set[str]
    uncounted_failed: set[str]
    expected_rm: set[str]  # pods whose finalizer removal is not seen in the cache yet
    succeeded: int = 0
    failed: int = 0
    finished: dict | None = None  # the condition the Job is about to end with
    backoff: BackoffRecord = field(default_factory=BackoffRecord)
    prev_succeeded_indexes: ix.Intervals = field(default_factory=list)
    succeeded_indexes: ix.Intervals = field(default_factory=list)
    failed_indexes: ix.Intervals | None = None  # with backoffLimitPerIndex only
    delayed: dict[int, dict] = field(default_factory=dict)  # per index, the failed pod kept for its count

    @property
    def status(self) -> dict:
        return self.job["status"]


class JobController(Clocked):
    name = "job"
    service_account = "job-controller"
    workers = 5
    backoff_base = 10.0  # seconds before replacing the first failed pod; doubles per failure
    backoff_cap = 360.0

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.events = EventRecorder(client, "job-controller")
        self.pod_control = PodControl(client, self.events)
        self.expectations = Expectations()
        self.finalizer_expectations = UIDExpectations()
        self.backoffs: dict[str, BackoffRecord] = {}
        self.orphans: WorkQueue[str] = WorkQueue(default_rate_limiter())  # pods whose finalizer must go
        self.jobs = informers.informer(JOBS)
        self.jobs.add_handler(on_add=self.enqueue, on_update=self._job_updated, on_delete=self._job_deleted)
        self.pods = informers.informer(PODS)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated,
                              on_delete=lambda pod: self._pod_deleted(pod, final=True))

    async def run(self) -> None:
        try:
            await asyncio.gather(super().run(), run_worker(self.orphans, self.sync_orphan_pod))
        finally:
            self.orphans.shutdown()

    def on_clock_step(self) -> None:
        """Deadlines and back-offs may have passed."""
        for job in self.jobs.store.list():
            self.enqueue(job)

    # event handlers

    def _job_updated(self, old: dict, new: dict) -> None:
        self.enqueue(new)
        if is_finished(new):
            self._release_pods(new)  # a backup: the sync removes finalizers before the Job finishes
        deadline = new["spec"].get("activeDeadlineSeconds")
        started = parse_time((new.get("status") or {}).get("startTime"))
        if started is not None and deadline is not None and old["spec"].get("activeDeadlineSeconds") != deadline:
            elapsed = (self.clock.now() - started).total_seconds()
            self.queue.add_after(object_key(new), deadline - elapsed)

    def _job_deleted(self, job: dict) -> None:
        self.enqueue(job)
        self._release_pods(job)

    def _release_pods(self, job: dict) -> None:
        """Queue the Job's pods that still hold the finalizer, for it to be removed."""
        selector = selectors.from_label_selector(job["spec"].get("selector"))
        for pod in self.pods.store.by_index("namespace", job["metadata"]["namespace"]):
            if has_finalizer(pod) and selectors.matches(selector, pod["metadata"].get("labels") or {}):
                self.orphans.add(object_key(pod))

    def _job_of(self, pod: dict, ref: dict | None) -> dict | None:
        return resolve(self.jobs.store, pod["metadata"].get("namespace"), ref, KIND)

    def _pod_added(self, pod: dict) -> None:
        if is_deleted(pod):
            self._pod_deleted(pod, final=False)
            return
        ref = controller_of(pod)
        if ref is not None:
            job = self._job_of(pod, ref)
            if job is not None:
                key = object_key(job)
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        if has_finalizer(pod):
            self.orphans.add(object_key(pod))
        for job in selecting(self.jobs.store, pod):
            self.enqueue(job)

    def _pod_updated(self, old: dict, new: dict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        if is_deleted(new):
            self._pod_deleted(new, final=False)
            return
        removed = not has_finalizer(new)
        ref, old_ref = controller_of(new), controller_of(old)
        if old_ref is not None and old_ref != ref:
            self._wake(old, old_ref, finalizer_removed=removed)
        if ref is not None:
            self._wake(new, ref, finalizer_removed=removed)
            return
        if not removed:
            self.orphans.add(object_key(new))
        if ref != old_ref or old["metadata"].get("labels") != new["metadata"].get("labels"):
            for job in selecting(self.jobs.store, new):
                self.enqueue(job)

    def _wake(self, pod: dict, ref: dict, finalizer_removed: bool) -> None:
        """Sync the Job a pod names as its controller, noting a finalizer removal it was waiting for."""
        job = self._job_of(pod, ref)
        if job is not None:
            if finalizer_removed:
                self.finalizer_expectations.observed(object_key(job), pod["metadata"]["uid"])
            self.enqueue(job)

    def _pod_deleted(self, pod: dict, final: bool) -> None:
        ref = controller_of(pod)
        job = self._job_of(pod, ref) if ref is not None else None
        if job is None or is_finished(job):
            if has_finalizer(pod):
                self.orphans.add(object_key(pod))
            return
        key = object_key(job)
        self.expectations.deletion_observed(key)
        if final or not has_finalizer(pod):
            self.finalizer_expectations.observed(key, pod["metadata"]["uid"])
        self.queue.add(key)

    # orphan pods

    async def sync_orphan_pod(self, key: str) -> None:
        """Remove the finalizer from a pod no unfinished Job of ours controls."""
        pod = self.pods.store.get(key)
        if pod is None or not has_finalizer(pod):
            return
        ref = controller_of(pod)
        if ref is not None:
            if ref.get("kind") != KIND or ref.get("apiVersion") != API_VERSION:
                return
            job = self._job_of(pod, ref)
            if job is not None and (self._managed_elsewhere(job) or not is_finished(job)):
                return
        await self._patch_out_finalizer(pod)

    async def _patch_out_finalizer(self, pod: dict) -> None:
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}}
        try:
            await self.client.patch(PODS, pod["metadata"]["name"], patch, pod["metadata"]["namespace"],
                                    patch_type="strategic")
        except ApiError as e:
            if e.code != 404:
                raise

    @staticmethod
    def _managed_elsewhere(job: dict) -> bool:
        managed_by = job["spec"].get("managedBy")
        return managed_by is not None and managed_by != MANAGED_BY

    # sync

    async def sync(self, key: str) -> None:
        cached = self.jobs.store.get(key)
        if cached is None:
            self.expectations.forget(key)
            self.finalizer_expectations.forget(key)
            self.backoffs.pop(key, None)
            return
        if self._managed_elsewhere(cached):
            return
        if is_finished(cached):
            self.backoffs.pop(key, None)
            return
        if cached["spec"].get("completionMode", "NonIndexed") not in ("NonIndexed", "Indexed"):
            self.events.warning(self._ref(cached), "UnknownCompletionMode",
                                "Skipped Job sync because completion mode is unknown")
            return
        job = copy.deepcopy(cached)
        status = job.setdefault("status", {})
        status.setdefault("uncountedTerminatedPods", {})
        satisfied = self.expectations.satisfied(key)
        pods = await self._claim_pods(job)
        active = [p for p in pods if is_active(p)]
        uncounted = status["uncountedTerminatedPods"]
        ctx = _Sync(job, pods, active, ready=sum(map(is_ready, active)),
                    terminating=sum(map(is_terminating, pods)),
                    uncounted_succeeded=set(uncounted.get("succeeded") or ()),
                    uncounted_failed=set(uncounted.get("failed") or ()),
                    expected_rm=self.finalizer_expectations.pending(key))
        new_succeeded, new_failed = self._newly_finished(ctx)
        ctx.succeeded = status.get("succeeded", 0) + len(new_succeeded) + len(ctx.uncounted_succeeded)
        ctx.failed = (status.get("failed", 0) + sum(pfp.counts(job, p) for p in new_failed)
                      + len(ctx.uncounted_failed))
        now = self.clock.now()
        if not status.get("startTime") and not is_suspended(job):
            status["startTime"] = rfc3339(now)
        ctx.backoff = self.backoffs.get(key, BackoffRecord()).after(new_succeeded, new_failed)
        self._check_end(key, ctx, now)
        active_count = len(active)
        error: Exception | None = None
        suspend_changed = False
        if ctx.finished is not None:
            deleted_ready, deleted, error = await self._delete_pods(job, active, keep_finalizers=True)
            if deleted != active_count or not satisfied:
                ctx.finished = None  # pods may remain, or be in flight: not finished yet
            active_count -= deleted
            ctx.terminating += deleted
            ctx.ready -= deleted_ready
        else:
            managed = satisfied and not is_deleted(job)
            if managed:
                active_count, error = await self._manage(key, ctx, now)
            completions = job["spec"].get("completions")
            if completions is None:
                complete = ctx.succeeded > 0 and active_count == 0
            else:
                complete = ctx.succeeded >= completions and active_count == 0
            if complete:
                ctx.finished = new_condition("SuccessCriteriaMet", "True", "CompletionsReached",
                                             "Reached expected number of succeeded pods", now)
            elif managed:
                suspend_changed = self._note_suspension(ctx, now)
        needs_update = (suspend_changed or active_count != status.get("active", 0)
                        or ctx.ready != status.get("ready") or ctx.terminating != status.get("terminating"))
        status.update(active=active_count, ready=ctx.ready, terminating=ctx.terminating)
        await self._track_status(key, ctx, needs_update)
        if error is not None:
            raise error

    def _ref(self, job: dict) -> dict:
        return object_reference(job, API_VERSION, KIND)

    async def _claim_pods(self, job: dict) -> list[dict]:
        """The Job's pods, adopting matching orphans (with the tracking finalizer) and releasing strays."""
        pods = self.pods.store.by_index("namespace", job["metadata"]["namespace"])
        manager = RefManager.by_selector(self.client, PODS, job, JOBS, API_VERSION, KIND,
                                         finalizers=(TRACKING_FINALIZER,))
        return await manager.claim(pods)

    def _newly_finished(self, ctx: _Sync) -> tuple[list[dict], list[dict]]:
        """Pods that finished and are not counted anywhere yet: (succeeded, failed)."""
        succeeded, failed = [], []
        indexed = is_indexed(ctx.job)
        for pod in ctx.pods:
            uid = pod["metadata"]["uid"]
            if not has_finalizer(pod) or uid in ctx.expected_rm:
                continue
            if indexed and not 0 <= ix.completion_index(pod) < ctx.job["spec"]["completions"]:
                continue
            if phase(pod) == "Succeeded" and uid not in ctx.uncounted_succeeded:
                succeeded.append(pod)
            elif is_pod_failed(pod, ctx.job) and uid not in ctx.uncounted_failed:
                failed.append(pod)
        return succeeded, failed

    def _check_end(self, key: str, ctx: _Sync, now: datetime) -> None:
        """Whether the Job has met its success criteria or must fail; requeue for its deadline."""
        job, spec = ctx.job, ctx.job["spec"]
        ctx.finished = condition(job, "SuccessCriteriaMet")
        if ctx.finished is None:
            target = condition(job, "FailureTarget")
            message = pfp.fail_job_message(job, ctx.pods) if target is None else None
            if target is not None:
                ctx.finished = new_condition("Failed", "True", target.get("reason", ""),
                                             target.get("message", ""), now)
            elif message is not None:
                ctx.finished = new_condition("FailureTarget", "True", "PodFailurePolicy", message, now)
        deadline = spec.get("activeDeadlineSeconds")
        if ctx.finished is None:
            if ctx.failed > spec.get("backoffLimit", 6) or past_backoff_limit_on_failure(job, ctx.pods):
                ctx.finished = new_condition("FailureTarget", "True", "BackoffLimitExceeded",
                                             "Job has reached the specified backoff limit", now)
            elif deadline is not None and not is_suspended(job):
                elapsed = (now - parse_time(ctx.status["startTime"])).total_seconds()
                if elapsed >= deadline:
                    ctx.finished = new_condition("FailureTarget", "True", "DeadlineExceeded",
                                                 "Job was active longer than specified deadline", now)
                else:
                    self.queue.add_after(key, deadline - elapsed)
        if is_indexed(job):
            completions = spec["completions"]
            ctx.prev_succeeded_indexes = ix.parse(ctx.status.get("completedIndexes"), completions)
            ctx.succeeded_indexes = ix.with_indexes(ctx.prev_succeeded_indexes, (
                ix.completion_index(p) for p in ctx.pods
                if phase(p) == "Succeeded" and has_finalizer(p) and 0 <= ix.completion_index(p) < completions))
            ctx.succeeded = ix.total(ctx.succeeded_indexes)
            if jif.has_backoff_limit_per_index(job):
                self._check_failed_indexes(ctx, now)
            message = success_policy_message(job, ctx.succeeded_indexes) if ctx.finished is None else None
            if message is not None:
                ctx.finished = new_condition("SuccessCriteriaMet", "True", "SuccessPolicy", message, now)

    @staticmethod
    def _check_failed_indexes(ctx: _Sync, now: datetime) -> None:
        """The failed indexes; the Job fails with too many of them, or once every index has ended."""
        job, spec = ctx.job, ctx.job["spec"]
        ctx.failed_indexes = jif.failed_indexes(job, ctx.pods)
        failed = ix.total(ctx.failed_indexes)
        if ctx.finished is None:
            max_failed = spec.get("maxFailedIndexes")
            if max_failed is not None and failed > max_failed:
                ctx.finished = new_condition("FailureTarget", "True", "MaxFailedIndexesExceeded",
                                             "Job has exceeded the specified maximal number of failed indexes", now)
            elif failed > 0 and failed + ix.total(ctx.succeeded_indexes) >= spec["completions"]:
                ctx.finished = new_condition("FailureTarget", "True", "FailedIndexes", "Job has failed indexes", now)
        ctx.delayed = jif.delayed_deletions(job, ctx.pods, ctx.active, ctx.expected_rm, ctx.succeeded_indexes,
                                            ctx.failed_indexes)

    def _note_suspension(self, ctx: _Sync, now: datetime) -> bool:
        """The Suspended condition, an event when it changes; a resumed Job starts its clock again."""
        conditions = ctx.status.setdefault("conditions", [])
        if is_suspended(ctx.job):
            changed = ensure_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended", now)
            if changed:
                self.events.normal(self._ref(ctx.job), "Suspended", "Job suspended")
        else:
            changed = ensure_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed", now)
            if changed:
                self.events.normal(self._ref(ctx.job), "Resumed", "Job resumed")
                ctx.status["startTime"] = rfc3339(now)
        if not conditions:
            del ctx.status["conditions"]
        return changed

    # pods

    async def _manage(self, key: str, ctx: _Sync, now: datetime) -> tuple[int, Exception | None]:
        """Create or delete pods toward the parallelism the Job wants now; answers the active count."""
        job, spec = ctx.job, ctx.job["spec"]
        active = len(ctx.active)
        if is_suspended(job):
            doomed = removal_candidates(job, ctx.active, active)
        else:
            completions = spec.get("completions")
            parallelism = spec.get("parallelism", 1)
            if completions is None:
                want = active if ctx.succeeded > 0 else parallelism
            else:
                want = max(0, min(completions - ctx.succeeded, parallelism))
            doomed = removal_candidates(job, ctx.active, max(0, active - want))[:MAX_POD_CREATE_DELETE_PER_SYNC]
            if not doomed:
                terminating = ctx.terminating if only_replace_failed(job) else 0
                missing = want - terminating - active
                if missing <= 0:
                    return active, None
                wait = 0.0 if jif.has_backoff_limit_per_index(job) else \
                    ctx.backoff.remaining(now, self.backoff_base, self.backoff_cap)
                if wait > 0:
                    self.queue.add_after(key, wait)
                    return active, None
                created, error = await self._create_pods(key, ctx, min(missing, MAX_POD_CREATE_DELETE_PER_SYNC), now)
                return active + created, error
        self.expectations.expect_deletions(key, len(doomed))
        deleted_ready, deleted, error = await self._delete_pods(job, doomed, keep_finalizers=False, key=key)
        ctx.terminating += deleted
        ctx.ready -= deleted_ready
        return active - deleted, error

    async def _create_pods(self, key: str, ctx: _Sync, count: int, now: datetime) -> tuple[int, Exception | None]:
        """Create the missing pods (for an Indexed Job, of the lowest pending indexes, those whose own
        back-off is over) in slow-start batches; answers (how many were created, the first error)."""
        job = ctx.job
        indexes: list[int] = []
        if is_indexed(job):
            busy = ctx.active + ([p for p in ctx.pods if is_terminating(p)] if only_replace_failed(job) else [])
            taken = ix.with_indexes(ctx.succeeded_indexes,
                                    (i for i in map(ix.completion_index, busy) if i != ix.UNKNOWN))
            indexes = ix.first_pending(count, job["spec"]["completions"], ix.merge(taken, ctx.failed_indexes or []))
            if jif.has_backoff_limit_per_index(job):
                indexes, wait = self._indexes_past_backoff(ctx, indexes, now)
                if wait > 0:
                    self.queue.add_after(key, wait)
                    return 0, None
            count = len(indexes)
        if count == 0:
            return 0, None
        self.expectations.expect_creations(key, count)
        template = pod_template(job)
        queued = iter(indexes or [ix.UNKNOWN] * count)
        created, error = await slow_start(count, lambda: self._create_pod(ctx, template, next(queued)))
        self.expectations.lower(key, adds=count - created)  # failed or skipped: never to be seen
        return created, (None if error is None or namespace_terminating(error) else error)

    def _indexes_past_backoff(self, ctx: _Sync, indexes: list[int], now: datetime) -> tuple[list[int], float]:
        """The indexes whose back-off is over; if none, how long until the first is."""
        ready, waits = [], []
        for index in indexes:
            wait = jif.retry_wait(ctx.delayed.get(index), now, self.backoff_base, self.backoff_cap)
            if wait > 0:
                waits.append(wait)
            else:
                ready.append(index)
        return ready, (0.0 if ready else min(waits, default=0.0))

    async def _create_pod(self, ctx: _Sync, template: dict, index: int) -> None:
        job = ctx.job
        name = job["metadata"]["name"]
        if index != ix.UNKNOWN:
            template = copy.deepcopy(template)
            meta = template.setdefault("metadata", {})
            meta.setdefault("annotations", {})[ix.COMPLETION_INDEX] = str(index)
            if jif.has_backoff_limit_per_index(job):
                meta["annotations"].update(jif.replacement_counts(job, ctx.delayed.get(index)))
            meta.setdefault("labels", {})[ix.COMPLETION_INDEX] = str(index)
            template["spec"]["hostname"] = f"{name}-{index}"
        pod = from_template(template, name, controller_ref(job, API_VERSION, KIND))
        if index != ix.UNKNOWN:
            pod["metadata"]["generateName"] = indexed_generate_name(name, index)
        await self.pod_control.create(self._ref(job), pod, job["metadata"]["namespace"])

    async def _delete_pods(self, job: dict, pods: list[dict], keep_finalizers: bool,
                           key: str | None = None) -> tuple[int, int, Exception | None]:
        """Delete pods (first removing their finalizer unless kept); answers (ready deleted, deleted, error)."""
        async def delete(pod: dict) -> bool:
            meta = pod["metadata"]
            deleted = False
            try:
                if not keep_finalizers and has_finalizer(pod):
                    await self._patch_out_finalizer(pod)
                deleted = await self.pod_control.delete(self._ref(job), meta["namespace"], meta["name"])
            finally:
                if not deleted and key is not None:
                    self.expectations.deletion_observed(key)  # a deletion no watch event will show
            return True  # deleted, or already gone

        results = await asyncio.gather(*(delete(p) for p in pods), return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        done = [p for p, r in zip(pods, results, strict=True) if r is True]
        return sum(map(is_ready, done)), len(done), (errors[0] if errors else None)

    # status

    async def _track_status(self, key: str, ctx: _Sync, needs_flush: bool) -> None:
        """Record finished pods as uncounted, remove their finalizers, count them, and end the Job when
        it may; at most MAX_UNCOUNTED_PODS at a time (the status write requeues the rest)."""
        job = ctx.job
        indexed = is_indexed(job)
        completions = job["spec"].get("completions")
        pods = sorted(ctx.pods, key=ix.completion_index) if indexed else ctx.pods
        holding = {p["metadata"]["uid"] for p in pods
                   if has_finalizer(p) and p["metadata"]["uid"] not in ctx.expected_rm}
        needs_flush |= count_uncounted(ctx.status, holding)
        uncounted = ctx.status["uncountedTerminatedPods"]
        release: list[dict] = []
        new_indexes: list[int] = []
        reached_max = False
        for pod in pods:
            uid = pod["metadata"]["uid"]
            if not has_finalizer(pod) or uid in ctx.expected_rm:
                continue
            failed = is_pod_failed(pod, job)
            if not self._may_release(ctx, pod, failed):
                continue
            release.append(pod)
            index = ix.completion_index(pod)
            if phase(pod) == "Succeeded" and uid not in ctx.uncounted_failed:
                if indexed:
                    if 0 <= index < completions and not ix.has(ctx.prev_succeeded_indexes, index):
                        new_indexes.append(index)
                        needs_flush = True
                elif uid not in ctx.uncounted_succeeded:
                    uncounted.setdefault("succeeded", []).append(uid)
                    needs_flush = True
            elif (failed or (ctx.finished is not None and ctx.finished["type"] != "SuccessCriteriaMet")) \
                    and uid not in ctx.uncounted_failed and (not indexed or 0 <= index < completions) \
                    and pfp.counts(job, pod):
                uncounted.setdefault("failed", []).append(uid)  # unless an Ignore rule matched it
                needs_flush = True
            in_flight = len(new_indexes) + len(uncounted.get("succeeded") or ()) + len(uncounted.get("failed") or ())
            if in_flight >= MAX_UNCOUNTED_PODS:
                reached_max = True
                break
        if indexed:
            ctx.succeeded_indexes = ix.with_indexes(ctx.succeeded_indexes, new_indexes)
            text = ix.to_string(ctx.succeeded_indexes)
            needs_flush |= text != ctx.status.get("completedIndexes", "")
            ctx.status["succeeded"] = ix.total(ctx.succeeded_indexes)
            ctx.status["completedIndexes"] = text
            failed_text = None if ctx.failed_indexes is None else ix.to_string(ctx.failed_indexes)
            if failed_text != ctx.status.get("failedIndexes"):
                needs_flush = True
                if failed_text is None:
                    del ctx.status["failedIndexes"]
                else:
                    ctx.status["failedIndexes"] = failed_text
        now = self.clock.now()
        finished = ctx.finished
        if finished is not None and finished["type"] == "FailureTarget":
            ctx.status.setdefault("conditions", []).append(finished)
            needs_flush = True
            ctx.finished = new_condition("Failed", "True", finished.get("reason", ""), finished.get("message", ""), now)
        elif finished is not None and finished["type"] == "SuccessCriteriaMet":
            if condition(job, "SuccessCriteriaMet") is None:
                ctx.status.setdefault("conditions", []).append(finished)
                needs_flush = True
            ctx.finished = new_condition("Complete", "True", finished.get("reason", ""),
                                         finished.get("message", ""), now)
        needs_flush = await self._flush_and_release(key, ctx, release, holding, needs_flush)
        ended = not reached_max and self._enact_finished(ctx)
        if ended or needs_flush:
            await self._write_status(ctx)
            if ended:
                self._record_finished(ctx)

    @staticmethod
    def _may_release(ctx: _Sync, pod: dict, failed: bool) -> bool:
        """Whether a pod's finalizer may go: the Job is ending or gone, or the pod succeeded, or it failed
        and is not the pod an index keeps until its replacement carries the index's failure count."""
        if is_deleted(ctx.job) or ctx.finished is not None or phase(pod) == "Succeeded":
            return True
        if not failed:
            return False
        kept = ctx.delayed.get(ix.completion_index(pod))
        return kept is None or kept["metadata"]["uid"] != pod["metadata"]["uid"]

    async def _flush_and_release(self, key: str, ctx: _Sync, release: list[dict], holding: set[str],
                                 needs_flush: bool) -> bool:
        """Write the uncounted pods, then remove their finalizers and count those removed."""
        if needs_flush:
            await self._write_status(ctx)
            self.backoffs[key] = ctx.backoff
            needs_flush = False
        error = None
        if release:
            self.finalizer_expectations.expect(key, [p["metadata"]["uid"] for p in release])
            results = await asyncio.gather(*(self._patch_out_finalizer(p) for p in release), return_exceptions=True)
            for pod, result in zip(release, results, strict=True):
                if isinstance(result, Exception):
                    self.finalizer_expectations.observed(key, pod["metadata"]["uid"])
                    error = error or result
                else:
                    holding.discard(pod["metadata"]["uid"])
        needs_flush |= count_uncounted(ctx.status, holding)
        if error is not None:
            if needs_flush:
                await self._write_status(ctx)
            raise error
        return needs_flush

    def _enact_finished(self, ctx: _Sync) -> bool:
        """Add Complete or Failed once nothing is left uncounted or terminating."""
        finished = ctx.finished
        if finished is None:
            return False
        uncounted = ctx.status.get("uncountedTerminatedPods") or {}
        if uncounted.get("succeeded") or uncounted.get("failed") or ctx.terminating > 0:
            return False
        ensure_condition(ctx.status.setdefault("conditions", []), finished["type"], "True",
                         finished.get("reason", ""), finished.get("message", ""), self.clock.now())
        if finished["type"] == "Complete":
            ctx.status["completionTime"] = finished["lastTransitionTime"]
        return True

    def _record_finished(self, ctx: _Sync) -> None:
        job, finished = ctx.job, ctx.finished
        assert finished is not None
        if finished["type"] == "Complete":
            completions = job["spec"].get("completions")
            if completions is not None and ctx.status.get("succeeded", 0) > completions:
                self.events.warning(self._ref(job), "TooManySucceededPods",
                                    "Too many succeeded pods running after completion count reached")
            self.events.normal(self._ref(job), "Completed", "Job completed")
        else:
            self.events.warning(self._ref(job), finished.get("reason", ""), finished.get("message", ""))

    async def _write_status(self, ctx: _Sync) -> None:
        body = {**ctx.job, "status": wire_status(ctx.status)}
        written = await self.client.update_status(JOBS, body)
        written.setdefault("status", {}).setdefault("uncountedTerminatedPods", {})
        # keep counting on what was written, with the fields the API leaves out when zero
        for field_ in ("active", "succeeded", "failed"):
            written["status"].setdefault(field_, 0)
        ctx.job = written
