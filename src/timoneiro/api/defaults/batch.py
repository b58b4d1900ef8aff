"""Defaults of batch/v1 Jobs and CronJobs (pkg/apis/batch/v1/defaults.go).

Not here: the selector and the controller-uid / job-name template labels of a Job whose
manualSelector is false; the job strategy generates those on create from the Job's uid. Upstream
copies template labels to an unlabelled Job each time it decodes one, so labels it generated show
on the Job too: call `job` again after the strategy has added them to get the same result.
A CronJob's jobTemplate gets PodSpec defaults only, never the Job defaults.
"""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.api.defaults import fill, podspec

BACKOFF_LIMIT = 6
BACKOFF_LIMIT_PER_INDEX_CAP = 2**31 - 1


def job(obj: dict) -> None:
    spec = fill.ensure(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    fill.if_nil(spec, "parallelism", 1)
    per_index = spec.get("backoffLimitPerIndex") is not None
    fill.if_nil(spec, "backoffLimit", BACKOFF_LIMIT_PER_INDEX_CAP if per_index else BACKOFF_LIMIT)
    template = fill.ensure(spec, "template")
    labels = fill.child(fill.child(template, "metadata"), "labels")
    if labels:
        fill.if_zero(fill.ensure(obj, "metadata"), "labels", dict(labels))
    fill.if_nil(spec, "completionMode", "NonIndexed")
    fill.if_nil(spec, "suspend", False)
    failure_policy = fill.child(spec, "podFailurePolicy")
    for rule in fill.dicts(failure_policy, "rules"):
        for pattern in fill.dicts(rule, "onPodConditions"):
            fill.if_zero(pattern, "status", "True")
    replacement = "Failed" if failure_policy is not None else "TerminatingOrFailed"
    fill.if_nil(spec, "podReplacementPolicy", replacement)
    fill.if_nil(spec, "manualSelector", False)
    podspec.template(template)


def cron_job(obj: dict) -> None:
    spec = fill.ensure(obj, "spec")
    fill.if_zero(spec, "concurrencyPolicy", "Allow")
    fill.if_nil(spec, "suspend", False)
    fill.if_nil(spec, "successfulJobsHistoryLimit", 3)
    fill.if_nil(spec, "failedJobsHistoryLimit", 1)
    job_template = fill.ensure(spec, "jobTemplate")
    fill.embedded_metadata(job_template)
    podspec.template(fill.ensure(fill.ensure(job_template, "spec"), "template"))


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "CronJob": cron_job,
    "Job": job,
}
