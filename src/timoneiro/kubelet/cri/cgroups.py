"""The cgroup parent a node's pods run under (cgroupfs driver), on cgroup v1, v2 or the hybrid of both:
runc makes and removes each container's cgroup; the parent directories are ours to remove.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy (v1 controllers, named ones, the v2 unified one)."""
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                found.append(Path(fields[4]))
    return found


def _tree(top: Path) -> list[Path]:
    """top and the cgroups below it, deepest first."""
    return sorted((Path(d) for d, _, _ in os.walk(top)), key=lambda p: len(p.parts), reverse=True)


def kill_and_remove(parent: str, wait: float = 5.0) -> None:
    """Kill what is left in parent (it can only be pods' processes) and remove its cgroups, and the
    parent's own parents where they are left empty (/timoneiro of /timoneiro/node-1)."""
    relative = Path(parent.strip("/"))
    if not relative.parts:
        raise ValueError("the cgroup parent must not be the root cgroup")
    tops = [(h, h / relative) for h in hierarchies() if (h / relative).is_dir()]
    for _, top in tops:
        for group in _tree(top):
            for pid in _pids(group):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    for hierarchy, top in tops:
        for group in _tree(top):
            _rmdir(group, deadline)
        for ancestor in relative.parents:
            if ancestor.parts:
                with contextlib.suppress(OSError):  # not empty: another node's pods are there
                    (hierarchy / ancestor).rmdir()


def _rmdir(group: Path, deadline: float) -> None:
    while True:
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # busy: a killed process is still exiting
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _pids(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except OSError:
        return []
