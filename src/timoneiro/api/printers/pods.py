"""Pods and pod templates: upstream's printPod status, readiness and restart arithmetic."""

from __future__ import annotations

from datetime import datetime

from timoneiro.api.printers.age import parse_time, since
from timoneiro.api.printers.columns import (
    AGE,
    NAME,
    Printer,
    column,
    condition_true,
    container_cells,
    created,
    meta,
    name,
    spec,
    status,
    wide,
)
from timoneiro.api.printers.labels import format_labels

POD_COLUMNS = (
    NAME,
    column("Ready", "Ready containers out of all containers."),
    column("Status", "The aggregate status of the pod's containers."),
    column("Restarts", "Container restarts, and how long ago the last one was."),
    AGE,
    wide("IP", "The pod's IP address."),
    wide("Node", "The node the pod is bound to."),
    wide("Nominated Node", "The node the scheduler nominated for preemption."),
    wide("Readiness Gates", "Readiness gates whose condition is True, out of all gates."),
)
_COMPLETED = {
    "Succeeded": "The pod has completed successfully.",
    "Failed": "The pod failed.",
}


def pod_cells(pod: dict, now: datetime) -> list:
    pod_spec, pod_status = spec(pod), status(pod)
    phase = pod_status.get("phase", "")
    reason = pod_status.get("reason") or phase
    conditions = pod_status.get("conditions") or []
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions):
        reason = "SchedulingGated"

    init_specs = pod_spec.get("initContainers") or []
    sidecars = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(pod_spec.get("containers") or []) + sum(c.get("restartPolicy") == "Always" for c in init_specs)
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last_restart = None

    initializing = False
    for index, cs in enumerate(pod_status.get("initContainerStatuses") or []):
        count = cs.get("restartCount", 0)
        finished = _last_finished(cs)
        restarts += count
        last_restart = _later(last_restart, finished)
        sidecar = cs.get("name") in sidecars
        if sidecar:
            sidecar_restarts += count
            sidecar_last_restart = _later(sidecar_last_restart, finished)
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += bool(cs.get("ready"))
            continue
        if terminated is not None:
            reason = "Init:" + (terminated.get("reason") or _exit(terminated))
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or condition_true(conditions, "Initialized"):
        restarts, last_restart = sidecar_restarts, sidecar_last_restart
        has_running = False
        for cs in reversed(pod_status.get("containerStatuses") or []):
            restarts += cs.get("restartCount", 0)
            last_restart = _later(last_restart, _last_finished(cs))
            state = cs.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = terminated.get("reason") or _exit(terminated)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
            reason = "Running" if pod_ready else "NotReady"

    if meta(pod).get("deletionTimestamp"):
        if pod_status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({since(last_restart, now)} ago)"

    pod_ips = pod_status.get("podIPs") or []
    ip = (pod_ips[0].get("ip") if pod_ips else pod_status.get("podIP")) or "<none>"
    return [
        name(pod), f"{ready}/{total}", reason, restarts_text, since(created(pod), now),
        ip,
        pod_spec.get("nodeName") or "<none>",
        pod_status.get("nominatedNodeName") or "<none>",
        _readiness_gates(pod_spec.get("readinessGates") or [], conditions),
    ]


def pod_conditions(pod: dict) -> list | None:
    """The Completed row condition upstream sets on pods that have finished."""
    phase = status(pod).get("phase")
    if phase not in _COMPLETED:
        return None
    return [{"type": "Completed", "status": "True", "reason": phase, "message": _COMPLETED[phase]}]


def _exit(terminated: dict) -> str:
    signal = terminated.get("signal", 0)
    return f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"


def _last_finished(container_status: dict) -> datetime | None:
    terminated = (container_status.get("lastState") or {}).get("terminated")
    return parse_time(terminated.get("finishedAt")) if terminated is not None else None


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate > current else current


def _readiness_gates(gates: list, conditions: list) -> str:
    if not gates:
        return "<none>"
    true = 0
    for gate in gates:
        match = next((c for c in conditions if c.get("type") == gate.get("conditionType")), None)
        true += match is not None and match.get("status") == "True"
    return f"{true}/{len(gates)}"


def pod_template_cells(obj: dict, now: datetime) -> list:
    template = obj.get("template") or {}
    return [name(obj), *container_cells(template.get("spec")), format_labels(meta(template).get("labels"))]


PRINTERS = {
    ("", "Pod"): Printer(POD_COLUMNS, pod_cells, pod_conditions),
    ("", "PodTemplate"): Printer(
        (
            NAME,
            column("Containers", "Names of each container in the template."),
            column("Images", "Images referenced by each container in the template."),
            column("Pod Labels", "The labels of the pod template."),
        ),
        pod_template_cells,
    ),
}
