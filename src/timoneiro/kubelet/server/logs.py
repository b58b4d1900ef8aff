"""Which container's log a /containerLogs request reads, and with what options, as upstream's kubelet
decides from the pod's status (validateContainerLogStatus): the running container, else the last that ran,
or --previous's terminated one; a container that never ran has no log, and says why."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime


class LogUnavailable(Exception):
    """Upstream's error text: the kubelet answers it with 400."""


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail: int | None = None
    since: float | None = None  # seconds since the epoch
    limit_bytes: int | None = None


def _flag(query: dict[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("1", "t", "true")


def _number(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise LogUnavailable(f'invalid {name} "{value}"') from None


def options(query: dict[str, str]) -> LogOptions:
    """The query of /containerLogs, as the API server passes pods/log's options on (sinceSeconds wins
    over sinceTime, as there)."""
    since_seconds, since = _number(query, "sinceSeconds"), None
    if since_seconds is not None:
        since = time.time() - since_seconds
    elif query.get("sinceTime"):
        try:
            since = datetime.fromisoformat(query["sinceTime"].replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise LogUnavailable(f'invalid sinceTime "{query["sinceTime"]}"') from None
    return LogOptions(follow=_flag(query, "follow"), previous=_flag(query, "previous"),
                      timestamps=_flag(query, "timestamps"), tail=_number(query, "tailLines"), since=since,
                      limit_bytes=_number(query, "limitBytes"))


def _status_of(status: dict, container: str) -> dict | None:
    for field in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for found in status.get(field) or ():
            if found.get("name") == container:
                return found
    return None


def container_id(pod_name: str, status: dict, container: str, previous: bool) -> str:
    """The runtime's id of the container whose log to read (without its runtime:// scheme)."""
    found = _status_of(status, container)
    if found is None:
        raise LogUnavailable(f'container "{container}" in pod "{pod_name}" is not available')
    state, last = found.get("state") or {}, (found.get("lastState") or {}).get("terminated")
    running, terminated, waiting = state.get("running"), state.get("terminated"), state.get("waiting")
    if previous:
        if not last or not last.get("containerID"):
            raise LogUnavailable(f'previous terminated container "{container}" in pod "{pod_name}" not found')
        chosen = last["containerID"]
    elif running is not None:
        chosen = found.get("containerID", "")
    elif terminated is not None:
        chosen = terminated.get("containerID") or (last or {}).get("containerID")
        if not chosen:
            raise LogUnavailable(f'container "{container}" in pod "{pod_name}" is terminated')
    elif last is not None:
        if not last.get("containerID"):
            raise LogUnavailable(f'container "{container}" in pod "{pod_name}" is terminated')
        chosen = last["containerID"]
    elif waiting is not None:
        reason = waiting.get("reason", "")
        why = {"ErrImagePull": "image can't be pulled",
               "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
        raise LogUnavailable(f'container "{container}" in pod "{pod_name}" is waiting to start: {why}')
    else:
        raise LogUnavailable(f'container "{container}" in pod "{pod_name}" is waiting to start - no logs yet')
    return chosen.partition("://")[2] or chosen
