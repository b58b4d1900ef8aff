"""Pod startup latency: from the pod's create request to a watch event showing it Running.

    python benchmarks/pod_startup.py [--nodes 4] [--pods 1000] [--concurrency 32]

An API server (a ServerThread, HTTPS) and a few kubelets with the simulated runtime at zero start latency
run in this process, each kubelet with its own node's client certificate (kubelets/NODE.conf), the benchmark
as the administrator (admin.conf). Pods are created with spec.nodeName set (no scheduler in the way), first one at a time
(the latency of the path alone: watch event, pod worker, runtime, status write, watch event), then
`--pods` of them with `--concurrency` creates in flight (the latency under load, and the throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from timoneiro.apiserver.server import ServerThread  # noqa: E402
from timoneiro.client import Client  # noqa: E402
from timoneiro.client.resources import PODS  # noqa: E402
from timoneiro.kubelet import Kubelet  # noqa: E402

NS = "default"


def pod(name: str, node: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "startup"}},
            "spec": {"nodeName": node, "containers": [{
                "name": "app", "image": "registry.example/app:1.0",
                "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}}}]}}


class RunningWatch:
    """When each pod was first seen Running on a watch of all pods."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.running: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Future] = {}
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        rv = (await self.client.list(PODS, NS, limit=1))["metadata"]["resourceVersion"]
        self._task = asyncio.get_running_loop().create_task(self._follow(rv))

    async def _follow(self, rv: str) -> None:
        async with self.client.watch(PODS, NS, resource_version=rv, timeout_seconds=3600) as events:
            async for event in events:
                obj = event.object
                name = obj["metadata"].get("name", "")
                if (obj.get("status") or {}).get("phase") == "Running" and name not in self.running:
                    self.running[name] = time.perf_counter()
                    waiter = self._waiters.pop(name, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)

    async def wait(self, name: str) -> float:
        if name not in self.running:
            waiter = self._waiters.setdefault(name, asyncio.get_running_loop().create_future())
            await asyncio.wait_for(waiter, 60)
        return self.running[name]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def measure(client: Client, watch: RunningWatch, nodes: list[str], names: list[str],
                  concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue = iter(enumerate(names))

    async def worker() -> None:
        for i, name in queue:
            began = time.perf_counter()
            await client.create(PODS, pod(name, nodes[i % len(nodes)]), NS)
            latencies.append(await watch.wait(name) - began)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - began


def report(label: str, latencies: list[float], elapsed: float) -> None:
    ordered = sorted(latencies)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000
    print(f"{label:<34} p50 {q(0.5):7.1f} ms   p99 {q(0.99):7.1f} ms   max {ordered[-1] * 1000:7.1f} ms   "
          f"mean {statistics.fmean(ordered) * 1000:6.1f} ms   {len(ordered) / elapsed:7.0f} pods/s", flush=True)


async def run(server: ServerThread, node_count: int, pods: int, concurrency: int) -> None:
    room = {"pods": str(pods // node_count + 200)}  # more than the default 110 pods a node, and
    kubelets = [Kubelet(server.node(f"bench-{i}"), f"bench-{i}", capacity=room,  # addresses
                        pod_cidr=f"10.{100 + i}.0.0/16") for i in range(node_count)]
    began = time.perf_counter()
    await asyncio.gather(*(k.start() for k in kubelets))
    print(f"{node_count} kubelets started in {(time.perf_counter() - began) * 1000:.0f} ms", flush=True)
    nodes = [k.node_name for k in kubelets]
    async with Client(server.admin) as client:
        watch = RunningWatch(client)
        await watch.start()
        try:
            serial = [f"serial-{i}" for i in range(min(200, pods))]
            report("one at a time", *await measure(client, watch, nodes, serial, 1))
            burst = [f"burst-{i}" for i in range(pods)]
            report(f"{pods} pods, {concurrency} creates in flight", *await measure(client, watch, nodes, burst,
                                                                                     concurrency))
        finally:
            await watch.stop()
    await asyncio.gather(*(k.stop() for k in kubelets))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="timoneiro-bench-") as data:
        server = ServerThread(data).start()
        try:
            asyncio.run(run(server, args.nodes, args.pods, args.concurrency))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
