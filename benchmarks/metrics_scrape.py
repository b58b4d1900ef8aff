"""What resource metrics cost: metrics-server's scrape of simulated kubelets (HTTPS with its ServiceAccount
token, the kubelet writing /metrics/resource from its runtime's stats, parsing, storing), per round and per
node, in wall time and in CPU of the one process that runs both sides; and the metrics API read through the
API server's aggregation layer (PodMetrics list of every pod), as `kubectl top pod -A` reads it.

    python benchmarks/metrics_scrape.py [--nodes 10] [--pods 30]
"""

from __future__ import annotations

import argparse
import asyncio
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
from timoneiro.kubelet.server import Serving  # noqa: E402
from timoneiro.metrics.server import MetricsServer  # noqa: E402

ROUNDS = 20


async def main(nodes: int, pods: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tm-metrics-bench-") as tmp:
        server = ServerThread(os.path.join(tmp, "data")).start()
        try:
            await measure(server, nodes, pods)
        finally:
            server.stop()


async def measure(server: ServerThread, nodes: int, pods: int) -> None:
    pki = server.api.pki
    kubelets = []
    for i in range(nodes):
        name = f"node-{i}"
        cert, key = pki.kubelet_serving(name, ("127.0.0.1",))
        kubelets.append(Kubelet(server.node(name), name,
                                node_addresses=[{"type": "InternalIP", "address": "127.0.0.1"}], serving=Serving("127.0.0.1", 0, cert, key, pki.path("ca.crt"))))
    metrics = MetricsServer(server.admin, pki, resolution=3600)  # rounds run by hand below
    await asyncio.gather(*(k.start() for k in kubelets), metrics.start())
    async with Client(server.admin) as client:
        for i in range(nodes * pods):
            await client.create(PODS, {"metadata": {"name": f"p{i}", "annotations": {
                "sim.timoneiro.io/cpu-usage": "10m", "sim.timoneiro.io/memory-usage": "16Mi"}},
                "spec": {"nodeName": f"node-{i % nodes}", "containers": [{"name": "c", "image": "busybox"}]}},
                "default")
        await asyncio.sleep(3)  # the pods start
        walls, cpus = [], []
        for _ in range(ROUNDS):
            cpu = time.process_time()
            await metrics.scrape()
            cpus.append(time.process_time() - cpu)
            walls.append(metrics.scrape_seconds)
        reads = []
        for _ in range(ROUNDS):
            began = time.perf_counter()
            listed = await client.request("GET", "/apis/metrics.k8s.io/v1beta1/pods")
            reads.append(time.perf_counter() - began)
        print(f"{nodes} nodes x {pods} pods; {len(listed['items'])} PodMetrics listed")
        print(f"scrape round: wall p50 {statistics.median(walls) * 1e3:.1f} ms, "
              f"CPU (kubelets + metrics-server) p50 {statistics.median(cpus) * 1e3:.1f} ms; "
              f"per node {statistics.median(cpus) / nodes * 1e3:.2f} ms CPU")
        print(f"PodMetrics list through the aggregator: p50 {statistics.median(reads) * 1e3:.1f} ms, "
              f"max {max(reads) * 1e3:.1f} ms")
    await asyncio.gather(metrics.stop(), *(k.stop() for k in kubelets))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--pods", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.nodes, args.pods))
