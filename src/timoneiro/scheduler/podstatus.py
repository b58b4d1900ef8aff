"""Writing the scheduler's part of a pod's status: its conditions (PodScheduled, DisruptionTarget) and
nominatedNodeName, patched only when they change, as upstream's PatchPodStatus does."""

from __future__ import annotations

import datetime

from timoneiro.client import ApiError, Client
from timoneiro.client.resources import PODS


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def with_condition(status: dict, condition: dict) -> dict | None:
    """The condition as it should be written (keeping lastTransitionTime if its status is unchanged), or None
    if the pod already has it."""
    for current in status.get("conditions") or ():
        if current.get("type") != condition["type"]:
            continue
        if all(current.get(k) == condition.get(k) for k in ("status", "reason", "message")):
            return None
        if current.get("status") == condition.get("status"):
            return {**condition, "lastTransitionTime": current.get("lastTransitionTime") or now()}
    return {**condition, "lastTransitionTime": now()}


async def patch_pod_status(client: Client, pod: dict, condition: dict | None = None,
                           nominated_node: str | None = None) -> bool:
    """Set a condition and/or the nominated node ("" clears it); False if there was nothing to change.
    A pod that is gone is not an error: there is nothing left to tell."""
    status = pod.get("status") or {}
    patch: dict = {}
    if condition is not None:
        changed = with_condition(status, condition)
        if changed is not None:
            patch["conditions"] = [changed]
    if nominated_node is not None and (status.get("nominatedNodeName") or "") != nominated_node:
        patch["nominatedNodeName"] = nominated_node or None
    if not patch:
        return False
    meta = pod["metadata"]
    try:
        await client.patch(PODS, meta["name"], {"status": patch}, meta.get("namespace"), patch_type="strategic",
                           subresource="status")
    except ApiError as e:
        if e.code != 404:
            raise
    return True
