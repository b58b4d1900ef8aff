"""A pod's API status worked out from the runtime's state of it, as upstream's generateAPIPodStatus does:
container statuses, the phase (upstream's getPhase), addresses, and the conditions the kubelet owns.

Pure: the status manager adds transition times and the start time, and writes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from timoneiro.api.strategies import qos_class
from timoneiro.kubelet.containers import REGULAR, RuntimePod, is_sidecar, spec_containers
from timoneiro.kubelet.pod_conditions import any_regular_started, conditions, foreign
from timoneiro.kubelet.probes import ProbeManager
from timoneiro.kubelet.runtime.base import ContainerState, ContainerStatus
from timoneiro.kubelet.times import rfc3339

TERMINAL = ("Succeeded", "Failed")


@dataclass
class StatusContext:
    """What the status needs besides the pod: how container ids are written, the node, probe results."""

    runtime_name: str
    host_ip: str
    probes: ProbeManager


def generate(pod: dict, runtime_pod: RuntimePod, previous: dict, reasons: dict[str, tuple[str, str]],
             ctx: StatusContext, terminal: bool = False, evicted: tuple[str, str] | None = None) -> dict:
    """The pod's status now. previous is the last status the kubelet worked out (or the API's);
    reasons are why containers wait (CrashLoopBackOff and its message); terminal: the pod is done, its
    containers will not start again; evicted: the kubelet failed the pod, for this reason and message."""
    spec = pod.get("spec") or {}
    api_status = pod.get("status") or {}
    has_init = bool(spec.get("initContainers"))
    status: dict = {}
    regular = [c for c, kind in spec_containers(pod) if kind == REGULAR]
    init = [c for c, kind in spec_containers(pod) if kind != REGULAR]
    status["containerStatuses"] = sorted(
        _container_statuses(regular, runtime_pod, previous.get("containerStatuses"), reasons, ctx, has_init,
                            False), key=lambda s: s["name"])
    if init:
        status["initContainerStatuses"] = _container_statuses(
            init, runtime_pod, previous.get("initContainerStatuses"), reasons, ctx, has_init, True)
    all_statuses = status["containerStatuses"] + status.get("initContainerStatuses", [])
    phase = phase_of(spec, all_statuses, terminal)
    for earlier in (previous.get("phase"), api_status.get("phase")):
        if phase not in TERMINAL and earlier in TERMINAL:
            phase = earlier  # pods never leave a terminal phase
    status["phase"] = phase
    if evicted is not None:
        status["phase"], status["reason"], status["message"] = "Failed", *evicted
    elif phase == previous.get("phase"):
        for key in ("reason", "message"):
            value = previous.get(key) or api_status.get(key)
            if value:
                status[key] = value
    status["conditions"] = conditions(spec, runtime_pod, all_statuses, status["phase"], foreign(api_status))
    status["hostIP"] = ctx.host_ip
    status["hostIPs"] = [{"ip": ctx.host_ip}]
    ip = ctx.host_ip if spec.get("hostNetwork") else runtime_pod.ip
    if ip:
        status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
    elif previous.get("podIP"):  # a stopped sandbox keeps the address the pod had
        status["podIP"], status["podIPs"] = previous["podIP"], previous.get("podIPs") or [{"ip": previous["podIP"]}]
    status["qosClass"] = api_status.get("qosClass") or qos_class(pod)
    return status


def rejected(pod: dict, reason: str, message: str) -> dict:
    """The status of a pod admission turned away: failed before anything ran."""
    return {"phase": "Failed", "reason": reason, "message": "Pod was rejected: " + message,
            "qosClass": (pod.get("status") or {}).get("qosClass") or qos_class(pod)}


# container statuses

def _container_statuses(specs: list[dict], runtime_pod: RuntimePod, previous: list | None,
                        reasons: dict[str, tuple[str, str]], ctx: StatusContext, has_init: bool,
                        is_init: bool) -> list[dict]:
    old = {s["name"]: s for s in previous or ()}
    out = []
    for spec in specs:
        name = spec["name"]
        attempts = runtime_pod.attempts(name)
        before = old.get(name)
        if attempts:
            status = _from_runtime(attempts[0], ctx.runtime_name)
            if len(attempts) > 1:
                status["lastState"] = _state(attempts[1], ctx.runtime_name)
        elif before is not None and "terminated" in (before.get("state") or {}):
            status = dict(before)  # the containers are gone, what they ended as stays
        else:
            status = _waiting(spec, "PodInitializing" if has_init else "ContainerCreating")
            if before is not None:
                status["restartCount"] = before.get("restartCount", 0)
                status["lastState"] = before.get("lastState") or {}
        latest = attempts[0] if attempts else None
        waiting = reasons.get(name)
        if waiting and (latest is None or latest.state is ContainerState.EXITED):
            if "terminated" in status["state"]:
                status["lastState"] = status["state"]
            status["state"] = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
        _set_readiness(status, spec, latest, ctx.probes, is_init and not is_sidecar(spec))
        if spec.get("volumeMounts"):
            status["volumeMounts"] = [_mount(m) for m in spec["volumeMounts"]]
        out.append(status)
    return out


def _waiting(spec: dict, reason: str) -> dict:
    return {"name": spec["name"], "state": {"waiting": {"reason": reason}}, "lastState": {}, "ready": False,
            "restartCount": 0, "image": spec.get("image", ""), "imageID": "", "started": False}


def _from_runtime(container: ContainerStatus, runtime_name: str) -> dict:
    return {"name": container.name, "state": _state(container, runtime_name), "lastState": {}, "ready": False,
            "restartCount": container.attempt, "image": container.image, "imageID": container.image_ref,
            "containerID": f"{runtime_name}://{container.id}", "started": False}


def _state(container: ContainerStatus, runtime_name: str) -> dict:
    if container.state is ContainerState.RUNNING:
        return {"running": {"startedAt": rfc3339(container.started_at)}}
    if container.state is ContainerState.EXITED:
        terminated = {"exitCode": container.exit_code, "reason": container.reason,
                      "startedAt": rfc3339(container.started_at), "finishedAt": rfc3339(container.finished_at),
                      "containerID": f"{runtime_name}://{container.id}"}
        if container.message:
            terminated["message"] = container.message
        return {"terminated": terminated}
    return {"waiting": {}}


def _set_readiness(status: dict, spec: dict, latest: ContainerStatus | None, probes: ProbeManager,
                   run_to_completion: bool) -> None:
    """started and ready, as the probe manager reports them; a finished init container is ready."""
    running = latest if latest is not None and latest.state is ContainerState.RUNNING else None
    started = running is not None and probes.started(running.id, spec)
    status["started"] = started
    if run_to_completion:
        terminated = status["state"].get("terminated") or {}
        status["ready"] = terminated.get("exitCode") == 0
    else:
        status["ready"] = running is not None and started and probes.ready(running.id, spec)


def _mount(mount: dict) -> dict:
    out = {"name": mount.get("name"), "mountPath": mount.get("mountPath")}
    if mount.get("readOnly"):
        out["readOnly"] = True
        out["recursiveReadOnly"] = "Disabled"
    return out


# the phase

def phase_of(spec: dict, statuses: list[dict], terminal: bool) -> str:
    """Upstream's getPhase."""
    by_name = {s["name"]: s for s in statuses}
    pending_init = failed_init = 0
    unknown = running = waiting = stopped = succeeded = 0
    for c in spec.get("initContainers") or ():
        s = by_name.get(c["name"])
        state = (s or {}).get("state") or {}
        last = ((s or {}).get("lastState") or {}).get("terminated")
        if is_sidecar(c):
            if s is None:
                unknown += 1
            elif "running" in state:
                pending_init += not s.get("started")
                running += 1
            elif "waiting" in state and last is None:
                pending_init += 1
                waiting += 1
            elif "terminated" not in state and "waiting" not in state:
                pending_init += 1
                unknown += 1
            continue
        if s is None or "running" in state:
            pending_init += 1
        elif "terminated" in state:
            failed_init += state["terminated"].get("exitCode", 0) != 0
        elif "waiting" in state:
            if last is not None:
                failed_init += last.get("exitCode", 0) != 0
            else:
                pending_init += 1
        else:
            pending_init += 1
    for c in spec.get("containers") or ():
        s = by_name.get(c["name"])
        state = (s or {}).get("state") or {}
        if s is None:
            unknown += 1
        elif "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode", 0) == 0
        elif "waiting" in state:
            if ((s.get("lastState") or {}).get("terminated")) is not None:
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    policy = spec.get("restartPolicy", "Always")
    if failed_init and policy == "Never":
        return "Failed"
    if (pending_init and not any_regular_started(spec, statuses)) or waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"
