"""The Job controller's view of pods: which count as failed, the tracking finalizer, the pods it creates
(with their completion index) and the ones it gives up first."""

from __future__ import annotations

import copy

from timoneiro.controllers import job_indexes as ix
from timoneiro.controllers.pods import is_deleted, phase, removal_order

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
INDEX_ENV = "JOB_COMPLETION_INDEX"
MAX_GENERATED_NAME = 58  # a generateName longer than this is cut to leave room for the suffix


def has_finalizer(pod: dict) -> bool:
    return TRACKING_FINALIZER in (pod["metadata"].get("finalizers") or ())


def is_indexed(job: dict) -> bool:
    return job["spec"].get("completionMode") == "Indexed"


def only_replace_failed(job: dict) -> bool:
    """Whether a pod being deleted is replaced only once it has failed (podReplacementPolicy: Failed)."""
    return job["spec"].get("podReplacementPolicy") == "Failed" or job["spec"].get("podFailurePolicy") is not None


def is_pod_failed(pod: dict, job: dict) -> bool:
    """Failed, or (unless only failed pods are replaced) deleted before it succeeded."""
    if phase(pod) == "Failed":
        return True
    if only_replace_failed(job):
        return False
    return is_deleted(pod) and phase(pod) != "Succeeded"


def past_backoff_limit_on_failure(job: dict, pods: list[dict]) -> bool:
    """With restartPolicy OnFailure, container restarts of running pods count against backoffLimit."""
    if job["spec"]["template"].get("spec", {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        if phase(pod) in ("Running", "Pending"):
            status = pod.get("status") or {}
            for s in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
                restarts += s.get("restartCount") or 0
    limit = job["spec"].get("backoffLimit", 6)
    return restarts > 0 if limit == 0 else restarts >= limit


def pod_template(job: dict) -> dict:
    """The Job's pod template with the tracking finalizer and, for an Indexed Job, the index in the env."""
    template = copy.deepcopy(job["spec"]["template"])
    if is_indexed(job):
        spec = template.setdefault("spec", {})
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            env = container.setdefault("env", [])
            if not any(v.get("name") == INDEX_ENV for v in env):
                env.append({"name": INDEX_ENV, "valueFrom": {"fieldRef": {
                    "fieldPath": f"metadata.labels['{ix.COMPLETION_INDEX}']"}}})
    finalizers = template.setdefault("metadata", {}).setdefault("finalizers", [])
    if TRACKING_FINALIZER not in finalizers:
        finalizers.append(TRACKING_FINALIZER)
    return template


def indexed_generate_name(job_name: str, index: int) -> str:
    """"<job>-<index>-", the job name cut if needed to leave room for the random suffix."""
    suffix = f"-{index}-"
    prefix = job_name + suffix
    if len(prefix) > MAX_GENERATED_NAME:
        prefix = prefix[:MAX_GENERATED_NAME - len(suffix)] + suffix
    return prefix


def removal_candidates(job: dict, pods: list[dict], at_least: int) -> list[dict]:
    """Active pods to delete: for an Indexed Job first those with a duplicate, missing or out-of-range
    index, then by removal order until there are at_least."""
    remove: list[dict] = []
    left = list(pods)
    if is_indexed(job):
        completions = job["spec"]["completions"]
        by_index: dict[int, list[dict]] = {}
        for pod in pods:
            by_index.setdefault(ix.completion_index(pod), []).append(pod)
        left = []
        for index, group in sorted(by_index.items()):
            if index == ix.UNKNOWN or index >= completions:
                remove += group
            else:
                group.sort(key=removal_order)
                remove += group[:-1]
                left.append(group[-1])
    if len(remove) < at_least:
        left.sort(key=removal_order)
        remove += left[:at_least - len(remove)]
    return remove
