"""Nodes, namespaces, leases and priority classes."""

from __future__ import annotations

from datetime import datetime

from timoneiro.api.printers.age import since
from timoneiro.api.printers.columns import AGE, NAME, Printer, column, created, meta, name, spec, status, wide

_ROLE_PREFIX = "node-role.kubernetes.io/"
_ROLE_LABEL = "kubernetes.io/role"


def node_cells(node: dict, now: datetime) -> list:
    node_status = status(node)
    ready = {c.get("type"): c for c in node_status.get("conditions") or []}.get("Ready")
    states = ["Unknown"] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    if spec(node).get("unschedulable"):
        states.append("SchedulingDisabled")
    info = node_status.get("nodeInfo") or {}
    return [
        name(node),
        ",".join(states),
        ",".join(_roles(meta(node).get("labels") or {})) or "<none>",
        since(created(node), now),
        info.get("kubeletVersion", ""),
        _address(node_status, "InternalIP"),
        _address(node_status, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _roles(labels: dict) -> list[str]:
    roles = set()
    for key, value in labels.items():
        if key.startswith(_ROLE_PREFIX) and key[len(_ROLE_PREFIX):]:
            roles.add(key[len(_ROLE_PREFIX):])
        elif key == _ROLE_LABEL and value:
            roles.add(value)
    return sorted(roles)


def _address(node_status: dict, type_: str) -> str:
    found = (a.get("address", "") for a in node_status.get("addresses") or [] if a.get("type") == type_)
    return next(found, "<none>")


def namespace_cells(obj: dict, now: datetime) -> list:
    return [name(obj), status(obj).get("phase", ""), since(created(obj), now)]


def lease_cells(obj: dict, now: datetime) -> list:
    return [name(obj), spec(obj).get("holderIdentity") or "", since(created(obj), now)]


def priority_class_cells(obj: dict, now: datetime) -> list:
    return [
        name(obj), obj.get("value", 0), bool(obj.get("globalDefault")), since(created(obj), now),
        obj.get("preemptionPolicy") or "",
    ]


PRINTERS = {
    ("", "Node"): Printer(
        (
            NAME,
            column("Status", "The status of the node."),
            column("Roles", "The roles of the node."),
            AGE,
            column("Version", "The kubelet version the node reports."),
            wide("Internal-IP", "The node's internal IP."),
            wide("External-IP", "The node's external IP."),
            wide("OS-Image", "The OS image the node reports."),
            wide("Kernel-Version", "The kernel version the node reports."),
            wide("Container-Runtime", "The container runtime version the node reports."),
        ),
        node_cells,
    ),
    ("", "Namespace"): Printer((NAME, column("Status", "The phase of the namespace."), AGE), namespace_cells),
    ("coordination.k8s.io", "Lease"): Printer(
        (NAME, column("Holder", "The identity holding the lease."), AGE), lease_cells
    ),
    ("scheduling.k8s.io", "PriorityClass"): Printer(
        (
            NAME,
            column("Value", "The priority pods of this class get.", "integer"),
            column("Global-Default", "Whether pods without a class get this one.", "boolean"),
            AGE,
            column("PreemptionPolicy", "Whether pods of this class may preempt others."),
        ),
        priority_class_cells,
    ),
}
