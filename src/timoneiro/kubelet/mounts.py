"""Mounts on the node: the kubelet's tmpfs for memory-backed emptyDirs, and finding and undoing every mount
under a directory (a pod's directory when the pod goes, a containerd's data dir when it stops)."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount_tmpfs(target: Path, size: int | None = None) -> None:
    """A tmpfs at target, of at most size bytes (none: the kernel's default, half the memory)."""
    options = f"size={size}" if size else ""
    _check(_libc.mount(b"tmpfs", str(target).encode(), b"tmpfs", 0, options.encode() or None),
           f"mount tmpfs on {target}")


def unmount(target: str | Path) -> None:
    """Detach the mount at target (lazily, as umount -l: a container may still hold it)."""
    _check(_libc.umount2(str(target).encode(), MNT_DETACH), f"unmount {target}")


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below directory, in the order they were mounted."""
    prefix = str(directory).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4].encode().decode("unicode_escape")
            if point.startswith(prefix) or point == prefix.rstrip("/"):
                found.append(point)
    return found


def is_mount_point(path: Path) -> bool:
    return str(path) in mounts_under(path)
