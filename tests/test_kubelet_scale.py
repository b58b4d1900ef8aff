"""Many simulated nodes in one process: they start quickly, cost a few idle tasks each, and run pods."""

from __future__ import annotations

import asyncio
import time

from timoneiro.client import Client
from timoneiro.client.resources import NODES, PODS
from timoneiro.kubelet import Kubelet

NODES_COUNT = 200
START_BUDGET = 45.0  # seconds for all of them, with room for a loaded test machine
TASKS_PER_NODE = 12  # informer, PLEG, node status, lease and a few status writers


async def test_many_simulated_nodes(server):
    before = len(asyncio.all_tasks())
    kubelets = [Kubelet(server.admin, f"sim-{i:03d}") for i in range(NODES_COUNT)]
    began = time.monotonic()
    try:
        await asyncio.gather(*(k.start() for k in kubelets))
        elapsed = time.monotonic() - began
        assert elapsed < START_BUDGET, f"{NODES_COUNT} nodes took {elapsed:.1f}s to start"
        assert len(asyncio.all_tasks()) - before <= TASKS_PER_NODE * NODES_COUNT
        async with Client(server.admin) as client:
            nodes = (await client.list(NODES))["items"]
            ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                             for c in n["status"]["conditions"])]
            assert len(ready) == NODES_COUNT
            assert len({n["status"]["addresses"][0]["address"] for n in nodes}) == NODES_COUNT
            await client.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                                       "metadata": {"name": "last", "namespace": "default"},
                                       "spec": {"nodeName": f"sim-{NODES_COUNT - 1:03d}",
                                                "containers": [{"name": "app", "image": "nginx"}]}})
            deadline = time.monotonic() + 20
            while (await client.get(PODS, "last", "default"))["status"].get("phase") != "Running":
                assert time.monotonic() < deadline, "the pod did not start"
                await asyncio.sleep(0.05)
    finally:
        await asyncio.gather(*(k.stop() for k in kubelets))
