"""Security path benchmark: what TLS, authentication and authorization cost the API server, side by side.

    python benchmarks/security.py [--concurrency 32] [--requests 3000] [--wrk-seconds 5] [--rounds 3]

Two API servers run at once, alone (no controller manager), each in its own process:
  (a) `timoneiro server --no-security`: plain HTTP, no authentication, no authorization;
  (b) `timoneiro server`: HTTPS, every request authenticated, and authorization Node,RBAC where the server
      has --authorization-mode (the client is then an ordinary user whose group is bound to the `edit`
      ClusterRole in the benchmark's namespace, so that RBAC really evaluates each request rather than
      letting system:masters through), otherwise AlwaysAllow. It prints which.
Two clients GET and CREATE configmaps with --concurrency requests in flight over keep-alive connections:
aiohttp (Python; on (b) with the user's x509 client certificate) and, where the server has
--token-auth-file, wrk (C, so that the client's share of the two cores does not hide the server's cost;
on (b) with the user's bearer token, as wrk cannot present a client certificate). Each measurement runs
against (a) and (b) alternately (a b, then b a) for --rounds rounds, in the same conditions. Printed per
server and operation: requests per second, p50/p99 latency (the median over the rounds) and the server's
own CPU time per request; then (b) against (a). The issue's target: the security path costs under 30% of
throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import httpx
import orjson

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from server_process import ServerProcess, cpu_seconds, session  # noqa: E402
from timoneiro.client import ClientConfig  # noqa: E402
from wrk_client import NAME, creating, wrk  # noqa: E402

NAMESPACE = "bench"
GROUP = "bench-editors"
USER = "bench-user"
PRELOADED = 1000  # configmaps the GETs read
TARGET = 0.30
JSON = {"Content-Type": "application/json"}
CONFIGMAPS = f"/api/v1/namespaces/{NAMESPACE}/configmaps"


def configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "bench"}},
            "data": {"mode": "bench", "settings": "x" * 200}}


def server_options() -> str:
    """`timoneiro server --help`: which of the security options this checkout has."""
    return subprocess.run([sys.executable, "-m", "timoneiro", "server", "--help"], capture_output=True,
                          text=True, check=True).stdout


async def expect(resp: aiohttp.ClientResponse, *want: int) -> bytes:
    body = await resp.read()
    if resp.status not in want:
        raise RuntimeError(f"{resp.method} {resp.url}: {resp.status} {body[:300]!r}")
    return body


@dataclass
class Run:
    requests: int
    elapsed: float
    server_cpu: float
    p50: float
    p99: float


@dataclass
class Figures:
    """One server's runs of one measurement, over the rounds."""

    runs: list[Run] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return sum(r.requests for r in self.runs) / sum(r.elapsed for r in self.runs)

    @property
    def cpu_per_request(self) -> float:
        return sum(r.server_cpu for r in self.runs) / sum(r.requests for r in self.runs)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in self.runs)


async def timed(server: ServerProcess, work: Awaitable[tuple[int, float, float]]) -> Run:
    """A run of `work` (a coroutine not yet started, answering requests, p50 and p99), with the server's CPU
    time over it."""
    cpu, start = cpu_seconds(server.pid), time.perf_counter()
    requests, p50, p99 = await work
    return Run(requests, time.perf_counter() - start, cpu_seconds(server.pid) - cpu, p50, p99)


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def aiohttp_run(client: aiohttp.ClientSession, n: int, concurrency: int,
                      request) -> tuple[int, float, float]:
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await request(client, i)
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.sort()
    return len(latencies), percentile(latencies, 0.5), percentile(latencies, 0.99)


async def get(client: aiohttp.ClientSession, i: int) -> None:
    async with client.get(f"{CONFIGMAPS}/cm-{(i * 7919) % PRELOADED}") as r:
        await expect(r, 200)


