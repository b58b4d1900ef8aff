"""API server benchmark: throughput and latency of create, get, list, update and watch fan-out over HTTP.

    python benchmarks/apiserver.py [--pods 10000] [--memory-pods 100000] [--concurrency 32]

The server runs alone in its own process, as kube-apiserver does (no controller manager beside it). Two clients drive it with N concurrent requests:
aiohttp (a Python asyncio client, as the issue's reference figures used) and wrk (a C client, installed
from Debian if missing), whose figures show what the server itself sustains on the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import aiohttp
import orjson

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from timoneiro.apiserver.server import free_port  # noqa: E402


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


async def bench(base: str, args: argparse.Namespace, pid: int) -> None:
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base, connector=conn) as s:
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

        await watch_fanout(base, args.watchers)
        print(f"{'server RSS':<28} {rss_mb(pid):>9.0f} MB with {n + 1000} pods stored", flush=True)
        if args.memory_pods > n + 1000:
            extra = args.memory_pods - n - 1000

            async def create_more(i: int) -> None:
                async with s.post("/api/v1/namespaces/bench/pods",
                                  data=orjson.dumps(pod(f"m-{i}", "bench")), headers=headers) as r:
                    await check(r, 201)

            stats("create pod (to memory set)", *await run_parallel(extra, c, create_more))
            print(f"{'server RSS':<28} {rss_mb(pid):>9.0f} MB with {args.memory_pods} pods stored", flush=True)


async def watch_fanout(base: str, watchers: int) -> None:
    """Open N watches, make one write, and time how long each watcher takes to see it."""
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base, connector=conn, timeout=aiohttp.ClientTimeout(total=120)) as s:
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


WRK_CREATE = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"wrk-' .. counter .. '","namespace":"wrk",'
    .. '"labels":{"app":"bench"}},"spec":{"containers":[{"name":"app","image":"registry.example/bench/app:1.2.3",'
    .. '"ports":[{"containerPort":8080}],"resources":{"requests":{"cpu":"100m","memory":"128Mi"}}}]}}'
  return wrk.format("POST", "/api/v1/namespaces/wrk/pods", {["Content-Type"]="application/json"}, body)
end
"""


def wrk(base: str, concurrency: int, seconds: int, path: str, script: str | None = None) -> str:
    """Run wrk (installing it from Debian if it is missing) and summarise its figures."""
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
    args = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        if script:
            lua.write(script)
            lua.flush()
            args += ["-s", lua.name]
        out = subprocess.run(args + [base + path], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (f"{float(rate.group(1)):>9.0f} req/s   p50 {p50.group(1):>8}   p99 {p99.group(1):>8}"
            + (f"   ({errors.group(1)} errors)" if errors else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--memory-pods", type=int, default=100000, help="pods stored for the memory figure")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--watchers", type=int, default=1000)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen([sys.executable, "-m", "timoneiro", "server", "--data-dir", data,
                                   "--address", f"127.0.0.1:{port}", "--no-controllers"])
        try:
            base = f"http://127.0.0.1:{port}"
            import httpx

            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the API server did not start")
                try:
                    if httpx.get(base + "/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            print(f"timoneiro API server, {os.cpu_count()} cores, {args.concurrency} concurrent requests", flush=True)
            httpx.post(base + "/api/v1/namespaces", json={"metadata": {"name": "wrk"}}).raise_for_status()
            print(f"{'create pod (wrk)':<28} {wrk(base, args.concurrency, 10, '/', WRK_CREATE)}", flush=True)
            print(f"{'get pod (wrk)':<28} {wrk(base, args.concurrency, 10, '/api/v1/namespaces/wrk/pods/wrk-100')}",
                  flush=True)
            asyncio.run(bench(base, args, server.pid))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
