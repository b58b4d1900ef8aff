"""hostPath volumes: a path of the node, checked against the volume's type as upstream's plugin checks it
(DirectoryOrCreate and FileOrCreate make what is missing)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from timoneiro.kubelet.volumes.plugin import MountContext, MountedVolume, VolumeError

_DESCRIPTIONS = {"Directory": "directory", "File": "file", "Socket": "socket file", "CharDevice": "character device",
                 "BlockDevice": "block device"}


def file_type(path: str) -> str:
    mode = os.stat(path).st_mode
    for test, name in ((stat.S_ISDIR, "Directory"), (stat.S_ISREG, "File"), (stat.S_ISSOCK, "Socket"),
                       (stat.S_ISCHR, "CharDevice"), (stat.S_ISBLK, "BlockDevice")):
        if test(mode):
            return name
    raise ValueError("only recognise file, directory, socket, block device and character device")


def check_type(path: str, kind: str) -> None:
    """Upstream's checkType: VolumeError with its text when path is not what kind says."""
    if kind == "DirectoryOrCreate" and not os.path.exists(path):
        os.makedirs(path, 0o755, exist_ok=True)
        return
    if kind == "FileOrCreate" and not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT, 0o644))
        return
    expected = kind.removesuffix("OrCreate")
    if expected not in _DESCRIPTIONS:
        raise VolumeError(f"{kind} is an invalid volume type")
    if not os.path.exists(path):
        raise VolumeError(f"hostPath {path} doesn't exist")
    description = _DESCRIPTIONS[expected]
    try:
        found = file_type(path)
    except ValueError as e:
        raise VolumeError(f"hostPath type check failed, {path} is not a {description}, "
                          f"unable to determine its type: {e}") from e
    if found != expected:
        raise VolumeError(f"hostPath type check failed: {path} is not a {description}, it's a {found}")


def host_path(source: dict) -> MountedVolume:
    """A hostPath source, of a volume or of a PersistentVolume."""
    path = source.get("path", "")
    if ".." in path.split("/"):
        raise VolumeError(f"invalid HostPath `{path}`: must not contain '..'")
    if source.get("type"):
        try:
            check_type(path, source["type"])
        except OSError as e:
            raise VolumeError(str(e)) from e
    return MountedVolume(Path(path))


async def set_up(ctx: MountContext, volume: dict) -> MountedVolume:
    return host_path(volume["hostPath"] or {})
