"""A Job's status as the Job controller writes it: conditions, the success policy, the serialized form,
and counting pods that left status.uncountedTerminatedPods."""

from __future__ import annotations

from datetime import datetime

from timoneiro.controllers import job_indexes as ix
from timoneiro.controllers.clock import rfc3339


def condition(job: dict, type_: str) -> dict | None:
    """The condition of that type if it is True."""
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_ and c.get("status") == "True":
            return c
    return None


def finished_type(job: dict) -> str | None:
    """"Complete" or "Failed" once the Job has ended."""
    for type_ in ("Complete", "Failed"):
        if condition(job, type_) is not None:
            return type_
    return None


def is_finished(job: dict) -> bool:
    return finished_type(job) is not None


def new_condition(type_: str, status: str, reason: str, message: str, now: datetime) -> dict:
    c = {"type": type_, "status": status, "lastProbeTime": rfc3339(now), "lastTransitionTime": rfc3339(now)}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def ensure_condition(conditions: list[dict], type_: str, status: str, reason: str, message: str,
                     now: datetime) -> bool:
    """Set a condition (a new False one is not added); answers whether anything changed."""
    for c in conditions:
        if c.get("type") == type_:
            if (c.get("status"), c.get("reason", ""), c.get("message", "")) == (status, reason, message):
                return False
            c.clear()
            c.update(new_condition(type_, status, reason, message, now))
            return True
    if status == "False":
        return False
    conditions.append(new_condition(type_, status, reason, message, now))
    return True


def success_policy_message(job: dict, succeeded: ix.Intervals) -> str | None:
    """The message of the first spec.successPolicy rule the succeeded indexes meet."""
    policy = job["spec"].get("successPolicy")
    if not policy or not succeeded:
        return None
    completions = job["spec"]["completions"]
    done = ix.members(succeeded)
    for n, rule in enumerate(policy.get("rules") or ()):
        count = rule.get("succeededCount")
        if rule.get("succeededIndexes") is not None:
            required = ix.members(ix.parse(rule["succeededIndexes"], completions))
            if not required:
                continue
            met = len(required & done)
            if met == len(required) or (count is not None and met >= count):
                return f"Matched rules at index {n}"
        elif count is not None and len(done) >= count:
            return f"Matched rules at index {n}"
    return None


def wire_status(status: dict) -> dict:
    """The status as the API serializes it: zero counters, empty lists and strings left out."""
    out = {k: v for k, v in status.items()
           if not (k in ("active", "succeeded", "failed") and not v) and not (k == "completedIndexes" and not v)}
    uncounted = status.get("uncountedTerminatedPods")
    if uncounted is not None:
        out["uncountedTerminatedPods"] = {k: v for k, v in uncounted.items() if v}
    return out


def count_uncounted(status: dict, holding: set[str]) -> bool:
    """Move uncounted pods whose finalizer is gone to the counters; answers whether any moved."""
    uncounted = status["uncountedTerminatedPods"]
    changed = False
    for kind in ("succeeded", "failed"):
        uids = uncounted.get(kind) or []
        left = [u for u in uids if u in holding]
        if len(left) != len(uids):
            status[kind] = status.get(kind, 0) + len(uids) - len(left)
            uncounted[kind] = left
            changed = True
    return changed
