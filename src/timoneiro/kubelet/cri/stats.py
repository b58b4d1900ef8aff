"""Pod and container stats from a CRI runtime, as the kubelet's CRI stats provider gathers them: one
ListPodSandboxStats (each ready sandbox's cgroup and its containers' cpu and memory, which containerd reads
from the cgroups) and one ListContainers for what the stats lack, the containers' states and creation
times (a container's start time in the Summary API, by which metrics-server tells a restarted one)."""

from __future__ import annotations

import asyncio

from timoneiro.kubelet.cri import api_pb2 as api
from timoneiro.kubelet.cri.client import CriClient
from timoneiro.kubelet.stats.usage import ContainerStats, PodStats, Usage


def usage(cpu: api.CpuUsage, memory: api.MemoryUsage) -> Usage:
    stamp = max(cpu.timestamp, memory.timestamp)
    return Usage(stamp / 1e9, cpu.usage_core_nano_seconds.value, memory.working_set_bytes.value,
                 memory.usage_bytes.value, memory.rss_bytes.value)


async def pod_stats(client: CriClient) -> list[PodStats]:
    sandboxes, containers, stats = await asyncio.gather(
        client.list_pod_sandbox(api.PodSandboxFilter(state=api.PodSandboxStateValue(state=api.SANDBOX_READY))),
        client.list_containers(api.ContainerFilter(state=api.ContainerStateValue(state=api.CONTAINER_RUNNING))),
        client.list_pod_sandbox_stats())
    created = {s.id: s.created_at / 1e9 for s in sandboxes}
    running = {c.id: c.created_at / 1e9 for c in containers}
    pods = []
    for stat in stats:
        sandbox_id, meta = stat.attributes.id, stat.attributes.metadata
        if sandbox_id not in created:
            continue
        linux = stat.linux
        pods.append(PodStats(sandbox_id, meta.name, meta.namespace, meta.uid, created[sandbox_id],
                             usage(linux.cpu, linux.memory),
                             [ContainerStats(c.attributes.metadata.name, c.attributes.id, running[c.attributes.id],
                                             usage(c.cpu, c.memory))
                              for c in linux.containers if c.attributes.id in running]))
    return pods