def creator(prefix: str):
    async def create(client: aiohttp.ClientSession, i: int) -> None:
        async with client.post(CONFIGMAPS, data=orjson.dumps(configmap(f"{prefix}{i}")), headers=JSON) as r:
            await expect(r, 201)
    return create


async def wrk_run(config: ClientConfig, path: str, script: str | None, seconds: int,
                  concurrency: int) -> tuple[int, float, float]:
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    result = await asyncio.to_thread(wrk, config.server + path, concurrency, seconds, script, headers)
    if result.errors:
        raise RuntimeError(f"wrk {path}: {result.errors} requests failed")
    return result.requests, result.p50, result.p99


async def prepare(server: ServerProcess, rbac: bool) -> str:
    """The benchmark's namespace, configmaps to read and, on the secure server, the user's RoleBinding
    (to `edit`); answers what authorization the user is measured under."""
    async with session(server.admin) as admin:
        async with admin.post("/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}}) as r:
            await expect(r, 201)
        for i in range(PRELOADED):
            async with admin.post(CONFIGMAPS, data=orjson.dumps(configmap(f"cm-{i}")), headers=JSON) as r:
                await expect(r, 201)
        if not server.secure:
            return "none (plain HTTP, everyone the superuser)"
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": GROUP, "namespace": NAMESPACE},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                               "name": "edit"},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": GROUP}]}
        async with admin.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings",
                              json=binding) as r:
            await expect(r, 201)
    async with session(server.user(USER, GROUP)) as user, \
            user.get("/api/v1/namespaces/default/configmaps") as r:  # outside the binding: is RBAC deciding?
        await expect(r, 200, 403)
        enforced = r.status == 403
    if rbac and not enforced:
        raise SystemExit("the server was started with --authorization-mode Node,RBAC but lets the user read "
                         "configmaps outside its RoleBinding")
    return f"RBAC (group {GROUP} bound to edit in {NAMESPACE})" if enforced else "AlwaysAllow"


def aggregate_roles(data_dir: str, server_args: tuple[str, ...], timeout: float = 60) -> None:
    """Run the secure server once with its controllers, until the clusterrole-aggregation controller has
    filled in `edit` (a bootstrap role with an aggregationRule and no rules of its own, which gets its read
    verbs through `view`, aggregated first); the measured servers then run without controllers, and find
    it so in storage."""
    with ServerProcess(data_dir, args=server_args) as server, \
            httpx.Client(base_url=server.url, verify=server.admin.ssl_context()) as admin:
        deadline = time.monotonic() + timeout
        edit = "/apis/rbac.authorization.k8s.io/v1/clusterroles/edit"
        while not {"get", "create"} <= {verb for rule in admin.get(edit).json().get("rules") or ()
                                        if "configmaps" in rule.get("resources", ())
                                        for verb in rule["verbs"]}:
            if time.monotonic() > deadline:
                raise SystemExit("the edit ClusterRole was not aggregated")
            time.sleep(0.1)


Measure = Callable[[int, str, int], Awaitable[tuple[int, float, float]]]  # (side, op, round) -> figures


async def alternate(title: str, servers: list[ServerProcess], measure: Measure, rounds: int) -> list[float]:
    """Each operation against (a) then (b), then (b) then (a)...; prints the figures, answers the ratios."""
    figures = [{op: Figures() for op in ("GET", "CREATE")} for _ in servers]
    for round_ in range(rounds):
        order = [0, 1] if round_ % 2 == 0 else [1, 0]
        for op in ("GET", "CREATE"):
            for side in order:
                figures[side][op].runs.append(await timed(servers[side], measure(side, op, round_)))
    print(title, flush=True)
    return [report(op, figures[0][op], figures[1][op]) for op in ("GET", "CREATE")]


