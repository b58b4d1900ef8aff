"""Containers' termination messages, as kuberuntime gets them: the kubelet mounts a file of its own at a
container's terminationMessagePath (a new one each attempt, under the pod's directory); once the container
exited, what it wrote there (its last 4096 bytes) is added to its status' message, or, under the policy
FallbackToLogsOnError, for a container that failed and wrote nothing there, the end of its log (80 lines,
at most 2048 bytes)."""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

from timoneiro.kubelet.runtime.base import ContainerState, ContainerStatus, Mount, Runtime, RuntimeFailure

MAX_MESSAGE_BYTES = 4096
MAX_LOG_LINES, MAX_LOG_BYTES = 80, 2048
PATH_ANNOTATION = "io.kubernetes.container.terminationMessagePath"
POLICY_ANNOTATION = "io.kubernetes.container.terminationMessagePolicy"
FALLBACK_TO_LOGS = "FallbackToLogsOnError"


def annotations(spec: dict) -> dict[str, str]:
    """What the container records of its spec for its message to be found once it exited."""
    return {PATH_ANNOTATION: spec.get("terminationMessagePath") or "",
            POLICY_ANNOTATION: spec.get("terminationMessagePolicy") or "File"}


def message_file(pods_dir: Path, uid: str, spec: dict) -> Mount | None:
    """A new empty file, writable by any user, for the container to write its message in (None if the
    container has no terminationMessagePath)."""
    path = spec.get("terminationMessagePath")
    if not path:
        return None
    directory = pods_dir / uid / "containers" / spec["name"]
    directory.mkdir(parents=True, exist_ok=True)
    host_path = directory / f"{secrets.randbits(32):08x}"
    host_path.touch()
    os.chmod(host_path, 0o666)  # whatever user the container runs as
    return Mount(path, str(host_path))


class TerminationMessages:
    """The messages of a node's exited containers, read once each, kept while the container exists."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._messages: dict[str, dict[str, str]] = {}  # pod uid -> container id -> its status message

    async def add(self, uid: str, containers: list[ContainerStatus]) -> list[ContainerStatus]:
        """The pod's containers, those that exited with their termination messages in their message."""
        known = self._messages.get(uid, {})
        kept: dict[str, str] = {}
        out = []
        for container in containers:
            if container.state is ContainerState.EXITED:
                message = known.get(container.id)
                if message is None:
                    message = await self._message(container)
                kept[container.id] = message
                container = dataclasses.replace(container, message=message)
            out.append(container)
        if kept:
            self._messages[uid] = kept
        else:
            self._messages.pop(uid, None)
        return out

    def forget(self, uid: str) -> None:
        self._messages.pop(uid, None)

    async def _message(self, container: ContainerStatus) -> str:
        path = container.annotations.get(PATH_ANNOTATION, "")
        fallback = (container.annotations.get(POLICY_ANNOTATION) == FALLBACK_TO_LOGS and container.exit_code != 0
                    and container.reason != "ContainerCannotRun")
        written, check_logs = _written(container, path, fallback)
        if check_logs:
            written = await self._log_tail(container.id)
        if not written:
            return container.message
        return f"{container.message}: {written}" if container.message else written

    async def _log_tail(self, container_id: str) -> str:
        try:
            chunks = [chunk async for chunk in self.runtime.container_logs(container_id, tail=MAX_LOG_LINES)]
        except (RuntimeFailure, NotImplementedError, OSError) as e:  # as upstream's, the error is the message
            return f"Error on reading termination message from logs: {e}"
        return b"".join(chunks)[-MAX_LOG_BYTES:].decode(errors="replace")


def _written(container: ContainerStatus, path: str, fallback: bool) -> tuple[str, bool]:
    """What the container wrote at its termination message path, and whether to look in its log instead."""
    if not path:
        return "", fallback
    for mount in container.mounts:
        if mount.container_path != path:
            continue
        try:
            with open(mount.host_path, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - MAX_MESSAGE_BYTES))
                data = f.read(MAX_MESSAGE_BYTES)
        except FileNotFoundError:
            return "", fallback
        except OSError as e:
            return f"Error on reading termination log {mount.host_path}: {e}", False
        return data.decode(errors="replace"), fallback and not data
    return "", fallback
