"""Moving pods along as a kubelet would, for controller tests that run without one: status writes only."""

from __future__ import annotations

from datetime import UTC, datetime

from controller_testing import Api


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ready(status: str) -> list[dict]:
    return [{"type": "Ready", "status": status, "lastTransitionTime": _now()}]


def pod_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{name}"


def run_pod(api: Api, namespace: str, name: str, ready: bool = True) -> dict:
    """Running, its container started, Ready (or not)."""
    state = {"running": {"startedAt": _now()}}
    return api.patch(pod_path(namespace, name) + "/status", {"status": {
        "phase": "Running", "conditions": _ready("True" if ready else "False"),
        "containerStatuses": [{"name": "c", "image": "busybox", "imageID": "", "ready": ready,
                               "restartCount": 0, "started": True, "state": state}]}})


def finish_pod(api: Api, namespace: str, name: str, succeeded: bool = True, exit_code: int | None = None,
               conditions: list[dict] = ()) -> dict:
    """Succeeded (exit code 0) or Failed (exit code 1, or exit_code), its container terminated now; with
    more conditions (e.g. DisruptionTarget, as an eviction leaves it)."""
    code = 0 if succeeded else exit_code or 1
    state = {"terminated": {"exitCode": code, "reason": "Completed" if succeeded else "Error",
                            "startedAt": _now(), "finishedAt": _now()}}
    return api.patch(pod_path(namespace, name) + "/status", {"status": {
        "phase": "Succeeded" if succeeded else "Failed", "conditions": _ready("False") + list(conditions),
        "containerStatuses": [{"name": "c", "image": "busybox", "imageID": "", "ready": False,
                               "restartCount": 0, "started": False, "state": state}]}})
