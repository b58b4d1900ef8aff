"""The kubelet with the simulated runtime against a real API server: node registration, status and lease;
pods run, finish, crash-loop, are rejected, probed and deleted."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from timoneiro.client import ApiError, Client
from timoneiro.client.resources import LEASES, NODES, PODS
from timoneiro.kubelet import Kubelet, KubeletSettings
from timoneiro.kubelet.runtime import SimulatedRuntime

NS = "default"
NODE = "node-1"
FAST = KubeletSettings(backoff_initial=0.2, backoff_max=0.8, node_status_update_frequency=0.5,
                       node_status_report_frequency=0.5, node_lease_duration_seconds=2, retry_initial=0.05)
T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 10.0) -> T:
    """check()'s answer once it is truthy, polling; the last answer or assertion on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
            failure = AssertionError(f"still {result!r} after {timeout}s")
        except AssertionError as e:
            failure = e
        if time.monotonic() > deadline:
            raise failure
        await asyncio.sleep(0.02)


def pod(name: str, *, node: str = NODE, annotations: dict | None = None, restart: str = "Always",
        containers: list[dict] | None = None, **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}},
            "spec": {"nodeName": node, "restartPolicy": restart,
                     "containers": containers or [{"name": "app", "image": "nginx"}], **spec}}


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in obj["status"].get("conditions") or () if c["type"] == kind), {})


@pytest.fixture
async def kubelet(server):
    k = Kubelet(server.admin, NODE, labels={"tier": "web"}, pod_cidr="10.244.7.0/24", settings=FAST,
                taints=[{"key": "dedicated", "value": "web", "effect": "NoSchedule"}])
    await k.start()
    yield k
    await k.stop()


async def absent(client: Client, name: str) -> bool:
    try:
        await client.get(PODS, name, NS)
    except ApiError as e:
        return e.code == 404
    return False


async def phase_is(client: Client, name: str, phase: str) -> dict | None:
    p = await client.get(PODS, name, NS)
    return p if p["status"].get("phase") == phase else None


