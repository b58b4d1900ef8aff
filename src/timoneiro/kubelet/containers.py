"""A pod's containers two ways: as its spec lists them (init, sidecar, regular; when to restart) and as the
runtime has them (every sandbox and container attempt of the pod, newest first)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

from timoneiro.kubelet.runtime.base import ContainerState, ContainerStatus, PodSandboxStatus

INIT, SIDECAR, REGULAR = "init", "sidecar", "regular"


def is_sidecar(container: dict) -> bool:
    """A restartable init container: started in init order, then kept running beside the regular ones."""
    return container.get("restartPolicy") == "Always"


def spec_containers(pod: dict) -> list[tuple[dict, str]]:
    """Every container of the spec with its type, init containers first in their order."""
    spec = pod.get("spec") or {}
    out = [(c, SIDECAR if is_sidecar(c) else INIT) for c in spec.get("initContainers") or ()]
    return out + [(c, REGULAR) for c in spec.get("containers") or ()]


def container_spec(pod: dict, name: str) -> dict | None:
    """The spec of the pod's init or regular container of this name (names are unique across both)."""
    return next((c for c, _ in spec_containers(pod) if c.get("name") == name), None)


def spec_hash(container: dict) -> str:
    """What a running container was made from: a changed spec (a new image) means a restart."""
    body = {k: v for k, v in container.items() if k != "resources"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def should_restart(restart_policy: str, exit_code: int) -> bool:
    """Whether an exited regular container is started again under the pod's restart policy."""
    return restart_policy == "Always" or (restart_policy == "OnFailure" and exit_code != 0)


def pod_full_name(pod: dict) -> str:
    """How the kubelet names a pod in messages: name_namespace(uid)."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name')}_{meta.get('namespace')}({meta.get('uid')})"


@dataclass
class RuntimePod:
    """The runtime's state of one pod."""

    uid: str
    sandboxes: list[PodSandboxStatus] = field(default_factory=list)  # newest first
    containers: list[ContainerStatus] = field(default_factory=list)  # newest first

    @property
    def sandbox(self) -> PodSandboxStatus | None:
        """The sandbox containers run in: the newest, if it is still ready."""
        return self.sandboxes[0] if self.sandboxes and self.sandboxes[0].ready else None

    @property
    def ip(self) -> str | None:
        return self.sandboxes[0].ip if self.sandboxes else None

    def attempts(self, name: str) -> list[ContainerStatus]:
        """The attempts of one container, newest first."""
        return [c for c in self.containers if c.name == name]

    def latest(self, name: str) -> ContainerStatus | None:
        for c in self.containers:
            if c.name == name:
                return c
        return None

    def running(self) -> list[ContainerStatus]:
        return [c for c in self.containers if c.state in (ContainerState.RUNNING, ContainerState.CREATED)]

    def key(self) -> tuple:
        """What the PLEG compares between relists: a change of any of it is a pod lifecycle event."""
        return (tuple((s.id, s.ready) for s in self.sandboxes),
                tuple((c.id, c.state) for c in self.containers))
