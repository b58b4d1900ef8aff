"""Processes a cluster started, recorded so that they, and only they, are signalled later."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass

_HAS_PROC = os.path.isdir("/proc/self")


@dataclass(frozen=True)
class Proc:
    """A process by pid and start time: after it exits its pid may be reused, but not with the same start."""

    role: str
    pid: int
    start: int | None

    @classmethod
    def of(cls, role: str, pid: int) -> Proc:
        stat = _stat(pid)
        return cls(role, pid, stat[1] if stat else None)

    def alive(self) -> bool:
        if not _HAS_PROC:  # all we can ask is whether the pid exists
            return _exists(self.pid)
        stat = _stat(self.pid)
        return stat is not None and stat[0] not in ("Z", "X") and stat[1] == self.start

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)


def terminate(procs: list[Proc], timeout: float) -> None:
    """SIGTERM, then SIGKILL whatever has not exited after `timeout` seconds."""
    for p in procs:
        p.signal(signal.SIGTERM)
    if not _wait_gone(procs, timeout):
        for p in procs:
            p.signal(signal.SIGKILL)
        _wait_gone(procs, 5.0)


def _wait_gone(procs: list[Proc], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(p.alive() for p in procs):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _stat(pid: int) -> tuple[str, int] | None:
    """State letter and start time (clock ticks after boot) from /proc, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()  # the command name before ")" may hold spaces
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[19])


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        pass
    return True
