"""spec.backoffLimitPerIndex of an Indexed Job: each index retries on its own, and fails on its own.

As upstream, the failures of an index travel on its pods: the replacement of a failed pod carries the
batch.kubernetes.io/job-index-failure-count annotation (and job-index-ignored-failure-count for failures
an Ignore rule matched), one more than the pod it replaces. So that the count is not lost, the finalizer of
the last failed pod of an index is kept until its replacement exists. An index fails once a pod of it fails
with the count at backoffLimitPerIndex, or matches a FailIndex rule; status.failedIndexes lists them.
"""

from __future__ import annotations

from datetime import datetime

from timoneiro.controllers import job_failure_policy as pfp
from timoneiro.controllers import job_indexes as ix
from timoneiro.controllers.job_backoff import backoff_left, finish_time
from timoneiro.controllers.job_pods import has_finalizer, is_pod_failed

FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
IGNORED_FAILURE_COUNT = "batch.kubernetes.io/job-index-ignored-failure-count"
_INT32_MAX = 2**31 - 1


def has_backoff_limit_per_index(job: dict) -> bool:
    return job["spec"].get("backoffLimitPerIndex") is not None


def _count(pod: dict, annotation: str) -> int:
    """An annotation's count; 0 if missing, not a number, or out of int32's range."""
    try:
        value = int((pod["metadata"].get("annotations") or {}).get(annotation))
    except (TypeError, ValueError):
        return 0
    return value if 0 <= value <= _INT32_MAX else 0


def _valid_index(job: dict, pod: dict) -> int:
    """The pod's completion index if it is one the Job runs, else UNKNOWN."""
    index = ix.completion_index(pod)
    return index if 0 <= index < job["spec"]["completions"] else ix.UNKNOWN


def is_index_failed(job: dict, pod: dict) -> bool:
    """Whether this pod's failure fails its index."""
    if not is_pod_failed(pod, job):
        return False
    found = pfp.match(job, pod)
    if found.action == pfp.FAIL_INDEX:
        return True
    return found.counts and _count(pod, FAILURE_COUNT) >= job["spec"]["backoffLimitPerIndex"]


def failed_indexes(job: dict, pods: list[dict]) -> ix.Intervals:
    """status.failedIndexes with the indexes that failed since (pods not counted yet)."""
    previous = ix.parse((job.get("status") or {}).get("failedIndexes"), job["spec"]["completions"])
    return ix.with_indexes(previous, (
        _valid_index(job, p) for p in pods
        if _valid_index(job, p) != ix.UNKNOWN and has_finalizer(p) and is_index_failed(job, p)))


def delayed_deletions(job: dict, pods: list[dict], active: list[dict], expected_rm: set[str],
                      succeeded: ix.Intervals, failed: ix.Intervals) -> dict[int, dict]:
    """Per index still to be retried, the failed pod whose finalizer stays until its replacement exists:
    the one with the highest failure count, the latest to finish among equals."""
    running = {ix.completion_index(p) for p in active}
    out: dict[int, dict] = {}
    for pod in pods:
        if not has_finalizer(pod) or pod["metadata"]["uid"] in expected_rm or not is_pod_failed(pod, job):
            continue
        index = _valid_index(job, pod)
        if index == ix.UNKNOWN or ix.has(succeeded, index) or ix.has(failed, index) or index in running:
            continue
        last = out.get(index)
        if last is None or (_absolute_failures(last) <= _absolute_failures(pod)
                            and finish_time(pod) >= finish_time(last)):
            out[index] = pod
    return out


def _absolute_failures(pod: dict) -> int:
    return _count(pod, FAILURE_COUNT) + _count(pod, IGNORED_FAILURE_COUNT)


def replacement_counts(job: dict, replaced: dict | None) -> dict[str, str]:
    """The failure-count annotations of the pod that replaces `replaced` (none: the index's first pod)."""
    if replaced is None:
        return {FAILURE_COUNT: "0"}
    failures, ignored = _count(replaced, FAILURE_COUNT), _count(replaced, IGNORED_FAILURE_COUNT)
    if pfp.counts(job, replaced):
        failures += 1
    else:
        ignored += 1
    out = {FAILURE_COUNT: str(failures)}
    if ignored:
        out[IGNORED_FAILURE_COUNT] = str(ignored)
    return out


def retry_wait(replaced: dict | None, now: datetime, base: float, cap: float) -> float:
    """Seconds before an index may get a new pod: the back-off of its failures so far."""
    if replaced is None:
        return 0.0
    return backoff_left(_absolute_failures(replaced) + 1, finish_time(replaced), now, base, cap)

