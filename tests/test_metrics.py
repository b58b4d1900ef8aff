"""The resource metrics pipeline on a simulated node, with the real kubectl: the kubelet's /stats/summary and
/metrics/resource, metrics-server scraping them behind the APIService v1beta1.metrics.k8s.io, the API
server's aggregation (discovery, proxying, the Available condition), `kubectl top` and its errors, RBAC;
and the pure parts (Prometheus parsing, rates, durations)."""

from __future__ import annotations

import asyncio
import json

import pytest

from conftest import Kubectl
from test_kubelet import FAST, eventually
from timoneiro.client import Client
from timoneiro.client.resources import PODS
from timoneiro.kubelet import Kubelet
from timoneiro.kubelet.server import Serving
from timoneiro.kubelet.stats.provider import _number
from timoneiro.metrics.api import go_duration
from timoneiro.metrics.scrape import Point, parse
from timoneiro.metrics.server import MetricsServer
from timoneiro.metrics.storage import Storage

NODE = "node-a"
RESOLUTION = 0.5
SIM = "sim.timoneiro.io/"


@pytest.fixture
async def cluster(server, client: Client):
    """One simulated node and metrics-server scraping it twice a second."""
    cert, key = server.api.pki.kubelet_serving(NODE, ("127.0.0.1",))
    kubelet = Kubelet(server.node(NODE), NODE, settings=FAST,
                      node_addresses=[{"type": "InternalIP", "address": "127.0.0.1"}],
                      serving=Serving("127.0.0.1", 0, cert, key, server.api.pki.path("ca.crt")))
    metrics = MetricsServer(server.admin, server.api.pki, resolution=RESOLUTION)
    await asyncio.gather(kubelet.start(), metrics.start())
    yield metrics
    await asyncio.gather(metrics.stop(), kubelet.stop())


def _pod(name: str, annotations: dict[str, str], containers: tuple[str, ...] = ("app",), node: str | None = NODE,
         labels: dict[str, str] | None = None) -> dict:
    spec: dict = {"containers": [{"name": c, "image": "busybox"} for c in containers]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "spec": spec,
            "metadata": {"name": name, "namespace": "default", "annotations": annotations, "labels": labels or {}}}


def _millicores(cpu: str) -> int:
    """kubectl top's cpu, to the millicore below: it rounds up, so a rate a hair over 250m prints 251m."""
    value = int(cpu.removesuffix("m"))
    return value - 1 if value % 50 == 1 else value


async def _kubectl(kubectl: Kubectl, *args: str):
    """kubectl in a thread: the node and metrics-server run on this test's event loop."""
    return await asyncio.to_thread(kubectl.run, *args, check=False)


async def _out(kubectl: Kubectl, *args: str) -> str:
    return await asyncio.to_thread(kubectl, *args)


async def _top(kubectl: Kubectl, *args: str, count: int = 1) -> list[list[str]]:
    """`kubectl top ARGS`' rows, once there are `count` of them."""
    async def rows() -> list[list[str]] | None:
        done = await _kubectl(kubectl, "top", *args, "--no-headers")
        found = [line.split() for line in done.stdout.splitlines()] if done.returncode == 0 else []
        return found if len(found) == count else None
    return await eventually(rows, timeout=20)


