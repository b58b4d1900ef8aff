"""The conditions a terminating namespace carries while the namespace controller empties it.

As upstream's deletion conditions: five types, each True with why while something is wrong or left, and
False with a fixed reason and message otherwise; every pass writes all five, so `kubectl get ns X -o yaml`
shows what a namespace stuck in Terminating waits on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from timoneiro.controllers.clock import rfc3339

DISCOVERY = "NamespaceDeletionDiscoveryFailure"
GROUP_VERSION = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"

# type -> (reason, message) when nothing is wrong
_OK = {
    DISCOVERY: ("ResourcesDiscovered", "All resources successfully discovered"),
    GROUP_VERSION: ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    CONTENT_FAILURE: ("ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    CONTENT_REMAINING: ("ContentRemoved", "All content successfully removed"),
    FINALIZERS_REMAINING: ("ContentRemoved", "All content successfully removed"),
}


@dataclass
class DeletionReport:
    """What one pass over a namespace's content found."""

    discovery_error: str | None = None
    group_version_error: str | None = None
    content_errors: list[str] = field(default_factory=list)
    remaining: dict[tuple[str, str], int] = field(default_factory=dict)  # (group, resource) -> objects left
    finalizers: dict[str, int] = field(default_factory=dict)  # finalizer -> objects it holds


def discovery_failure(failed: dict[str, str]) -> str:
    """The message of group documents that could not be read (client-go's ErrGroupDiscoveryFailed)."""
    groups = ", ".join(sorted(f"{gv}: {why}" for gv, why in failed.items()))
    return (f"Discovery failed for some groups, {len(failed)} failing: "
            f"unable to retrieve the complete list of server APIs: {groups}")


def _failing(report: DeletionReport) -> dict[str, tuple[str, str]]:
    """type -> (reason, message) of the conditions that are True."""
    out = {}
    if report.discovery_error is not None:
        out[DISCOVERY] = ("DiscoveryFailed", report.discovery_error)
    if report.group_version_error is not None:
        out[GROUP_VERSION] = ("GroupVersionParsingFailed", report.group_version_error)
    if report.content_errors:
        errors = ", ".join(sorted(report.content_errors))
        out[CONTENT_FAILURE] = ("ContentDeletionFailed",
                                f"Failed to delete all resource types, {len(report.content_errors)} remaining: {errors}")
    left = sorted(f"{resource}.{group} has {n} resource instances" for (group, resource), n in report.remaining.items() if n)
    if left:
        out[CONTENT_REMAINING] = ("SomeResourcesRemain", f"Some resources are remaining: {', '.join(left)}")
    held = sorted(f"{finalizer} in {n} resource instances" for finalizer, n in report.finalizers.items() if n)
    if held:
        out[FINALIZERS_REMAINING] = ("SomeFinalizerRemain", f"Some finalizers are remaining: {', '.join(held)}")
    return out


def update(status: dict, report: DeletionReport, now: datetime | None = None) -> bool:
    """Set the five conditions in a namespace's status from a report; answers whether any changed. The
    transition time moves only when a condition's status does."""
    now_text = rfc3339(now or datetime.now(UTC))
    failing = _failing(report)
    conditions = status.setdefault("conditions", [])
    changed = False
    for type_, ok in _OK.items():
        state, (reason, message) = ("True", failing[type_]) if type_ in failing else ("False", ok)
        old = next((c for c in conditions if c.get("type") == type_), None)
        if old is None:
            conditions.append({"type": type_, "status": state, "lastTransitionTime": now_text, "reason": reason,
                               "message": message})
            changed = True
        elif (old.get("status"), old.get("reason"), old.get("message")) != (state, reason, message):
            if old.get("status") != state:
                old["lastTransitionTime"] = now_text
            old.update(status=state, reason=reason, message=message)
            changed = True
    return changed