def report(op: str, a: Figures, b: Figures) -> float:
    for label, f in (("(a)", a), ("(b)", b)):
        print(f"  {op:<7} {label}  {f.rate:8.0f} req/s   p50 {f.median('p50') * 1000:6.1f} ms   "
              f"p99 {f.median('p99') * 1000:6.1f} ms   server cpu {f.cpu_per_request * 1e6:6.0f} us/request",
              flush=True)
    ratio = b.rate / a.rate
    print(f"  {op:<7} (b)/(a): throughput {ratio:.2f} (the security path costs {(1 - ratio) * 100:.0f}%),"
          f" p99 x{b.median('p99') / a.median('p99'):.2f},"
          f" server cpu per request x{b.cpu_per_request / a.cpu_per_request:.2f}", flush=True)
    return ratio


async def bench(plain: ServerProcess, secure: ServerProcess, rbac: bool, token: str | None,
                args: argparse.Namespace) -> None:
    print(f"(a) {plain.url}: authentication and authorization: {await prepare(plain, False)}", flush=True)
    print(f"(b) {secure.url}: TLS, authorization: {await prepare(secure, rbac)}", flush=True)
    servers = [plain, secure]
    c = args.concurrency
    async with session(plain.admin) as a_client, session(secure.user(USER, GROUP)) as b_client:
        clients = [a_client, b_client]
        for client in clients:  # open the connections (TLS handshakes included) before anything is timed
            await aiohttp_run(client, c * 10, c, get)

        async def with_aiohttp(side: int, op: str, round_: int) -> tuple[int, float, float]:
            request = get if op == "GET" else creator(f"aiohttp-{round_}-")
            return await aiohttp_run(clients[side], args.requests, c, request)

        ratios = await alternate(f"aiohttp, {c} requests in flight; (b) with {USER}'s x509 client "
                                 "certificate:", servers, with_aiohttp, args.rounds)
    if token is not None:
        configs = [ClientConfig(plain.url), ClientConfig(secure.url, token=token)]

        async def with_wrk(side: int, op: str, round_: int) -> tuple[int, float, float]:
            if op == "GET":
                return await wrk_run(configs[side], f"{CONFIGMAPS}/cm-7", None, args.wrk_seconds, c)
            script = creating(CONFIGMAPS, configmap(f"wrk-{round_}-{NAME}"))
            return await wrk_run(configs[side], "/", script, args.wrk_seconds, c)

        ratios += await alternate(f"wrk, {c} connections; (b) with {USER}'s bearer token "
                                  "(--token-auth-file):", servers, with_wrk, args.rounds)
    worst = 1 - min(ratios)
    print(f"target: the security path costs < {TARGET:.0%} of throughput: "
          f"{'met' if worst < TARGET else 'NOT met'} (worst {worst:.0%})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3000,
                        help="aiohttp requests per operation, server and round")
    parser.add_argument("--wrk-seconds", type=int, default=5,
                        help="wrk's seconds per operation, server and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    options = server_options()
    rbac = "--authorization-mode" in options
    print(f"security path cost: {os.cpu_count()} cores, {args.rounds} rounds, alternating", flush=True)
    if not rbac:
        print("this server has no --authorization-mode yet: (b) is measured with AlwaysAllow", flush=True)
    with tempfile.TemporaryDirectory() as a_dir, tempfile.TemporaryDirectory() as b_dir:
        secure_args: tuple[str, ...] = ("--authorization-mode", "Node,RBAC") if rbac else ()
        token = None
        if "--token-auth-file" in options:
            token = secrets.token_hex(16)
            token_file = os.path.join(b_dir, "tokens.csv")
            with open(token_file, "w") as f:
                f.write(f'{token},{USER},{USER}-uid,"{GROUP}"\n')
            secure_args += ("--token-auth-file", token_file)
        else:
            print("this server has no --token-auth-file yet: no wrk figures (wrk presents no client "
                  "certificate)", flush=True)
        if rbac:
            aggregate_roles(b_dir, secure_args)
        with ServerProcess(a_dir, secure=False, controllers=False) as plain, \
                ServerProcess(b_dir, controllers=False, args=secure_args) as secure:
            import uvloop

            uvloop.run(bench(plain, secure, rbac, token, args))


if __name__ == "__main__":
    main()
