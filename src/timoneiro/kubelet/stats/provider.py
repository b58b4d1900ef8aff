"""The kubelet's stats of its node and pods, in the two forms it serves them: the Summary API
(stats/v1alpha1, /stats/summary) and the resource metrics in Prometheus text (/metrics/resource), which
metrics-server scrapes.

Both read the runtime afresh on each request. The Summary API also gives cpu rates (usageNanoCores),
worked out as upstream's CRI stats provider does: from the cumulative counter now and the one last seen
for the same container, pod or node."""

from __future__ import annotations

import time
from collections.abc import Iterable
from decimal import Decimal

from timoneiro.kubelet.runtime.base import Runtime
from timoneiro.kubelet.stats.usage import PodStats, Usage
from timoneiro.kubelet.times import rfc3339

NODE = "node"


class StatsProvider:
    def __init__(self, node_name: str, runtime: Runtime, started_at: float | None = None) -> None:
        self.node_name = node_name
        self.runtime = runtime
        self.started_at = time.time() if started_at is None else started_at
        self._last: dict[str, Usage] = {}  # the last cpu sample of each node, sandbox and container id

    async def sample(self) -> tuple[Usage, list[PodStats]]:
        try:
            pods = await self.runtime.pod_stats()
        except NotImplementedError:
            pods = []
        return await self.runtime.node_usage(), pods

    # /stats/summary

    async def summary(self) -> dict:
        node, pods = await self.sample()
        seen: dict[str, Usage] = {NODE: node}
        summary_pods = []
        for pod in pods:
            seen[pod.sandbox_id] = pod.usage
            containers = []
            for container in pod.containers:
                seen[container.id] = container.usage
                containers.append({"name": container.name,
                                   "startTime": rfc3339(container.started_at or pod.created_at),
                                   "cpu": self._cpu(container.id, container.usage),
                                   "memory": _memory(container.usage)})
            summary_pods.append({"podRef": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
                                 "startTime": rfc3339(pod.created_at), "containers": containers,
                                 "cpu": self._cpu(pod.sandbox_id, pod.usage), "memory": _memory(pod.usage)})
        self._last = seen  # what is gone is forgotten
        return {"node": {"nodeName": self.node_name, "startTime": rfc3339(self.started_at),
                         "cpu": self._cpu(NODE, node), "memory": _memory(node)},
                "pods": summary_pods}

    def _cpu(self, key: str, usage: Usage) -> dict:
        cpu = {"time": rfc3339(usage.timestamp), "usageCoreNanoSeconds": usage.cpu_core_nanoseconds}
        last = self._last.get(key)
        if last is not None and usage.timestamp > last.timestamp and \
                usage.cpu_core_nanoseconds >= last.cpu_core_nanoseconds:
            spent = usage.cpu_core_nanoseconds - last.cpu_core_nanoseconds
            cpu["usageNanoCores"] = int(spent / (usage.timestamp - last.timestamp))
        return cpu

    # /metrics/resource

    async def resource_metrics(self) -> str:
        try:
            node, pods = await self.sample()
            failed = 0
        except Exception:  # noqa: BLE001 - the runtime's failure is reported as upstream reports it
            node, pods, failed = await self.runtime.node_usage(), [], 1
        return prometheus_text(node, pods, failed)


def _memory(usage: Usage) -> dict:
    return {"time": rfc3339(usage.timestamp), "usageBytes": usage.memory_usage_bytes,
            "workingSetBytes": usage.memory_working_set_bytes, "rssBytes": usage.memory_rss_bytes}


# name, help, type, stability of the resource metrics upstream's kubelet exports
FAMILIES = {
    "container_cpu_usage_seconds_total": ("Cumulative cpu time consumed by the container in core-seconds",
                                          "counter"),
    "container_memory_working_set_bytes": ("Current working set of the container in bytes", "gauge"),
    "container_start_time_seconds": ("Start time of the container since unix epoch in seconds", "gauge"),
    "node_cpu_usage_seconds_total": ("Cumulative cpu time consumed by the node in core-seconds", "counter"),
    "node_memory_working_set_bytes": ("Current working set of the node in bytes", "gauge"),
    "pod_cpu_usage_seconds_total": ("Cumulative cpu time consumed by the pod in core-seconds", "counter"),
    "pod_memory_working_set_bytes": ("Current working set of the pod in bytes", "gauge"),
    "resource_scrape_error": ("1 if there was an error while getting container metrics, 0 otherwise", "gauge"),
}


def prometheus_text(node: Usage, pods: Iterable[PodStats], scrape_error: int = 0) -> str:
    """The resource metrics as upstream's kubelet writes them: families in name order, samples with their
    own timestamps in milliseconds."""
    samples: dict[str, list[str]] = {name: [] for name in FAMILIES}

    def add(name: str, labels: dict[str, str], value: float, at: float | None) -> None:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        stamp = f" {round(at * 1000)}" if at is not None else ""
        samples[name].append(f"{name}{{{text}}} {_number(value)}{stamp}" if text
                             else f"{name} {_number(value)}{stamp}")

    add("node_cpu_usage_seconds_total", {}, node.cpu_core_nanoseconds / 1e9, node.timestamp)
    add("node_memory_working_set_bytes", {}, node.memory_working_set_bytes, node.timestamp)
    for pod in sorted(pods, key=lambda p: (p.namespace, p.name)):
        pod_labels = {"namespace": pod.namespace, "pod": pod.name}
        add("pod_cpu_usage_seconds_total", pod_labels, pod.usage.cpu_core_nanoseconds / 1e9, pod.usage.timestamp)
        add("pod_memory_working_set_bytes", pod_labels, pod.usage.memory_working_set_bytes, pod.usage.timestamp)
        for container in sorted(pod.containers, key=lambda c: c.name):
            labels = {**pod_labels, "container": container.name}
            usage = container.usage
            add("container_cpu_usage_seconds_total", labels, usage.cpu_core_nanoseconds / 1e9, usage.timestamp)
            add("container_memory_working_set_bytes", labels, usage.memory_working_set_bytes, usage.timestamp)
            add("container_start_time_seconds", labels, container.started_at or pod.created_at, usage.timestamp)
    add("resource_scrape_error", {}, scrape_error, None)
    lines = []
    for name, (help_text, kind) in FAMILIES.items():
        if samples[name]:
            lines += [f"# HELP {name} [STABLE] {help_text}", f"# TYPE {name} {kind}", *samples[name]]
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    """As Go's strconv.FormatFloat(v, 'g', -1, 64), which Prometheus' text encoder uses: the shortest digits,
    in exponent form from 1e+06 up and below 1e-04."""
    if value == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # where the decimal point falls in digits
    x = point - 1
    if x < -4 or x >= 6:
        text = digits[0] + ("." + digits[1:] if len(digits) > 1 else "") + f"e{'+' if x >= 0 else '-'}{abs(x):02d}"
    elif point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return ("-" if sign else "") + text


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
