"""A container's mounts from its volumeMounts, as upstream's makeMounts makes them: the volume's directory,
or a subPath (or subPathExpr expanded against the container's environment) inside it, made if missing and
never escaping it; read-only if the mount says so or the volume is always read-only. Failures are the
container's CreateContainerConfigError with upstream's text."""

from __future__ import annotations

import os
from pathlib import Path

from timoneiro.kubelet.expansion import sub_path
from timoneiro.kubelet.runtime.base import Mount, RuntimeFailure
from timoneiro.kubelet.volumes.plugin import MountedVolume

CONFIG_ERROR = "CreateContainerConfigError"


def container_mounts(spec: dict, volumes: dict[str, MountedVolume], envs: list[tuple[str, str]]) -> list[Mount]:
    found = []
    container = spec["name"]
    for mount in spec.get("volumeMounts") or ():
        name = mount.get("name", "")
        volume = volumes.get(name)
        if volume is None:
            raise RuntimeFailure(CONFIG_ERROR, f'cannot find volume "{name}" to mount into container "{container}"')
        host = volume.path
        subpath = mount.get("subPath") or ""
        if mount.get("subPathExpr"):
            try:
                subpath = sub_path(mount["subPathExpr"], envs)
            except ValueError as e:
                raise RuntimeFailure(CONFIG_ERROR, str(e)) from e
        if subpath:
            host = _prepare_sub_path(volume.path, subpath, name, container)
        target = mount.get("mountPath", "")
        found.append(Mount(target if target.startswith("/") else "/" + target, str(host),
                           bool(mount.get("readOnly")) or volume.read_only))
    return found


def _prepare_sub_path(volume: Path, subpath: str, name: str, container: str) -> Path:
    if os.path.isabs(subpath):
        raise RuntimeFailure(CONFIG_ERROR, f"error SubPath `{subpath}` must not be an absolute path")
    if ".." in subpath.split("/"):
        raise RuntimeFailure(CONFIG_ERROR, f"unable to provision SubPath `{subpath}`: must not contain '..'")
    path = volume / subpath
    if not os.path.lexists(path):
        try:  # made now, with the volume's own mode, so that its group may write there as in the volume
            path.mkdir(parents=True)
            path.chmod(volume.stat().st_mode & 0o7777)
        except OSError as e:
            raise RuntimeFailure(CONFIG_ERROR, f'failed to create subPath directory for volumeMount "{name}" '
                                               f'of container "{container}"') from e
    resolved = Path(os.path.realpath(path))
    if not resolved.is_relative_to(os.path.realpath(volume)):  # a symlink pointing out of the volume
        raise RuntimeFailure(CONFIG_ERROR, f'failed to prepare subPath for volumeMount "{name}" '
                                           f'of container "{container}"')
    return resolved
