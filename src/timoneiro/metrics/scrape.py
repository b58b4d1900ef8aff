"""Scraping kubelets as metrics-server does: GET https://NODE:PORT/metrics/resource at the node's preferred
address, with the server's bearer token, and parse the resource metrics out of the Prometheus text."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from dataclasses import dataclass, field

import httpx

from timoneiro.apiserver.kubelet_proxy import kubelet_netloc

# --kubelet-preferred-address-types, as metrics-server's own manifest (components.yaml) sets it
ADDRESS_TYPES = ("InternalIP", "ExternalIP", "Hostname")
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?\s*$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Point:
    """One series at one moment: cumulative cpu seconds, working set bytes, and the start time of what it
    measures (a container's; None for a node)."""

    timestamp: float
    cpu_seconds: float
    memory_bytes: float
    started_at: float | None = None


@dataclass
class NodeBatch:
    """What one scrape of one kubelet gave: the node's point and each container's by (namespace, pod,
    container)."""

    node: Point | None = None
    containers: dict[tuple[str, str, str], Point] = field(default_factory=dict)


def parse(text: str, now: float | None = None) -> NodeBatch:
    """The node's and containers' points in a /metrics/resource answer; a series without a timestamp takes
    the scrape's time, and a container missing either cpu or memory is left out, as metrics-server does."""
    now = time.time() if now is None else now
    node: dict[str, tuple[float, float]] = {}
    containers: dict[tuple[str, str, str], dict[str, tuple[float, float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels_text, value_text, stamp = match.groups()
        try:
            value = float(value_text)
        except ValueError:
            continue
        at = int(stamp) / 1000 if stamp else now
        if name in ("node_cpu_usage_seconds_total", "node_memory_working_set_bytes"):
            node[name] = (value, at)
        elif name in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                      "container_start_time_seconds"):
            labels = {k: _unescape(v) for k, v in _LABEL.findall(labels_text or "")}
            key = (labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))
            containers.setdefault(key, {})[name] = (value, at)
    batch = NodeBatch()
    if "node_cpu_usage_seconds_total" in node and "node_memory_working_set_bytes" in node:
        cpu, at = node["node_cpu_usage_seconds_total"]
        batch.node = Point(at, cpu, node["node_memory_working_set_bytes"][0])
    for key, series in containers.items():
        if "container_cpu_usage_seconds_total" in series and "container_memory_working_set_bytes" in series:
            cpu, at = series["container_cpu_usage_seconds_total"]
            started = series.get("container_start_time_seconds", (None, None))[0]
            batch.containers[key] = Point(at, cpu, series["container_memory_working_set_bytes"][0], started)
    return batch


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def kubelet_url(node: dict) -> str | None:
    """Where the node's kubelet serves its resource metrics, or None if its status names no address."""
    netloc = kubelet_netloc(node.get("status") or {}, ADDRESS_TYPES)
    return None if netloc is None else f"https://{netloc}/metrics/resource"


class KubeletScraper:
    """One HTTP client for all kubelets: TLS checked against the cluster CA (--kubelet-certificate-authority),
    the bearer token asked for before each round, since it is renewed."""

    def __init__(self, tls: ssl.SSLContext, timeout: float) -> None:
        self._http = httpx.AsyncClient(verify=tls, timeout=timeout, trust_env=False)

    async def close(self) -> None:
        await self._http.aclose()

    async def scrape(self, nodes: list[dict], token: str) -> dict[str, NodeBatch | Exception]:
        """Every node at once: its batch, or why it gave none."""
        async def one(node: dict) -> NodeBatch | Exception:
            url = kubelet_url(node)
            if url is None:
                return LookupError(f"node {node['metadata']['name']} has no address")
            try:
                response = await self._http.get(url, headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError as e:
                return e
            if response.status_code != 200:
                return RuntimeError(f"request failed, status: \"{response.status_code} "
                                    f"{response.reason_phrase}\"")
            return parse(response.text)

        results = await asyncio.gather(*(one(node) for node in nodes))
        return {node["metadata"]["name"]: result for node, result in zip(nodes, results, strict=True)}
