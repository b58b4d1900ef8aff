"""A volume given to the pod's fsGroup, as upstream's SetVolumeOwnership does it: every file and directory
gets the group, and group read (and write, unless the volume is read-only) permission; directories also
get group search and the setgid bit, so that what containers create there has the group too."""

from __future__ import annotations

import os
import stat
from pathlib import Path

READ_WRITE, READ_ONLY, SEARCH = 0o660, 0o440, 0o110


def set_volume_ownership(directory: Path, fs_group: int | None, *, read_only: bool) -> None:
    if fs_group is None:
        return
    mask = READ_ONLY if read_only else READ_WRITE
    paths = [str(directory)] + [os.path.join(root, name) for root, dirs, files in os.walk(directory)
                                for name in dirs + files]
    for path in paths:
        info = os.lstat(path)
        os.lchown(path, -1, fs_group)
        if stat.S_ISLNK(info.st_mode):
            continue
        mode = stat.S_IMODE(info.st_mode) | mask
        if stat.S_ISDIR(info.st_mode):
            mode |= stat.S_ISGID | SEARCH
        os.chmod(path, mode)
