"""The delay before a Job replaces failed pods: it doubles with each failure since the last success.

As upstream, the record per Job is kept in memory only: consecutive failures after the last success
and when the last of them happened, taken from the pods' finish times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from timoneiro.api.printers.age import parse_time


@dataclass(frozen=True)
class BackoffRecord:
    failures_after_last_success: int = 0
    last_failure: datetime | None = None

    def after(self, succeeded: list[dict], failed: list[dict]) -> BackoffRecord:
        """The record once newly finished pods are counted."""
        failed_times = sorted(finish_time(p) for p in failed)
        if not succeeded:
            if not failed_times:
                return self
            return BackoffRecord(self.failures_after_last_success + len(failed_times), failed_times[-1])
        last_success = max(finish_time(p) for p in succeeded)
        later = [t for t in failed_times if t > last_success]
        return BackoffRecord(len(later), later[-1] if later else None)

    def remaining(self, now: datetime, base: float, cap: float) -> float:
        """Seconds to wait before creating pods again."""
        return backoff_left(self.failures_after_last_success, self.last_failure, now, base, cap)


def backoff_left(failures: int, last_failure: datetime | None, now: datetime, base: float, cap: float) -> float:
    """What is left of the back-off after `failures` failures, the last at last_failure: base seconds after
    the first, doubling with each further one, at most cap."""
    if not failures or last_failure is None:
        return 0.0
    delay = min(cap, base * 2 ** min(failures - 1, 64))
    return max(0.0, delay - (now - last_failure).total_seconds())


def finish_time(pod: dict) -> datetime:
    """When a pod finished: its containers' last finish, else its Ready=False transition, else when it
    was deleted (less the grace period), else its creation."""
    status = pod.get("status") or {}
    finished = []
    for s in status.get("containerStatuses") or ():
        t = parse_time(((s.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        if t is None:
            finished = []
            break
        finished.append(t)
    if finished:
        return max(finished)
    for c in status.get("conditions") or ():
        if c.get("type") == "Ready" and c.get("status") == "False":
            t = parse_time(c.get("lastTransitionTime"))
            if t is not None:
                return t
    meta = pod["metadata"]
    deleted = parse_time(meta.get("deletionTimestamp"))
    if deleted is not None:
        return deleted - timedelta(seconds=meta.get("deletionGracePeriodSeconds") or 0)
    return parse_time(meta.get("creationTimestamp")) or datetime.fromtimestamp(0, UTC)