async def test_registers_a_ready_node(client, kubelet):
    node = await client.get(NODES, NODE)
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == NODE and labels["kubernetes.io/os"] == "linux"
    assert labels["tier"] == "web" and labels["beta.kubernetes.io/arch"] == labels["kubernetes.io/arch"]
    assert "node-role.kubernetes.io/control-plane" not in labels
    assert node["spec"]["taints"] == [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]
    assert node["spec"]["podCIDR"] == "10.244.7.0/24"
    status = node["status"]
    assert [c["type"] for c in status["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    ready = condition(node, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == \
        ("True", "KubeletReady", "kubelet is posting ready status")
    assert condition(node, "MemoryPressure")["reason"] == "KubeletHasSufficientMemory"
    assert status["capacity"]["pods"] == "110" and "hugepages-2Mi" in status["capacity"]
    assert status["nodeInfo"]["kubeletVersion"] == "v1.32.0"
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("sim://")
    assert [a["type"] for a in status["addresses"]] == ["InternalIP", "Hostname"]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}


async def test_control_plane_capacity_and_reregistration(server, client):
    k = Kubelet(server.admin, "cp", control_plane=True, capacity={"cpu": "8", "memory": "16Gi"}, settings=FAST)
    await k.start()
    await k.stop()
    again = Kubelet(server.admin, "cp", control_plane=True, labels={"extra": "yes"}, settings=FAST,
                    capacity={"cpu": "8", "memory": "16Gi"})
    await again.start()
    try:
        node = await client.get(NODES, "cp")
        assert node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""
        assert node["metadata"]["labels"]["extra"] == "yes"
        status = node["status"]
        assert status["capacity"]["cpu"] == "8" and status["capacity"]["memory"] == "16Gi"
        assert status["allocatable"]["memory"] == "16284Mi"  # less the 100Mi hard eviction threshold
    finally:
        await again.stop()


async def test_node_status_is_posted_again(client, kubelet):
    before = condition(await client.get(NODES, NODE), "Ready")["lastHeartbeatTime"]

    async def beat() -> bool:
        ready = condition(await client.get(NODES, NODE), "Ready")
        return ready["lastHeartbeatTime"] != before and ready["lastTransitionTime"] <= before
    await eventually(beat, timeout=5)


async def test_lease_renewed_then_stops_after_stop(server, client):
    k = Kubelet(server.admin, "leased", settings=FAST)
    await k.start()
    try:
        first = await client.get(LEASES, "leased", "kube-node-lease")
        spec = first["spec"]
        assert spec["holderIdentity"] == "leased" and spec["leaseDurationSeconds"] == 2
        node = await client.get(NODES, "leased")
        assert first["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]

        async def renewed() -> bool:
            lease = await client.get(LEASES, "leased", "kube-node-lease")
            return lease["spec"]["renewTime"] > spec["renewTime"]
        await eventually(renewed, timeout=5)
    finally:
        await k.stop()
    await asyncio.sleep(0.3)  # a renewal cut short by stop() may still land
    last = (await client.get(LEASES, "leased", "kube-node-lease"))["spec"]["renewTime"]
    await asyncio.sleep(1.2)  # more than two renew intervals
    assert (await client.get(LEASES, "leased", "kube-node-lease"))["spec"]["renewTime"] == last


async def test_pod_runs(client, kubelet):
    await client.create(PODS, pod("web", containers=[
        {"name": "b", "image": "nginx:1.27", "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": True}]},
        {"name": "a", "image": "busybox"}], volumes=[{"name": "v", "emptyDir": {}}]))
    running = await eventually(lambda: phase_is(client, "web", "Running"))
    status = running["status"]
    assert [c["type"] for c in status["conditions"]] == \
        ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    assert all(c["status"] == "True" and c["lastTransitionTime"] for c in status["conditions"])
    assert ipaddress.ip_address(status["podIP"]) in ipaddress.ip_network("10.244.7.0/24")
    assert status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["hostIP"] == status["hostIPs"][0]["ip"] and status["startTime"]
    assert status["qosClass"] == "BestEffort"
    a, b = status["containerStatuses"]  # sorted by name
    assert (a["name"], b["name"]) == ("a", "b")
    assert b["image"] == "docker.io/library/nginx:1.27" and b["imageID"].startswith("docker.io/library/nginx@sha256:")
    assert b["containerID"].startswith("sim://") and b["ready"] and b["started"] and b["restartCount"] == 0
    assert "startedAt" in b["state"]["running"] and b["lastState"] == {}
    token = running["spec"]["volumes"][1]["name"]  # ServiceAccount admission's kube-api-access-XXXXX
    assert b["volumeMounts"] == [
        {"name": "v", "mountPath": "/v", "readOnly": True, "recursiveReadOnly": "Disabled"},
        {"name": token, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True,
         "recursiveReadOnly": "Disabled"}]


async def test_pods_get_distinct_addresses(client, kubelet):
    for i in range(5):
        await client.create(PODS, pod(f"p{i}"))
    ips = set()
    for i in range(5):
        ips.add((await eventually(lambda i=i: phase_is(client, f"p{i}", "Running")))["status"]["podIP"])
    assert len(ips) == 5


