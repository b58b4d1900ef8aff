"""API server benchmark: throughput and latency of create, get, list, update and watch fan-out.

    python benchmarks/apiserver.py [--pods 10000] [--memory-pods 100000] [--concurrency 32]

The server runs alone in its own process, as kube-apiserver does (no controller manager beside it). Two
clients drive it with N concurrent requests: aiohttp (a Python asyncio client, as the issue's reference
figures used) over HTTPS with admin.conf's client certificate, the way every client reaches a cluster; and
wrk (a C client, installed from Debian if missing), whose figures show what the server itself sustains on
the same cores. wrk cannot present a client certificate, so its figures come from a server run with
--no-security (plain HTTP, everyone the superuser); benchmarks/security.py measures what TLS and
authentication cost on top.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time

import aiohttp
import orjson

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from server_process import ServerProcess, session  # noqa: E402
from timoneiro.client import ClientConfig  # noqa: E402
from wrk_client import NAME, creating, wrk  # noqa: E402


def pod(name: str, ns: str) -> dict:
    """A pod the size of one a Deployment makes (about 1.5 KB of JSON)."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "bench", "pod-template-hash": "7c5ddbdf54"},
                     "annotations": {"bench/annotation": "x" * 64}},
        "spec": {"containers": [{
            "name": "app", "image": "registry.example/bench/app:1.2.3", "command": ["/bin/app", "--serve"],
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "MODE", "value": "bench"}, {"name": "LEVEL", "value": "info"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
        }], "nodeSelector": {"kubernetes.io/os": "linux"}},
    }


def stats(name: str, latencies: list[float], elapsed: float) -> None:
    lat = sorted(latencies)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    print(f"{name:<28} {len(lat) / elapsed:>9.0f} req/s   p50 {p(0.5):7.1f} ms   p99 {p(0.99):7.1f} ms"
          f"   ({len(lat)} requests)", flush=True)


async def run_parallel(n: int, concurrency: int, make_request) -> tuple[list[float], float]:
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await make_request(i)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


async def check(resp: aiohttp.ClientResponse, want: int) -> bytes:
    body = await resp.read()
    if resp.status != want:
        raise RuntimeError(f"{resp.method} {resp.url}: {resp.status} {body[:300]!r}")
    return body


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def bench(config: ClientConfig, args: argparse.Namespace, pid: int) -> None:
    async with session(config) as s:
        async def create_ns(name: str) -> None:
            async with s.post("/api/v1/namespaces", json={"metadata": {"name": name}}) as r:
                await check(r, 201)

        for ns in ("bench", "small"):
            await create_ns(ns)
        n, c = args.pods, args.concurrency
        headers = {"Content-Type": "application/json"}

        async def create(i: int) -> None:
            async with s.post("/api/v1/namespaces/bench/pods", data=orjson.dumps(pod(f"p-{i}", "bench")),
                              headers=headers) as r:
                await check(r, 201)

        stats("create pod", *await run_parallel(n, c, create))

        async def get(i: int) -> None:
            async with s.get(f"/api/v1/namespaces/bench/pods/p-{(i * 7919) % n}") as r:
                await check(r, 200)

        stats("get pod", *await run_parallel(max(n, 20000), c, get))

        async def update(i: int) -> None:
            name = f"p-{i % n}"
            async with s.get(f"/api/v1/namespaces/bench/pods/{name}") as r:
                obj = orjson.loads(await check(r, 200))
            obj["metadata"]["labels"]["rev"] = str(i)
            async with s.put(f"/api/v1/namespaces/bench/pods/{name}", data=orjson.dumps(obj), headers=headers) as r:
                await check(r, 200)

        stats("update pod (get + put)", *await run_parallel(min(n, 5000), c, update))

        async def create_small(i: int) -> None:
            async with s.post("/api/v1/namespaces/small/pods", data=orjson.dumps(pod(f"s-{i}", "small")),
                              headers=headers) as r:
                await check(r, 201)

        await run_parallel(1000, c, create_small)
        for label, path, count in (("list 1k pods", "/api/v1/namespaces/small/pods", 20),
                                   (f"list {n // 1000}k pods", "/api/v1/namespaces/bench/pods", 10)):
            lat = []
            for _ in range(count):
                t0 = time.perf_counter()
                async with s.get(path) as r:
                    body = await check(r, 200)
                lat.append(time.perf_counter() - t0)  # the whole answer received; parsing it is the client's
                items = len(orjson.loads(body)["items"])
            print(f"{label:<28} {statistics.median(lat) * 1000:>9.1f} ms median   {max(lat) * 1000:7.1f} ms max"
                  f"   ({items} items, {len(body) / 1e6:.1f} MB)", flush=True)

        await watch_fanout(config, args.watchers)
        print(f"{'server RSS':<28} {rss_mb(pid):>9.0f} MB with {n + 1000} pods stored", flush=True)
        if args.memory_pods > n + 1000:
            extra = args.memory_pods - n - 1000

            async def create_more(i: int) -> None:
                async with s.post("/api/v1/namespaces/bench/pods",
                                  data=orjson.dumps(pod(f"m-{i}", "bench")), headers=headers) as r:
                    await check(r, 201)

            stats("create pod (to memory set)", *await run_parallel(extra, c, create_more))
            print(f"{'server RSS':<28} {rss_mb(pid):>9.0f} MB with {args.memory_pods} pods stored", flush=True)


