"""Resource usage as the CRI reports it (CpuUsage, MemoryUsage, ContainerStats, PodSandboxStats): plain
records, so that runtimes, the host reader and the kubelet's stats endpoints share them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Usage:
    """CPU and memory of a container, a pod or the node at one moment: cpu as a cumulative counter (rates
    are worked out from two samples), memory as it is now."""

    timestamp: float  # seconds since the epoch
    cpu_core_nanoseconds: int
    memory_working_set_bytes: int
    memory_usage_bytes: int = 0
    memory_rss_bytes: int = 0


@dataclass
class ContainerStats:
    name: str
    id: str
    started_at: float | None  # seconds since the epoch
    usage: Usage


@dataclass
class PodStats:
    """One pod sandbox's stats: its own cgroup's usage and its running containers'."""

    sandbox_id: str
    name: str
    namespace: str
    uid: str
    created_at: float
    usage: Usage
    containers: list[ContainerStats] = field(default_factory=list)
