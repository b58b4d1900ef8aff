"""The scheduler against a real API server: bindings, events and conditions with kube-scheduler's exact
messages, requeueing on cluster changes, preemption, and pods and nodes coming and going."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from test_scheduler_support import CONTROL_PLANE_TAINT, node, offline_scheduler, pod
from timoneiro.client import Client
from timoneiro.client.resources import EVENTS, EVENTS_V1, NODES, PODS
from timoneiro.scheduler import Scheduler
from timoneiro.scheduler.scheduler import PRIORITY_CLASSES
from timoneiro.scheduler.status import Code, Status

ZONE = "topology.kubernetes.io/zone"
BRIEF_MESSAGE = (
    "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
    "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
    "2 No preemption victims found for incoming pod.")


@pytest.fixture
async def scheduler(server, client):
    s = Scheduler(server.admin)
    await s.start()
    yield s
    await s.stop()


async def add_node(client: Client, obj: dict) -> None:
    """Create a node the way a kubelet does: the object, then its status."""
    created = await client.create(NODES, obj)
    created["status"] = obj["status"]
    await client.update_status(NODES, created)


async def eventually(check: Callable[[], Awaitable[object]], timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s: {check.__name__}")
        await asyncio.sleep(0.05)


async def node_of(client: Client, name: str, namespace: str = "default") -> str:
    async def bound() -> str:
        return (await client.get(PODS, name, namespace))["spec"].get("nodeName", "")
    bound.__name__ = f"{namespace}/{name} is bound"
    return await eventually(bound)  # type: ignore[return-value]


async def events_about(client: Client, name: str, reason: str) -> list[dict]:
    async def found() -> list[dict]:
        items = (await client.list(EVENTS, "default", field_selector=f"involvedObject.name={name}"))["items"]
        return [e for e in items if e["reason"] == reason]
    found.__name__ = f"a {reason} event about {name}"
    return await eventually(found)  # type: ignore[return-value]


def condition(obj: dict, kind: str = "PodScheduled") -> dict:
    return next(c for c in obj["status"].get("conditions") or () if c["type"] == kind)


async def three_node_cluster(client: Client, worker_cpu: str = "4") -> None:
    await add_node(client, node("control-plane", taints=[CONTROL_PLANE_TAINT]))
    for name in ("worker-1", "worker-2"):
        await add_node(client, node(name, cpu=worker_cpu))


async def test_binds_pods_and_records_scheduled_events(client, scheduler):
    await three_node_cluster(client)
    await client.create(PODS, pod("web-1"))
    host = await node_of(client, "web-1")
    assert host in ("worker-1", "worker-2")
    [event] = await events_about(client, "web-1", "Scheduled")
    assert event["message"] == f"Successfully assigned default/web-1 to {host}"
    assert event["type"] == "Normal" and event["reportingComponent"] == "default-scheduler"
    assert condition(await client.get(PODS, "web-1", "default"))["status"] == "True"
    written = await client.get(EVENTS_V1, event["metadata"]["name"], "default")  # as kube-scheduler wrote it
    assert (written["action"], written["regarding"]["name"], written["note"]) == (
        "Binding", "web-1", event["message"])
    assert written["reportingInstance"].startswith("default-scheduler-") and "series" not in written


async def test_unschedulable_pods_get_kube_schedulers_message_and_condition(client, scheduler):
    await three_node_cluster(client, worker_cpu="1")
    await client.create(PODS, pod("web-1", cpu="2"))
    [event] = await events_about(client, "web-1", "FailedScheduling")
    assert event["type"] == "Warning" and event["message"] == BRIEF_MESSAGE

    async def marked() -> dict | None:
        obj = await client.get(PODS, "web-1", "default")
        return obj if (obj["status"].get("conditions") or []) else None
    scheduled = condition(await eventually(marked))  # type: ignore[arg-type]
    assert (scheduled["status"], scheduled["reason"], scheduled["message"]) == ("False", "Unschedulable",
                                                                                 BRIEF_MESSAGE)


async def test_a_pending_pod_goes_to_a_node_that_arrives_later(client, scheduler):
    await add_node(client, node("small", cpu="1"))
    await client.create(PODS, pod("big", cpu="3"))
    await events_about(client, "big", "FailedScheduling")
    await add_node(client, node("large", cpu="8"))
    assert await node_of(client, "big") == "large"


async def test_a_pending_pod_takes_the_room_a_deleted_pod_frees(client, scheduler):
    await add_node(client, node("n1", cpu="1"))
    await client.create(PODS, pod("first", cpu="1", terminationGracePeriodSeconds=0))
    assert await node_of(client, "first") == "n1"
    await client.create(PODS, pod("second", cpu="1"))
    [event] = await events_about(client, "second", "FailedScheduling")
    assert event["message"].startswith("0/1 nodes are available: 1 Insufficient cpu.")
    await client.delete(PODS, "first", "default")
    assert await node_of(client, "second") == "n1"


async def test_no_nodes_then_a_node(client, scheduler):
    await client.create(PODS, pod("early"))
    [event] = await events_about(client, "early", "FailedScheduling")
    assert event["message"] == "no nodes available to schedule pods"
    await add_node(client, node("n1"))
    assert await node_of(client, "early") == "n1"


async def test_pods_for_other_schedulers_are_left_alone(client, scheduler):
    await add_node(client, node("n1"))
    await client.create(PODS, pod("theirs", schedulerName="my-scheduler"))
    await client.create(PODS, pod("ours"))
    await node_of(client, "ours")
    await asyncio.sleep(0.3)
    assert "nodeName" not in (await client.get(PODS, "theirs", "default"))["spec"]
    items = (await client.list(EVENTS, "default", field_selector="involvedObject.name=theirs"))["items"]
    assert items == []


async def test_taints_tolerations_and_node_selectors(client, scheduler):
    await add_node(client, node("gpu", labels={"accelerator": "a100"},
                                taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule"}]))
    await add_node(client, node("cpu"))
    await client.create(PODS, pod("plain"))
    await client.create(PODS, pod("trainer", nodeSelector={"accelerator": "a100"},
                                  tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]))
    await client.create(PODS, pod("picky", nodeSelector={"accelerator": "a100"}))
    assert await node_of(client, "plain") == "cpu"
    assert await node_of(client, "trainer") == "gpu"
    [event] = await events_about(client, "picky", "FailedScheduling")
    assert event["message"] == (
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {gpu: true}. preemption: 0/2 nodes are available: "
        "2 Preemption is not helpful for scheduling.")


async def test_required_anti_affinity_puts_replicas_on_different_nodes(client, scheduler):
    for i in range(3):
        await add_node(client, node(f"n{i}"))
    affinity = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    for i in range(4):
        await client.create(PODS, pod(f"web-{i}", labels={"app": "web"}, affinity=affinity))
    hosts = {await node_of(client, f"web-{i}") for i in range(3)}
    assert hosts == {"n0", "n1", "n2"}
    [event] = await events_about(client, "web-3", "FailedScheduling")
    assert event["message"].startswith("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.")


async def test_topology_spread_across_zones(client, scheduler):
    for zone in "ab":
        for i in range(2):
            await add_node(client, node(f"{zone}{i}", labels={ZONE: zone}))
    constraint = [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
                   "labelSelector": {"matchLabels": {"app": "spread"}}}]
    for i in range(6):
        await client.create(PODS, pod(f"s{i}", labels={"app": "spread"}, topologySpreadConstraints=constraint))
        await node_of(client, f"s{i}")  # one at a time, so each sees the ones before
    zones = [(await node_of(client, f"s{i}"))[0] for i in range(6)]
    assert zones.count("a") == zones.count("b") == 3


async def test_preemption_evicts_a_lower_priority_pod_and_nominates_its_node(client, scheduler):
    await client.create(PRIORITY_CLASSES, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                           "metadata": {"name": "high"}, "value": 1000})
    await add_node(client, node("n1", cpu="2"))
    for i in range(2):
        await client.create(PODS, pod(f"low-{i}", cpu="1", terminationGracePeriodSeconds=0))
        await node_of(client, f"low-{i}")
    await client.create(PODS, pod("vip", cpu="1", priorityClassName="high"))
    [failed] = await events_about(client, "vip", "FailedScheduling")
    assert failed["message"] == "0/1 nodes are available: 1 Insufficient cpu."
    assert await node_of(client, "vip") == "n1"
    preempted = [e for i in range(2) for e in (await client.list(
        EVENTS, "default", field_selector=f"involvedObject.name=low-{i}"))["items"] if e["reason"] == "Preempted"]
    vip = await client.get(PODS, "vip", "default")
    assert [e["message"] for e in preempted] == [f"Preempted by pod {vip['metadata']['uid']} on node n1"]
    assert vip["status"].get("nominatedNodeName") == "n1"
    remaining = [p["metadata"]["name"] for p in (await client.list(PODS, "default"))["items"]]
    assert len(remaining) == 2 and "vip" in remaining


async def test_pods_that_may_not_preempt_say_so(client, scheduler):
    await client.create(PRIORITY_CLASSES, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                           "metadata": {"name": "polite"}, "value": 1000,
                                           "preemptionPolicy": "Never"})
    await add_node(client, node("n1", cpu="1"))
    await client.create(PODS, pod("low", cpu="1"))
    await node_of(client, "low")
    await client.create(PODS, pod("polite", cpu="1", priorityClassName="polite", preemptionPolicy="Never"))
    [event] = await events_about(client, "polite", "FailedScheduling")
    assert event["message"] == ("0/1 nodes are available: 1 Insufficient cpu. "
                                "preemption: not eligible due to preemptionPolicy=Never.")


async def test_a_pod_deleted_while_pending_leaves_the_queue(client, scheduler):
    await add_node(client, node("n1", cpu="1"))
    created = await client.create(PODS, pod("hopeless", cpu="4"))
    await events_about(client, "hopeless", "FailedScheduling")
    uid = created["metadata"]["uid"]
    assert scheduler.queue.get(uid) is not None
    await client.delete(PODS, "hopeless", "default")

    async def gone() -> bool:
        return scheduler.queue.get(uid) is None
    await eventually(gone)


async def test_a_deleted_node_is_no_longer_chosen(client, scheduler):
    await add_node(client, node("old"))
    await add_node(client, node("new"))
    await client.delete(NODES, "old")

    async def forgotten() -> bool:
        return "old" not in scheduler.cache.nodes
    await eventually(forgotten)
    for i in range(3):
        await client.create(PODS, pod(f"p{i}"))
    assert {await node_of(client, f"p{i}") for i in range(3)} == {"new"}


async def test_many_pods_bind_concurrently(client, scheduler):
    for i in range(5):
        await add_node(client, node(f"n{i}", cpu="8"))
    await asyncio.gather(*(client.create(PODS, pod(f"burst-{i}")) for i in range(60)))

    async def all_bound() -> bool:
        items = (await client.list(PODS, "default"))["items"]
        return len(items) == 60 and all(p["spec"].get("nodeName") for p in items)
    await eventually(all_bound, 30)
    assert scheduler.stats["scheduled"] == 60 and scheduler.stats["errors"] == 0


def test_kubectl_describe_shows_the_schedulers_events(server, kubectl):
    async def run() -> None:
        async with Client(server.admin) as c:
            s = Scheduler(server.admin)
            await s.start()
            try:
                await add_node(c, node("worker-1"))
                await c.create(PODS, pod("web-1"))
                await events_about(c, "web-1", "Scheduled")
            finally:
                await s.stop()
    asyncio.run(run())
    out = kubectl("describe", "pod", "web-1")
    assert "Scheduled" in out and "default-scheduler" in out
    assert "Successfully assigned default/web-1 to worker-1" in out


async def test_a_failed_binding_gives_the_room_back_and_retries_after_back_off():
    s = offline_scheduler(node("n1", cpu="1"))

    class RefusingBinder:
        name = "RefusingBinder"
        calls = 0

        async def bind(self, state, pod, node):
            self.calls += 1
            return Status(Code.ERROR, "the API server said no")

    binder = RefusingBinder()
    s.framework.bind_plugins = [binder]
    s._binding_slots = asyncio.Semaphore(1)
    obj = pod("p", cpu="1")
    obj["metadata"]["uid"] = "uid-p"
    s.pods.store.put(obj)
    s.queue.add(s.pod_info(obj))
    queued = await s.queue.pop()
    await s._binding_slots.acquire()
    assert await s.schedule_one(queued)
    assert s.cache.is_assumed("uid-p") and s.cache.nodes["n1"].requested.milli_cpu == 1000
    while s._background:
        await asyncio.gather(*s._background, return_exceptions=True)
    assert binder.calls == 1 and not s.cache.is_assumed("uid-p")
    assert s.cache.nodes["n1"].requested.milli_cpu == 0
    assert s.queue.get("uid-p").where == "backoff" and s.stats["errors"] == 1