async def watch_fanout(config: ClientConfig, watchers: int) -> None:
    """Open N watches, make one write, and time how long each watcher takes to see it."""
    async with session(config, timeout=aiohttp.ClientTimeout(total=120)) as s:
        async with s.get("/api/v1/namespaces/small/configmaps") as r:
            rv = orjson.loads(await r.read())["metadata"]["resourceVersion"]
        seen: list[float] = []
        ready = 0
        all_ready = asyncio.Event()

        async def watcher() -> None:
            nonlocal ready
            async with s.get("/api/v1/namespaces/small/configmaps",
                             params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "60"}) as r:
                ready += 1
                if ready == watchers:
                    all_ready.set()
                line = await r.content.readline()
                seen.append(time.perf_counter())
                assert b'"ADDED"' in line

        tasks = [asyncio.create_task(watcher()) for _ in range(watchers)]
        await asyncio.wait_for(all_ready.wait(), 60)
        await asyncio.sleep(0.2)
        t0 = time.perf_counter()
        async with s.post("/api/v1/namespaces/small/configmaps", json={"metadata": {"name": "fanout"}}) as r:
            await check(r, 201)
        await asyncio.gather(*tasks)
        lat = sorted(t - t0 for t in seen)
        print(f"{'watch fan-out':<28} {watchers} watchers saw one write: p50 {lat[len(lat) // 2] * 1000:.1f} ms"
              f"   p99 {lat[int(0.99 * len(lat))] * 1000:.1f} ms   last {lat[-1] * 1000:.1f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--memory-pods", type=int, default=100000, help="pods stored for the memory figure")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    args = parser.parse_args()
    print(f"timoneiro API server, {os.cpu_count()} cores, {args.concurrency} concurrent requests", flush=True)
    with tempfile.TemporaryDirectory() as data, ServerProcess(data, secure=False, controllers=False) as plain:
        import httpx

        httpx.post(plain.url + "/api/v1/namespaces", json={"metadata": {"name": "wrk"}}).raise_for_status()
        create = creating("/api/v1/namespaces/wrk/pods", pod(f"wrk-{NAME}", "wrk"))
        for label, path, script in (("create pod", "/", create),
                                    ("get pod", "/api/v1/namespaces/wrk/pods/wrk-100", None)):
            figures = wrk(plain.url + path, args.concurrency, args.wrk_seconds, script)
            print(f"{label + ' (wrk, plain HTTP)':<28} {figures.summary()}", flush=True)
    with tempfile.TemporaryDirectory() as data, ServerProcess(data, controllers=False) as server:
        print("aiohttp over HTTPS, as kubernetes-admin (admin.conf's client certificate):", flush=True)
        asyncio.run(bench(server.admin, args, server.pid))


if __name__ == "__main__":
    main()
