"""Scheduler benchmark: pods bound per second, and create-to-bound latency, on simulated nodes.

    python benchmarks/scheduler.py [--nodes 1000] [--pods 10000] [--concurrency 64]

The API server runs in its own process (as in production), over HTTPS; the scheduler runs in this one, on
uvloop, as system:kube-scheduler (scheduler.conf); the benchmark's own requests use admin.conf. Three runs:

  cycles   the scheduling cycles alone (filter, score, assume) on the same nodes, without the API server
  backlog  --pods pending pods are created first, then the scheduler starts: how fast it drains them.
  stream   the scheduler is running while --pods more pods are created as fast as the server takes them:
           bound/s, and p50/p99 of each pod's create-to-bound time.

Nodes have 32 cpu, 128Gi and 110 pods each, half of them in one of three zones; pods request 100m and 128Mi.
Simulated kubelets (in a process of their own) renew each node's Lease every 10s, so that the node lifecycle
controller keeps the nodes Ready.

Each run also waits for the scheduler's Scheduled events (events.k8s.io/v1, written in the background as
kube-scheduler writes them) and reports when the last was written. CPU is reported per pod, for this process
(the scheduler, plus the benchmark's own watch and, in stream, its creates) and for the API server, from the
scheduler's sync (or the first create) until the pods are bound and their events written: on a shared
machine these mean more than the wall-clock rates.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from server_process import ServerProcess, cpu_seconds  # noqa: E402
from timoneiro.client import ApiError, Client, ClientConfig  # noqa: E402
from timoneiro.client.informer import Informer  # noqa: E402
from timoneiro.client.resources import LEASES, NAMESPACES, NODES, PODS  # noqa: E402
from timoneiro.gctune import tune_for_service  # noqa: E402
from timoneiro.scheduler import Scheduler  # noqa: E402
from timoneiro.scheduler.framework import CycleState  # noqa: E402

NAMESPACE = "bench"
LEASE_NAMESPACE = "kube-node-lease"
RENEW_EVERY = 10.0


def node(i: int) -> dict:
    name = f"node-{i:04d}"
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    if i % 2:
        labels["topology.kubernetes.io/zone"] = f"zone-{i % 3}"
    resources = {"cpu": "32", "memory": "128Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "status": {"capacity": resources, "allocatable": resources,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE,
                                                            "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "app", "image": "registry.example/bench:1",
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
                     "nodeSelector": {"kubernetes.io/os": "linux"}}}


async def parallel(n: int, concurrency: int, work) -> None:
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await work(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def create_nodes(client: Client, n: int, concurrency: int) -> None:
    async def one(i: int) -> None:
        body = node(i)
        created = await client.create(NODES, body)
        created["status"] = body["status"]  # status is the kubelet's to write, through the status subresource
        await client.update_status(NODES, created)

    await parallel(n, concurrency, one)


def micro_time() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1e6) % 1000000:06d}Z"


async def heartbeats(client: Client, n: int, concurrency: int) -> None:
    """What each node's kubelet does to show it is alive: create, then keep renewing, its Lease."""
    try:
        await client.create(NAMESPACES, {"metadata": {"name": LEASE_NAMESPACE}})
    except ApiError as e:
        if e.code != 409:
            raise

    async def create(i: int) -> None:
        name = node(i)["metadata"]["name"]
        await client.create(LEASES, {"metadata": {"name": name, "namespace": LEASE_NAMESPACE},
                                     "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                                              "renewTime": micro_time()}}, LEASE_NAMESPACE)

    async def renew(i: int) -> None:
        await client.patch(LEASES, node(i)["metadata"]["name"], {"spec": {"renewTime": micro_time()}},
                           LEASE_NAMESPACE)

    await parallel(n, concurrency, create)
    while True:
        await asyncio.sleep(RENEW_EVERY)
        await parallel(n, concurrency, renew)


def kubelets(config: ClientConfig, n: int, concurrency: int) -> None:
    async def run() -> None:
        async with Client(config) as client:
            await heartbeats(client, n, concurrency)
    asyncio.run(run())


def name_only(pod: dict) -> dict:
    """What the benchmark's own informer keeps of a pod: its name, namespace and resourceVersion (it shares the
    scheduler's process, so it should cost that process as little as it can)."""
    meta = pod["metadata"]
    return {"metadata": {k: meta[k] for k in ("name", "namespace", "resourceVersion") if k in meta}}


class BoundWatch:
    """When each pod was first seen bound, from an informer on pods with a node (it watches again after the
    server drops a watch that fell behind)."""

    def __init__(self, client: Client) -> None:
        self.bound: dict[str, float] = {}
        self._waiting: set[str] = set()
        self._all_bound = asyncio.Event()
        self.informer = Informer(client, PODS, NAMESPACE, field_selector="spec.nodeName!=", transform=name_only)
        self.informer.add_handler(on_add=self._seen, on_update=lambda _old, new: self._seen(new))

    def _seen(self, pod: dict) -> None:
        name = pod["metadata"]["name"]
        if name not in self.bound:
            self.bound[name] = time.perf_counter()
            self._waiting.discard(name)
            if not self._waiting:
                self._all_bound.set()

    async def start(self) -> None:
        self.informer.start()
        await self.informer.wait_for_sync()

    async def wait_for(self, names: list[str], timeout: float) -> None:
        self._waiting = {n for n in names if n not in self.bound}
        self._all_bound = asyncio.Event()
        if not self._waiting:
            return
        try:
            await asyncio.wait_for(self._all_bound.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"{len(self._waiting)} of {len(names)} pods not bound after {timeout}s") from None

    async def stop(self) -> None:
        await self.informer.stop()


def cycles_alone(nodes: int, pods: int) -> None:
    """Scheduling cycles without any I/O: what the scheduler's own work costs per pod."""
    s = Scheduler("http://127.0.0.1:9")  # never started: it makes no requests
    for i in range(nodes):
        s.cache.add_node(node(i))
    infos = []
    for i in range(pods):
        body = pod(f"cycle-{i}")
        body["metadata"]["uid"] = f"cycle-{i}"
        infos.append(s.pod_info(body))
    started = time.process_time()
    for info in infos:
        host = s.schedule_pod(CycleState(), info)
        s.cache.assume_pod(info.assumed_on(host))
    cpu = time.process_time() - started
    print(f"cycles:  {pods} scheduling cycles on {nodes} nodes, {cpu / pods * 1e6:.0f} us of cpu each"
          f"   {pods / cpu:7.0f} pods/s", flush=True)


async def events_written(scheduler: Scheduler, timeout: float) -> float:
    """When the scheduler had written every event it recorded."""
    deadline = time.monotonic() + timeout
    while scheduler.recorder.pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{scheduler.recorder.pending} events not written after {timeout}s")
        await asyncio.sleep(0.01)
    return time.perf_counter()


class CPU:
    """CPU time this process and the API server use from now on."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.own, self.server = time.process_time(), cpu_seconds(server_pid)

    def per_pod(self, pods: int) -> str:
        own, server = time.process_time() - self.own, cpu_seconds(self.server_pid) - self.server
        return (f"cpu/pod: scheduler process {own / pods * 1000:.2f} ms, API server {server / pods * 1000:.2f} ms"
                f" ({own:.1f}s, {server:.1f}s)")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def bench(server: ServerProcess, args: argparse.Namespace) -> None:
    server_pid = server.pid
    async with Client(server.admin) as client:
        await client.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
        t0 = time.perf_counter()
        await create_nodes(client, args.nodes, args.concurrency)
        kubelet_process = multiprocessing.get_context("spawn").Process(
            target=kubelets, args=(server.admin, args.nodes, args.concurrency), daemon=True)
        kubelet_process.start()
        print(f"{args.nodes} nodes created in {time.perf_counter() - t0:.1f}s", flush=True)

        async def create(prefix: str, created: dict[str, float]) -> None:
            async def one(i: int) -> None:
                name = f"{prefix}-{i:05d}"
                created[name] = time.perf_counter()
                await client.create(PODS, pod(name), NAMESPACE)
            await parallel(args.pods, args.concurrency, one)

        watch = BoundWatch(client)
        await watch.start()

        # backlog: pending pods first, then the scheduler
        backlog: dict[str, float] = {}
        t0 = time.perf_counter()
        await create("backlog", backlog)
        print(f"{args.pods} pending pods created in {time.perf_counter() - t0:.1f}s "
              f"({args.pods / (time.perf_counter() - t0):.0f}/s)", flush=True)
        scheduler = Scheduler(server.config("scheduler.conf"))
        started = time.perf_counter()
        await scheduler.start()
        synced = time.perf_counter()
        cpu = CPU(server_pid)
        await watch.wait_for(list(backlog), args.timeout)
        done = max(watch.bound[n] for n in backlog)
        events_in = await events_written(scheduler, args.timeout) - synced
        print(f"backlog: {args.pods} pods bound in {done - synced:.2f}s after sync ({synced - started:.2f}s)"
              f"   {args.pods / (done - synced):7.0f} pods/s   events written by {events_in:.2f}s"
              f"   {cpu.per_pod(args.pods)}", flush=True)

        # stream: create while the scheduler runs
        stream: dict[str, float] = {}
        cpu = CPU(server_pid)
        t0 = time.perf_counter()
        await create("stream", stream)
        created_in = time.perf_counter() - t0
        await watch.wait_for(list(stream), args.timeout)
        done = max(watch.bound[n] for n in stream)
        events_in = await events_written(scheduler, args.timeout) - t0
        latency = [watch.bound[n] - stream[n] for n in stream]
        print(f"stream:  {args.pods} pods created in {created_in:.2f}s, all bound in {done - t0:.2f}s"
              f"   {args.pods / (done - t0):7.0f} pods/s"
              f"   create->bound p50 {percentile(latency, 0.5) * 1000:.0f} ms"
              f"  p99 {percentile(latency, 0.99) * 1000:.0f} ms   events written by {events_in:.2f}s"
              f"   {cpu.per_pod(args.pods)}", flush=True)
        recorder = scheduler.recorder
        print(f"scheduler: {scheduler.stats}, events written {recorder.written}, failed {recorder.failed}",
              flush=True)
        await watch.stop()
        await scheduler.stop()
        kubelet_process.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    print(f"timoneiro scheduler, {os.cpu_count()} cores, {args.nodes} nodes, {args.pods} pods", flush=True)
    tune_for_service()  # as the process that runs the scheduler in a cluster does (cluster/supervisor.py)
    cycles_alone(args.nodes, min(args.pods, 2000))
    with tempfile.TemporaryDirectory() as data, ServerProcess(data) as server:
        import uvloop

        uvloop.run(bench(server, args))


if __name__ == "__main__":
    main()
