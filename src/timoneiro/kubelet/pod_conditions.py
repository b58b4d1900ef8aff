"""The pod conditions the kubelet owns, as upstream's status generators work them out, with their reasons
and messages: PodReadyToStartContainers, Initialized, Ready (readiness gates included), ContainersReady
and PodScheduled. Transition times are the status manager's."""

from __future__ import annotations

from timoneiro.kubelet.containers import RuntimePod, is_sidecar

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def foreign(status: dict) -> list[dict]:
    """The conditions of a status that others own (readiness gates, DisruptionTarget): the kubelet keeps them."""
    return [c for c in status.get("conditions") or () if c.get("type") not in KUBELET_CONDITIONS]


def conditions(spec: dict, runtime_pod: RuntimePod, statuses: list[dict], phase: str,
               others: list[dict]) -> list[dict]:
    """The kubelet's conditions, in upstream's order; others (conditions others set) count for readiness
    gates."""
    sandbox_ready = runtime_pod.sandbox is not None
    out = [_condition("PodReadyToStartContainers", sandbox_ready)]
    out.append(_initialized(spec, statuses, phase))
    containers_ready = _containers_ready(spec, statuses, phase)
    out.append(_ready(spec, containers_ready, others))
    out.append(containers_ready)
    out.append(_condition("PodScheduled", True))
    return out


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> dict:
    out = {"type": kind, "status": "True" if ok else "False"}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def _go_list(names: list[str]) -> str:
    """A []string as Go's %s prints it: [a b]."""
    return "[" + " ".join(names) + "]"


def _unready_message(unknown: list[str], unready: list[str], what: str) -> str:
    parts = []
    if unknown:
        parts.append(f"containers with unknown status: {_go_list(unknown)}")
    if unready:
        parts.append(f"containers with {what} status: {_go_list(unready)}")
    return ", ".join(parts)


def _initialized(spec: dict, statuses: list[dict], phase: str) -> dict:
    by_name = {s["name"]: s for s in statuses}
    unknown, incomplete = [], []
    for c in spec.get("initContainers") or ():
        s = by_name.get(c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not (s.get("started") if is_sidecar(c) else s.get("ready")):
            incomplete.append(c["name"])
    if phase == "Succeeded" and not unknown:
        return _condition("Initialized", True, "PodCompleted")
    if any_regular_started(spec, statuses):
        return _condition("Initialized", True)
    message = _unready_message(unknown, incomplete, "incomplete")
    if message:
        return _condition("Initialized", False, "ContainersNotInitialized", message)
    return _condition("Initialized", True)


def _containers_ready(spec: dict, statuses: list[dict], phase: str) -> dict:
    by_name = {s["name"]: s for s in statuses}
    unknown, unready = [], []
    wanted = [c for c in spec.get("initContainers") or () if is_sidecar(c)] + list(spec.get("containers") or ())
    for c in wanted:
        s = by_name.get(c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not s.get("ready"):
            unready.append(c["name"])
    if phase == "Succeeded" and not unknown:
        return _condition("ContainersReady", False, "PodCompleted")
    if phase == "Failed":
        return _condition("ContainersReady", False, "PodFailed")
    message = _unready_message(unknown, unready, "unready")
    if message:
        return _condition("ContainersReady", False, "ContainersNotReady", message)
    return _condition("ContainersReady", True)


def _ready(spec: dict, containers_ready: dict, others: list[dict]) -> dict:
    """Ready when the containers are, and every readiness gate's condition is True."""
    if containers_ready["status"] != "True":
        return {**containers_ready, "type": "Ready"}
    have = {c.get("type"): c for c in others}
    problems = []
    for gate in spec.get("readinessGates") or ():
        kind = gate.get("conditionType")
        condition = have.get(kind)
        if condition is None:
            problems.append(f'corresponding condition of pod readiness gate "{kind}" does not exist.')
        elif condition.get("status") != "True":
            problems.append(f'the status of pod readiness gate "{kind}" is not "True", but {condition.get("status")}')
    if problems:
        return _condition("Ready", False, "ReadinessGatesNotReady", ", ".join(problems))
    return _condition("Ready", True)


def any_regular_started(spec: dict, statuses: list[dict]) -> bool:
    names = {c["name"] for c in spec.get("containers") or ()}
    return any(s["name"] in names and ({"running", "terminated"} & set(s.get("state") or {}))
               for s in statuses)
