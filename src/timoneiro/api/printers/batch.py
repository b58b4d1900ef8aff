"""Jobs and cron jobs: status, completions and duration as upstream's printJob computes them."""

from __future__ import annotations

from datetime import datetime

from timoneiro.api.printers.age import human_duration, parse_time, since
from timoneiro.api.printers.columns import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    SELECTOR,
    Printer,
    column,
    condition_true,
    container_cells,
    created,
    meta,
    name,
    spec,
    status,
    template_spec,
)
from timoneiro.api.printers.labels import format_label_selector


def job_cells(job: dict, now: datetime) -> list:
    job_spec, job_status = spec(job), status(job)
    succeeded = job_status.get("succeeded", 0)
    if job_spec.get("completions") is not None:
        completions = f"{succeeded}/{job_spec['completions']}"
    elif (job_spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {job_spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"

    started = parse_time(job_status.get("startTime"))
    finished = parse_time(job_status.get("completionTime"))
    duration = ""
    if started is not None:
        duration = human_duration((finished or now) - started)

    return [
        name(job), _job_status(job), completions, duration, since(created(job), now),
        *container_cells(template_spec(job)),
        format_label_selector(job_spec.get("selector")),
    ]


def _job_status(job: dict) -> str:
    conditions = status(job).get("conditions")
    if condition_true(conditions, "Complete"):
        return "Complete"
    if condition_true(conditions, "Failed"):
        return "Failed"
    if meta(job).get("deletionTimestamp"):
        return "Terminating"
    if condition_true(conditions, "Suspended"):
        return "Suspended"
    if condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def cron_job_cells(obj: dict, now: datetime) -> list:
    cron_spec, cron_status = spec(obj), status(obj)
    last = cron_status.get("lastScheduleTime")
    suspend = cron_spec.get("suspend")
    job_spec = ((cron_spec.get("jobTemplate") or {}).get("spec")) or {}
    return [
        name(obj),
        cron_spec.get("schedule", ""),
        cron_spec.get("timeZone") if cron_spec.get("timeZone") is not None else "<none>",
        "<unset>" if suspend is None else str(bool(suspend)),
        len(cron_status.get("active") or []),
        "<none>" if last is None else since(last, now),
        since(created(obj), now),
        *container_cells(template_spec({"spec": job_spec})),
        format_label_selector(job_spec.get("selector")),
    ]


PRINTERS = {
    ("batch", "Job"): Printer(
        (
            NAME,
            column("Status", "Status of the job."),
            column("Completions", "Succeeded pods out of the completions wanted."),
            column("Duration", "Time the job ran, or has been running."),
            AGE, CONTAINERS, IMAGES, SELECTOR,
        ),
        job_cells,
    ),
    ("batch", "CronJob"): Printer(
        (
            NAME,
            column("Schedule", "The schedule in Cron format."),
            column("Timezone", "The time zone the schedule is read in."),
            column("Suspend", "Whether new runs are suspended.", "boolean"),
            column("Active", "Jobs currently running.", "integer"),
            column("Last Schedule", "Time since a job was last scheduled."),
            AGE, CONTAINERS, IMAGES, SELECTOR,
        ),
        cron_job_cells,
    ),
}