async def test_top_shows_the_usage_simulated_pods_report(cluster, client: Client, kubectl: Kubectl) -> None:
    await client.create(PODS, _pod("busy", {SIM + "cpu-usage": "250m", SIM + "memory-usage": "64Mi",
                                            SIM + "cpu-usage.side": "50m"}, ("app", "side"), labels={"tier": "web"}))
    await client.create(PODS, _pod("idle", {}, labels={"tier": "db"}))
    rows = await _top(kubectl, "pod", "--containers", count=3)
    by_container = {(pod, name): (_millicores(cpu), memory) for pod, name, cpu, memory in rows}
    assert by_container == {("busy", "app"): (250, "64Mi"), ("busy", "side"): (50, "64Mi"),
                            ("idle", "app"): (0, "0Mi")}
    by_usage = await _top(kubectl, "pod", "-A", "--sort-by=cpu", count=2)
    assert [(ns, pod, _millicores(cpu), memory) for ns, pod, cpu, memory in by_usage] == \
        [("default", "busy", 300, "128Mi"), ("default", "idle", 0, "0Mi")]
    assert await _top(kubectl, "pod", "-l", "tier=db") == [["idle", "0m", "0Mi"]]

    async def node_row() -> bool:  # once both scrapes of the node's counter are from after the pods started
        rows = await _top(kubectl, "node")
        return [(r[0], _millicores(r[1]), r[3]) for r in rows] == [(NODE, 300, "128Mi")]
    await eventually(node_row)

    raw = await _out(kubectl, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy")
    metrics = json.loads(raw)
    assert (metrics["kind"], metrics["apiVersion"]) == ("PodMetrics", "metrics.k8s.io/v1beta1")
    assert metrics["metadata"]["labels"] == {"tier": "web"}
    assert metrics["window"].endswith("s") and metrics["timestamp"].endswith("Z")
    app = next(c for c in metrics["containers"] if c["name"] == "app")["usage"]
    assert app["cpu"].endswith("n") and 240_000_000 <= int(app["cpu"][:-1]) <= 260_000_000
    assert app["memory"] == "64Mi"
    nodes = json.loads(await _out(kubectl, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"))
    assert nodes["kind"] == "NodeMetricsList" and [n["metadata"]["name"] for n in nodes["items"]] == [NODE]


async def test_the_kubelets_stats_endpoints_through_the_node_proxy(cluster, client: Client,
                                                                  kubectl: Kubectl) -> None:
    await client.create(PODS, _pod("busy", {SIM + "cpu-usage": "1", SIM + "memory-usage": "1Gi"}))

    async def summary() -> dict | None:
        doc = json.loads(await _out(kubectl, "get", "--raw", f"/api/v1/nodes/{NODE}/proxy/stats/summary"))
        return doc if doc["pods"] and "usageNanoCores" in doc["pods"][0]["cpu"] else None
    doc = await eventually(summary)
    pod = doc["pods"][0]
    assert pod["podRef"]["name"] == "busy" and pod["containers"][0]["name"] == "app"
    assert pod["memory"]["workingSetBytes"] == 1 << 30
    assert 0.9e9 <= pod["cpu"]["usageNanoCores"] <= 1.1e9
    assert doc["node"]["nodeName"] == NODE and doc["node"]["memory"]["workingSetBytes"] == 1 << 30
    text = await _out(kubectl, "get", "--raw", f"/api/v1/nodes/{NODE}/proxy/metrics/resource")
    assert "# TYPE container_cpu_usage_seconds_total counter" in text
    assert 'container_memory_working_set_bytes{container="app",namespace="default",pod="busy"} 1.073741824e+09 ' \
        in text
    assert "resource_scrape_error 0" in text.splitlines()


async def test_errors_as_kubectl_top_and_metrics_server_give_them(cluster, client: Client,
                                                                 kubectl: Kubectl) -> None:
    await client.create(PODS, _pod("waiting", {}, node=None))  # never scheduled: never any metrics
    listed = await _kubectl(kubectl, "top", "pod")
    assert (listed.returncode, listed.stderr.strip()) == (1, "error: metrics not available yet")
    one = await _kubectl(kubectl, "top", "pod", "waiting")
    assert one.stderr.strip() == 'Error from server (NotFound): podmetrics.metrics.k8s.io "default/waiting" not found'
    missing = await _kubectl(kubectl, "top", "pod", "nosuch")
    assert missing.stderr.strip() == 'Error from server (NotFound): pods "nosuch" not found'
    ghost = await _kubectl(kubectl, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes/ghost")
    assert ghost.stderr.strip() == 'Error from server (NotFound): nodes "ghost" not found'
    watch = await _kubectl(kubectl, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/pods?watch=true")
    assert "MethodNotAllowed" in watch.stderr or "not supported" in watch.stderr
    refused = await _kubectl(kubectl, "top", "pod", "--as=someone")
    assert refused.stderr.strip() == 'Error from server (Forbidden): pods.metrics.k8s.io is forbidden: User ' \
        '"someone" cannot list resource "pods" in API group "metrics.k8s.io" in the namespace "default"'


async def test_the_apiservice_discovery_and_rbac_as_on_a_real_cluster(cluster, kubectl: Kubectl) -> None:
    async def available() -> list[str] | None:
        listed = await _out(kubectl, "get", "apiservices", "--no-headers")
        rows = [line.split() for line in listed.splitlines()]
        return next((r for r in rows if r[0] == "v1beta1.metrics.k8s.io" and r[2] == "True"), None)
    row = await eventually(available)
    assert row[1] == "kube-system/metrics-server"
    resources = await _out(kubectl, "api-resources", "--api-group=metrics.k8s.io", "--no-headers")
    assert [line.split() for line in resources.splitlines()] == [["nodes", "metrics.k8s.io/v1beta1", "false", "NodeMetrics"],
                                                           ["pods", "metrics.k8s.io/v1beta1", "true", "PodMetrics"]]

    async def viewers_read_metrics() -> bool:
        rules = json.loads(await _out(kubectl, "get", "clusterrole", "view", "-o", "json"))["rules"] or []
        return any("metrics.k8s.io" in r.get("apiGroups", ()) for r in rules)
    await eventually(viewers_read_metrics)
    own = json.loads(await _out(kubectl, "get", "clusterrole", "system:metrics-server", "-o", "json"))["rules"]
    assert {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]} in own
    await _out(kubectl, "delete", "service", "-n", "kube-system", "metrics-server")

    async def unavailable() -> bool:
        out = await _out(kubectl, "get", "apiservice", "v1beta1.metrics.k8s.io", "--no-headers")
        return "False (ServiceNotFound)" in out
    await eventually(unavailable, timeout=40)
    gone = await _kubectl(kubectl, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes")
    assert gone.stderr.strip() == "Error from server (ServiceUnavailable): the server is currently unable to " \
                                  "handle the request"


def test_parsing_what_kubelets_write() -> None:
    text = ('# TYPE container_cpu_usage_seconds_total counter\n'
            'container_cpu_usage_seconds_total{container="c",namespace="ns",pod="p"} 4.5 1633253812125\n'
            'container_memory_working_set_bytes{container="c",namespace="ns",pod="p"} 1.253376e+07 1633253812125\n'
            'container_start_time_seconds{container="c",namespace="ns",pod="p"} 1.633252712e+9 1633253812125\n'
            'container_cpu_usage_seconds_total{container="half",namespace="ns",pod="p"} 1 1633253812125\n'
            'node_cpu_usage_seconds_total 357.35491 1633253809720\n'
            'node_memory_working_set_bytes 1.616273408e+09 1633253809720\n')
    batch = parse(text)
    assert batch.node == Point(1633253809.72, 357.35491, 1616273408.0)
    assert batch.containers == {("ns", "p", "c"): Point(1633253812.125, 4.5, 12533760.0, 1633252712.0)}
    assert [_number(v) for v in (0, 357.35491, 1616273408, 1e-05, 123456, 1234567)] == \
        ["0", "357.35491", "1.616273408e+09", "1e-05", "123456", "1.234567e+06"]


def test_rates_windows_and_restarts() -> None:
    storage = Storage()
    key = ("ns", "p", "c")

    def round_at(t: float, cpu: float, started: float, node_cpu: float) -> None:
        from timoneiro.metrics.scrape import NodeBatch
        storage.store({"n": NodeBatch(Point(t, node_cpu, 2048.0), {key: Point(t, cpu, 1024.0, started)})}, t)

    round_at(100.0, 10.0, 50.0, 1000.0)
    assert storage.node("n") is None and storage.pods() == {}
    round_at(115.0, 13.0, 50.0, 1030.0)
    assert storage.node("n").nano_cores == 2_000_000_000 and storage.node("n").window == 15.0
    usage = storage.pods()[("ns", "p")]["c"]
    assert (usage.nano_cores, usage.memory_bytes, usage.window) == (200_000_000, 1024, 15.0)
    round_at(130.0, 0.5, 125.0, 1045.0)  # restarted since the scrape before: counted from its start
    usage = storage.pods()[("ns", "p")]["c"]
    assert (usage.nano_cores, usage.window) == (100_000_000, 5.0)
    assert [go_duration(s) for s in (15.034, 60.5, 0.25, 3725.0)] == ["15.034s", "1m0.5s", "250ms", "1h2m5s"]
