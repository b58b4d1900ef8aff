"""emptyDir volumes: a directory every container of the pod may write (mode 0777), made when the pod
starts and gone with it; medium Memory makes it a tmpfs, as large as the smallest of its sizeLimit, the
pod's memory limit and the node's allocatable memory (upstream's SizeMemoryBackedVolumes)."""

from __future__ import annotations

from timoneiro.api.quantity import parse
from timoneiro.kubelet import mounts
from timoneiro.kubelet.volumes import ownership
from timoneiro.kubelet.volumes.plugin import MountContext, MountedVolume, VolumeError

PLUGIN = "kubernetes.io/empty-dir"


def pod_memory_limit(pod: dict) -> int | None:
    """The pod's memory limit as its cgroup has it: the sum over its containers (at least the largest
    init container's), or None if a container has no limit."""
    spec = pod.get("spec") or {}

    def limit(container: dict) -> int | None:
        value = ((container.get("resources") or {}).get("limits") or {}).get("memory")
        return int(parse(value).value) if value is not None else None
    regular = [limit(c) for c in spec.get("containers") or ()]
    init = [limit(c) for c in spec.get("initContainers") or ()]
    if None in regular or None in init:
        return None
    return max(sum(regular), max(init, default=0))  # type: ignore[arg-type]


def memory_size(pod: dict, source: dict, allocatable: dict) -> int | None:
    candidates = [int(parse(allocatable["memory"]).value)] if allocatable.get("memory") else []
    for size in (pod_memory_limit(pod), int(parse(source["sizeLimit"]).value) if source.get("sizeLimit") else None):
        if size and size > 0:
            candidates.append(size)
    return min(candidates) if candidates else None


async def set_up(ctx: MountContext, volume: dict) -> MountedVolume:
    source = volume["emptyDir"] or {}
    medium = source.get("medium") or ""
    if medium not in ("", "Memory"):
        raise VolumeError(f"unknown storage medium {medium!r}")
    path = ctx.volume_dir(PLUGIN, volume["name"])
    memory = medium == "Memory"
    if path.is_dir() and (not memory or mounts.is_mount_point(path)):  # set up by this kubelet before
        return MountedVolume(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if memory:
            mounts.mount_tmpfs(path, memory_size(ctx.pod, source, ctx.allocatable))  # its root is 1777
        else:
            path.chmod(0o777)
        ownership.set_volume_ownership(path, ctx.fs_group, read_only=False)
    except OSError as e:
        raise VolumeError(str(e)) from e
    return MountedVolume(path)