async def test_pod_succeeds(client, kubelet):
    await client.create(PODS, pod("job", restart="Never", annotations={"sim.timoneiro.io/exit-code": "0"}))
    done = await eventually(lambda: phase_is(client, "job", "Succeeded"))
    terminated = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    assert terminated["finishedAt"] and terminated["containerID"].startswith("sim://")
    ready = condition(done, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")
    assert condition(done, "Initialized")["reason"] == "PodCompleted"
    assert done["status"]["podIP"]  # kept once the sandbox is gone


async def test_pod_fails_after_running(client, kubelet):
    began = time.monotonic()
    await client.create(PODS, pod("fails", restart="OnFailure", annotations={
        "sim.timoneiro.io/run-seconds": "0.5", "sim.timoneiro.io/exit-code.app": "3"}))
    await eventually(lambda: phase_is(client, "fails", "Running"))
    await eventually(lambda: _restarts(client, "fails", 1))
    assert time.monotonic() - began >= 0.5
    await client.create(PODS, pod("never", restart="Never", annotations={"sim.timoneiro.io/exit-code": "2"}))
    failed = await eventually(lambda: phase_is(client, "never", "Failed"))
    terminated = failed["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (2, "Error")
    assert condition(failed, "Ready")["reason"] == "PodFailed"


async def _restarts(client: Client, name: str, count: int) -> dict | None:
    p = await client.get(PODS, name, NS)
    statuses = p["status"].get("containerStatuses") or [{}]
    return p if statuses[0].get("restartCount", 0) >= count else None


async def test_crash_loop_back_off(client, kubelet):
    await client.create(PODS, pod("crash", annotations={"sim.timoneiro.io/exit-code": "1"}))
    looping = await eventually(lambda: _restarts(client, "crash", 3))
    assert looping["status"]["phase"] == "Running"  # restartPolicy Always: restarting

    async def backing_off() -> dict | None:
        p = await client.get(PODS, "crash", NS)
        state = p["status"]["containerStatuses"][0]["state"]
        return p if state.get("waiting", {}).get("reason") == "CrashLoopBackOff" else None
    p = await eventually(backing_off)
    status = p["status"]["containerStatuses"][0]
    uid = p["metadata"]["uid"]
    message = status["state"]["waiting"]["message"]
    assert message.startswith("back-off ") and message.endswith(f"restarting failed container=app pod=crash_default({uid})")
    assert status["lastState"]["terminated"]["exitCode"] == 1 and not status["ready"]
    assert condition(p, "Ready")["message"] == "containers with unready status: [app]"
    restarts = status["restartCount"]
    grown = await eventually(lambda: _restarts(client, "crash", restarts + 2))
    assert grown["status"]["containerStatuses"][0]["restartCount"] >= restarts + 2


async def test_init_containers_run_first(client, kubelet):
    await client.create(PODS, pod("init", annotations={"sim.timoneiro.io/run-seconds.setup": "0.3"},
                                  initContainers=[{"name": "setup", "image": "busybox"},
                                                  {"name": "sidecar", "image": "envoy", "restartPolicy": "Always"}]))

    async def initializing() -> dict | None:
        p = await client.get(PODS, "init", NS)
        return p if p["status"].get("initContainerStatuses") else None
    early = await eventually(initializing)
    if early["status"]["phase"] == "Pending":
        assert condition(early, "Initialized")["reason"] == "ContainersNotInitialized"
        assert early["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    running = await eventually(lambda: phase_is(client, "init", "Running"))
    setup, sidecar = running["status"]["initContainerStatuses"]
    assert setup["state"]["terminated"]["reason"] == "Completed" and setup["ready"]
    assert "running" in sidecar["state"] and sidecar["started"]
    assert condition(running, "Initialized")["status"] == "True"
    started = {s["name"]: s for s in [setup, sidecar, *running["status"]["containerStatuses"]]}
    assert started["app"]["state"]["running"]["startedAt"] >= setup["state"]["terminated"]["finishedAt"]


async def test_admission_rejects_a_pod_that_does_not_fit(client, kubelet):
    big = [{"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "100000"}}}]
    await client.create(PODS, pod("huge", containers=big))
    failed = await eventually(lambda: phase_is(client, "huge", "Failed"))
    assert failed["status"]["reason"] == "OutOfcpu"
    assert failed["status"]["message"].startswith(
        "Pod was rejected: Node didn't have enough resource: cpu, requested: 100000000, used: 0, capacity: ")
    await client.create(PODS, pod("elsewhere", nodeSelector={"tier": "db"}))
    other = await eventually(lambda: phase_is(client, "elsewhere", "Failed"))
    assert other["status"]["reason"] == "NodeAffinity"


async def test_readiness_probe_follows_annotation(client, kubelet):
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": 1}
    await client.create(PODS, pod("probed", annotations={"sim.timoneiro.io/readiness": "fail"}, containers=[
        {"name": "app", "image": "nginx", "readinessProbe": probe}]))
    running = await eventually(lambda: phase_is(client, "probed", "Running"))
    ready = condition(running, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ContainersNotReady")
    assert running["status"]["containerStatuses"][0]["started"]
    await client.patch(PODS, "probed", {"metadata": {"annotations": {"sim.timoneiro.io/readiness": None}}}, NS)

    async def ready_now() -> bool:
        return condition(await client.get(PODS, "probed", NS), "Ready").get("status") == "True"
    await eventually(ready_now, timeout=5)


@pytest.mark.parametrize("kind", ["liveness", "startup"])
async def test_failed_probe_restarts_the_container(client, kubelet, kind):
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": 1}
    await client.create(PODS, pod("unwell", annotations={f"sim.timoneiro.io/{kind}": "fail"}, containers=[
        {"name": "app", "image": "nginx", f"{kind}Probe": probe, "readinessProbe": probe}]))
    restarted = await eventually(lambda: _restarts(client, "unwell", 1), timeout=5)
    if kind == "startup":  # readiness is not probed before the container has started
        assert condition(restarted, "Ready")["status"] == "False"


async def test_deleted_pod_goes_after_its_containers_stop(client, kubelet):
    await client.create(PODS, pod("doomed", annotations={"sim.timoneiro.io/stop-seconds": "0.5"}))
    await eventually(lambda: phase_is(client, "doomed", "Running"))
    began = time.monotonic()
    marked = await client.delete(PODS, "doomed", NS)
    assert marked["metadata"]["deletionTimestamp"]  # bound to a node: it lingers for the kubelet
    await eventually(lambda: absent(client, "doomed"))
    assert time.monotonic() - began >= 0.5


async def test_force_deleted_pod_is_cleaned_up(client, kubelet):
    await client.create(PODS, pod("forced"))
    running = await eventually(lambda: phase_is(client, "forced", "Running"))
    await client.delete(PODS, "forced", NS, grace_period_seconds=0)
    await client.create(PODS, pod("forced"))  # the same name, a new pod
    again = await eventually(lambda: phase_is(client, "forced", "Running"))
    assert again["metadata"]["uid"] != running["metadata"]["uid"]


async def test_pods_of_other_nodes_are_left_alone(client, kubelet):
    await client.create(PODS, pod("theirs", node="node-2"))
    await client.create(PODS, pod("ours"))
    await eventually(lambda: phase_is(client, "ours", "Running"))
    theirs = await client.get(PODS, "theirs", NS)
    assert theirs["status"]["phase"] == "Pending" and "containerStatuses" not in theirs["status"]


def test_kubectl_get_nodes(server, kubectl):
    async def run() -> None:
        k = Kubelet(server.admin, "kind-control-plane", control_plane=True, settings=FAST)
        await k.start()
        await k.stop()
    asyncio.run(run())
    header, row = kubectl("get", "nodes").splitlines()
    assert header.split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert row.split()[:3] == ["kind-control-plane", "Ready", "control-plane"]
    assert row.split()[4] == "v1.32.0"
    wide = kubectl("get", "nodes", "-o", "wide").splitlines()[1].split()
    assert wide[5].startswith("172.18.")  # INTERNAL-IP


async def test_start_time_precedes_container_start(client, kubelet):
    await client.create(PODS, pod("timed"))
    running = await eventually(lambda: phase_is(client, "timed", "Running"))
    start = datetime.strptime(running["status"]["startTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    started = running["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
    assert start <= datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


async def test_pod_deleted_before_its_kubelet_started_is_finalized(server, client):
    await client.create(PODS, pod("early", node="late"))
    assert (await client.delete(PODS, "early", NS))["metadata"]["deletionTimestamp"]
    k = Kubelet(server.admin, "late", settings=FAST)
    await k.start()
    try:
        await eventually(lambda: absent(client, "early"))
    finally:
        await k.stop()


async def test_slow_runtime_shows_containers_creating(server, client):
    k = Kubelet(server.admin, "slow", runtime=SimulatedRuntime(start_latency=0.5), settings=FAST)
    await k.start()
    try:
        await client.create(PODS, pod("patient", node="slow"))

        async def creating() -> dict | None:
            p = await client.get(PODS, "patient", NS)
            statuses = p["status"].get("containerStatuses") or [{}]
            return p if statuses[0].get("state", {}).get("waiting", {}).get("reason") == "ContainerCreating" else None
        early = await eventually(creating)
        assert early["status"]["phase"] == "Pending" and condition(early, "Ready")["status"] == "False"
        await eventually(lambda: phase_is(client, "patient", "Running"))
    finally:
        await k.stop()


async def test_status_overwritten_by_others_is_restored(client, kubelet):
    await client.create(PODS, pod("mine"))
    running = await eventually(lambda: phase_is(client, "mine", "Running"))
    ip = running["status"]["podIP"]
    await client.patch(PODS, "mine", {"status": {"podIP": "192.0.2.1", "podIPs": [{"ip": "192.0.2.1"}]}}, NS,
                       subresource="status")

    async def restored() -> bool:
        return (await client.get(PODS, "mine", NS))["status"]["podIP"] == ip
    await eventually(restored, timeout=5)
