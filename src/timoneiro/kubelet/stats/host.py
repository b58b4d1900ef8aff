"""The host's CPU and memory from /proc, as cAdvisor reports the root container: cpu time spent other than
idle or waiting on I/O, and the working set (memory in use less the inactive page cache, which the kernel
can take back). A local cluster's nodes all run on this host, so each of them reports the same machine."""

from __future__ import annotations

import os
import time

from timoneiro.kubelet.stats.usage import Usage

PROC = "/proc"
_BUSY = (0, 1, 2, 5, 6, 7)  # user nice system (idle iowait) irq softirq steal; guest time is in user already


def cpu_nanoseconds(stat: str) -> int:
    """Busy cpu time of all cores in nanoseconds, from /proc/stat's first line."""
    fields = stat.split("\n", 1)[0].split()[1:]
    ticks = sum(int(fields[i]) for i in _BUSY if i < len(fields))
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def memory_bytes(meminfo: str) -> tuple[int, int]:
    """(working set, usage) in bytes from /proc/meminfo: usage is all memory not free, page cache included."""
    values = {}
    for line in meminfo.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[name] = int(parts[0]) * 1024
    usage = values.get("MemTotal", 0) - values.get("MemFree", 0)
    return max(0, usage - values.get("Inactive(file)", 0)), usage


def host_usage(proc: str = PROC) -> Usage:
    with open(os.path.join(proc, "stat")) as f:
        cpu = cpu_nanoseconds(f.read())
    with open(os.path.join(proc, "meminfo")) as f:
        working_set, usage = memory_bytes(f.read())
    return Usage(time.time(), cpu, working_set, usage)
