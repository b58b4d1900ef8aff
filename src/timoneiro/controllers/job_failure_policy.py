"""A Job's spec.podFailurePolicy: which rule a failed pod matches, and what the Job does about it.

As upstream: rules are tried in order; an onExitCodes rule matches the first terminated container (app
containers before init containers) with a non-zero exit code the operator accepts, an onPodConditions rule
the first pod condition whose type and status a pattern names (e.g. DisruptionTarget, set when a pod is
evicted or preempted). FailJob ends the Job at once, Ignore leaves the failure out of the backoffLimit,
Count counts it as usual, FailIndex fails the pod's index (only with backoffLimitPerIndex).
"""

from __future__ import annotations

from dataclasses import dataclass

from timoneiro.controllers.job_pods import is_pod_failed

FAIL_JOB, FAIL_INDEX, IGNORE, COUNT = "FailJob", "FailIndex", "Ignore", "Count"


@dataclass(frozen=True)
class Match:
    action: str | None  # None: no rule matched
    counts: bool  # whether the failure counts against backoffLimit (and backoffLimitPerIndex)
    message: str | None = None  # why the Job fails, for FailJob


NO_MATCH = Match(None, True)


def _exit_code_matches(code: int, requirement: dict) -> bool:
    values = requirement.get("values") or ()
    operator = requirement.get("operator")
    if operator == "In":
        return code in values
    if operator == "NotIn":
        return code not in values
    return False


def _matching_container(pod: dict, requirement: dict) -> tuple[str, int] | None:
    """(name, exit code) of the first terminated container the requirement matches."""
    status = pod.get("status") or {}
    wanted = requirement.get("containerName")
    for s in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        terminated = (s.get("state") or {}).get("terminated")
        if terminated is None or (wanted is not None and wanted != s.get("name")):
            continue
        code = terminated.get("exitCode") or 0
        if code != 0 and _exit_code_matches(code, requirement):
            return s.get("name", ""), code
    return None


def _matching_condition(pod: dict, patterns: list[dict]) -> str | None:
    """The type of the first pod condition a pattern matches."""
    for c in (pod.get("status") or {}).get("conditions") or ():
        for pattern in patterns:
            if c.get("type") == pattern.get("type") and c.get("status") == pattern.get("status", "True"):
                return c.get("type")
    return None


def _matches(rule: dict, index: int, pod: dict) -> str | None:
    """If the rule matches the pod, what the Job's failure message would say of it."""
    meta = pod["metadata"]
    who, action = f"{meta.get('namespace')}/{meta['name']}", rule.get("action")
    if rule.get("onExitCodes") is not None:
        found = _matching_container(pod, rule["onExitCodes"])
        return None if found is None else (f"Container {found[0]} for pod {who} failed with exit code {found[1]} "
                                           f"matching {action} rule at index {index}")
    if rule.get("onPodConditions") is not None:
        type_ = _matching_condition(pod, rule["onPodConditions"])
        return None if type_ is None else f"Pod {who} has condition {type_} matching {action} rule at index {index}"
    return None


def match(job: dict, pod: dict) -> Match:
    """What the Job's pod failure policy says about a failed pod."""
    policy = job["spec"].get("podFailurePolicy")
    if policy is None:
        return NO_MATCH
    for index, rule in enumerate(policy.get("rules") or ()):
        why = _matches(rule, index, pod)
        if why is None:
            continue
        action = rule.get("action")
        if action == IGNORE:
            return Match(IGNORE, False)
        if action in (COUNT, FAIL_INDEX):
            return Match(action, True)
        if action == FAIL_JOB:
            return Match(FAIL_JOB, True, why)
    return NO_MATCH


def counts(job: dict, pod: dict) -> bool:
    """Whether a failed pod counts against the Job's limits (not if an Ignore rule matches it)."""
    return match(job, pod).counts


def fail_job_message(job: dict, pods: list[dict]) -> str | None:
    """Why the Job must fail: the message of the first failed pod a FailJob rule matches."""
    if job["spec"].get("podFailurePolicy") is None:
        return None
    for pod in pods:
        if is_pod_failed(pod, job):
            message = match(job, pod).message
            if message is not None:
                return message
    return None
