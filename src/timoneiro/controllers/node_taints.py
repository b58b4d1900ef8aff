"""Taints the node lifecycle controller manages, and which tolerations tolerate them."""

from __future__ import annotations

from timoneiro.client import Client
from timoneiro.client.resources import NODES
from timoneiro.client.store import by_field

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
NO_EXECUTE = "NoExecute"
NO_SCHEDULE = "NoSchedule"
NODE_NAME_INDEX = "spec.nodeName"
PODS_BY_NODE = {NODE_NAME_INDEX: by_field("spec.nodeName")}  # indexers for a pod informer

# node conditions (type, status) that keep new pods off a node, with the taint that says so
CONDITION_TAINTS = {
    ("Ready", "False"): NOT_READY,
    ("Ready", "Unknown"): UNREACHABLE,
    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
}
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
NO_SCHEDULE_KEYS = {*CONDITION_TAINTS.values(), UNSCHEDULABLE}


def condition(node: dict, type_: str) -> dict | None:
    for c in (node.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return c
    return None


def taints(node: dict) -> list[dict]:
    return list((node.get("spec") or {}).get("taints") or ())


def no_schedule_taints(node: dict) -> set[str]:
    """The NoSchedule taint keys the node's conditions and spec.unschedulable call for."""
    keys = {key for (type_, status), key in CONDITION_TAINTS.items()
            if (condition(node, type_) or {}).get("status") == status}
    if (node.get("spec") or {}).get("unschedulable"):
        keys.add(UNSCHEDULABLE)
    return keys


def tolerates(toleration: dict, taint: dict) -> bool:
    """A toleration with no effect matches every effect; with no key and operator Exists, every taint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    if (toleration.get("operator") or "Equal") == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def toleration_time(node_taints: list[dict], tolerations: list[dict]) -> float | None:
    """Seconds the pod may stay with these NoExecute taints: 0 if one is not tolerated, None for ever."""
    shortest: float | None = None
    for taint in node_taints:
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return 0
        seconds = match.get("tolerationSeconds")
        if seconds is not None:
            shortest = max(0, seconds) if shortest is None else min(shortest, max(0, seconds))
    return shortest


async def write_taints(client: Client, node: dict, new: list[dict]) -> None:
    """Replace the node's taints, compare-and-swap on the resourceVersion read (a conflict raises)."""
    m = node["metadata"]
    await client.patch(NODES, m["name"], {"metadata": {"resourceVersion": m["resourceVersion"]},
                                          "spec": {"taints": new or None}})
