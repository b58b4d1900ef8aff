"""The kubelet's pure parts: back-off, phases and conditions, admission, status patches, node status, and the
simulated runtime on its own."""

from __future__ import annotations

import asyncio

import pytest

from timoneiro.kubelet.admission import Usage, admit, pod_requests
from timoneiro.kubelet.backoff import Backoff, go_duration
from timoneiro.kubelet.node_status import differs, resources
from timoneiro.kubelet.pod_status import phase_of
from timoneiro.kubelet.runtime.base import ContainerConfig, ContainerState, PodSandboxConfig
from timoneiro.kubelet.runtime.simulated import SimulatedRuntime, normalize_image
from timoneiro.kubelet.status_manager import stamp, status_patch


@pytest.mark.parametrize(("seconds", "text"), [
    (10, "10s"), (20, "20s"), (80, "1m20s"), (160, "2m40s"), (300, "5m0s"), (0.2, "200ms"), (1.6, "1.6s"),
    (3600, "1h0m0s"), (0, "0s")])
def test_go_duration(seconds, text):
    assert go_duration(seconds) == text


def test_backoff_doubles_to_its_cap_and_resets():
    now = [1000.0]
    backoff = Backoff(10, 40, clock=lambda: now[0])
    assert backoff.remaining("k", now[0]) == 0  # never failed: restart at once
    backoff.next("k", now[0])
    assert backoff.get("k") == 10 and backoff.remaining("k", now[0]) == 10
    now[0] += 4
    assert backoff.remaining("k", now[0] - 4) == 6
    for expected in (20, 40, 40):
        backoff.next("k", now[0])
        assert backoff.get("k") == expected
    now[0] += 81  # quiet for more than twice the cap
    assert backoff.remaining("k", now[0]) == 0
    backoff.next("k", now[0])
    assert backoff.get("k") == 10
    backoff.forget("k")
    assert backoff.get("k") == 0


def running(name: str) -> dict:
    return {"name": name, "state": {"running": {}}, "started": True, "ready": True}


def exited(name: str, code: int) -> dict:
    return {"name": name, "state": {"terminated": {"exitCode": code}}}


def waiting(name: str, last_code: int | None = None) -> dict:
    last = {"terminated": {"exitCode": last_code}} if last_code is not None else {}
    return {"name": name, "state": {"waiting": {}}, "lastState": last}


SPEC = {"containers": [{"name": "a"}, {"name": "b"}]}


@pytest.mark.parametrize(("policy", "statuses", "terminal", "phase"), [
    ("Always", [], False, "Pending"),
    ("Always", [waiting("a"), running("b")], False, "Pending"),
    ("Always", [running("a"), running("b")], False, "Running"),
    ("Always", [exited("a", 0), exited("b", 1)], False, "Running"),  # restarting
    ("Always", [exited("a", 0), exited("b", 0)], True, "Succeeded"),
    ("Always", [exited("a", 0), exited("b", 137)], True, "Failed"),
    ("Never", [exited("a", 0), exited("b", 0)], False, "Succeeded"),
    ("Never", [exited("a", 0), exited("b", 2)], False, "Failed"),
    ("OnFailure", [exited("a", 0), exited("b", 2)], False, "Running"),
    ("OnFailure", [running("a"), waiting("b", 1)], False, "Running"),  # back-off after a failure
])
def test_phase(policy, statuses, terminal, phase):
    assert phase_of({**SPEC, "restartPolicy": policy}, statuses, terminal) == phase


def test_phase_with_init_containers():
    spec = {"restartPolicy": "Never", "initContainers": [{"name": "i"}], "containers": [{"name": "a"}]}
    assert phase_of(spec, [running("i"), waiting("a")], False) == "Pending"
    assert phase_of(spec, [exited("i", 1), waiting("a")], False) == "Failed"
    assert phase_of(spec, [exited("i", 0), running("a")], False) == "Running"
    sidecar = {"restartPolicy": "Always", "initContainers": [{"name": "s", "restartPolicy": "Always"}],
               "containers": [{"name": "a"}]}
    assert phase_of(sidecar, [running("s"), running("a")], False) == "Running"


def pod(*containers: dict, init: tuple[dict, ...] = (), **spec: object) -> dict:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"containers": list(containers), "initContainers": list(init), **spec}}


def asking(name: str, cpu: str = "0", memory: str = "0", **more: object) -> dict:
    return {"name": name, "resources": {"requests": {"cpu": cpu, "memory": memory}}, **more}


def test_pod_requests_count_sidecars_and_the_largest_init_container():
    p = pod(asking("a", "100m", "64Mi"), asking("b", "200m"),
            init=(asking("side", "50m", restartPolicy="Always"), asking("big-init", "1", "1Mi"),
                  asking("small-init", "10m")), overhead={"cpu": "5m"})
    got = pod_requests(p)
    assert got["cpu"] == 1000 + 50 + 5  # the big init container beside the sidecar started before it
    assert got["memory"] == 64 * 1024**2


NODE = {"metadata": {"name": "n", "labels": {"zone": "a"}},
        "spec": {"taints": [{"key": "maintenance", "effect": "NoExecute"}]},
        "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "2", "example.com/gpu": "1"}}}
TOLERANT = {"tolerations": [{"operator": "Exists"}]}


def test_admission_reasons():
    usage = Usage()
    assert admit(pod(asking("a", "1"), **TOLERANT), NODE, usage) is None
    usage.add(pod(asking("a", "1500m"), **TOLERANT))
    reason, message = admit(pod(asking("a", "1"), **TOLERANT), NODE, usage)
    assert reason == "OutOfcpu"
    assert message == "Node didn't have enough resource: cpu, requested: 1000, used: 1500, capacity: 2000"
    gpu = {"name": "g", "resources": {"requests": {"example.com/gpu": "2"}}}
    assert admit(pod(gpu, **TOLERANT), NODE, usage)[0] == "OutOfexample.com/gpu"
    assert admit(pod(asking("a"), nodeSelector={"zone": "b"}, **TOLERANT), NODE, usage)[0] == "NodeAffinity"
    assert admit(pod(asking("a")), NODE, usage)[0] == "TaintToleration"
    web = {"name": "w", "ports": [{"containerPort": 80, "hostPort": 8080}]}
    usage.add(pod(web, **TOLERANT))
    assert admit(pod(web, **TOLERANT), NODE, Usage(pods=0, ports=usage.ports))[0] == "NodePorts"
    reason, message = admit(pod(asking("a"), **TOLERANT), NODE, usage)
    assert (reason, message) == ("OutOfpods", "Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2")
    usage.remove(pod(web, **TOLERANT))
    assert admit(pod(asking("a", "100m"), **TOLERANT), NODE, usage) is None


def test_node_affinity_expressions():
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}]}}}
    assert admit(pod(asking("a"), affinity=affinity, **TOLERANT), NODE, Usage()) is None


def test_status_patch_sends_only_changes_and_drops_with_null():
    current = {"phase": "Pending", "qosClass": "BestEffort", "reason": "Old", "nominatedNodeName": "x"}
    wanted = {"phase": "Running", "qosClass": "BestEffort"}
    assert status_patch(current, wanted) == {"phase": "Running", "reason": None}


def test_stamp_keeps_transition_times_while_a_condition_holds():
    old = {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}],
           "startTime": "2024-01-01T00:00:00Z"}
    same = stamp({"conditions": [{"type": "Ready", "status": "True"}]}, old, {})
    assert same["conditions"][0]["lastTransitionTime"] == "2024-01-01T00:00:00Z"
    assert same["startTime"] == "2024-01-01T00:00:00Z"
    flipped = stamp({"conditions": [{"type": "Ready", "status": "False"}]}, old, {})
    assert flipped["conditions"][0]["lastTransitionTime"] > "2024-01-01T00:00:00Z"


def test_node_resources_and_status_differences():
    capacity, allocatable = resources({"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "50"})
    assert capacity == {"cpu": "4", "ephemeral-storage": "100Gi", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                        "memory": "8Gi", "pods": "50"}
    assert allocatable["memory"] == "8092Mi" and allocatable["ephemeral-storage"] == str(100 * 1024**3 * 9 // 10)
    wanted = {"capacity": capacity, "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2"}]}
    current = {"capacity": capacity, "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "1"},
                                                    {"type": "NetworkUnavailable", "status": "False"}]}
    assert not differs(current, wanted)
    assert differs({**current, "conditions": [{"type": "Ready", "status": "Unknown"}]}, wanted)


def test_normalize_image():
    assert normalize_image("nginx") == "docker.io/library/nginx:latest"
    assert normalize_image("bitnami/redis:7") == "docker.io/bitnami/redis:7"
    assert normalize_image("registry.k8s.io/pause:3.10") == "registry.k8s.io/pause:3.10"
    assert normalize_image("localhost:5000/app") == "localhost:5000/app:latest"
    assert normalize_image("nginx@sha256:abc") == "docker.io/library/nginx@sha256:abc"


async def started(runtime: SimulatedRuntime, annotations: dict, name: str = "app", kind: str = "regular"
                  ) -> tuple[str, str]:
    await runtime.update_runtime_config("10.1.0.0/30")
    sandbox = await runtime.run_pod_sandbox(PodSandboxConfig("p", "default", "uid-1", annotations=annotations))
    await runtime.pull_image("busybox")
    container = await runtime.create_container(sandbox, ContainerConfig(
        name, "busybox", annotations={"timoneiro.io/container-type": kind}))
    await runtime.start_container(container)
    return sandbox, container


async def test_simulated_containers_exit_on_cue():
    runtime = SimulatedRuntime()
    events: list[str] = []
    assert runtime.watch_events(events.append)
    _, container = await started(runtime, {"sim.timoneiro.io/run-seconds": "0.05",
                                           "sim.timoneiro.io/exit-code": "4"})
    (status,) = await runtime.list_containers()
    assert status.state is ContainerState.RUNNING
    await asyncio.sleep(0.1)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 4, "Error")
    assert events == ["uid-1"]


async def test_simulated_init_containers_exit_and_stops_honour_grace():
    runtime = SimulatedRuntime()
    _, init = await started(runtime, {"sim.timoneiro.io/exit-code": "9"}, "setup", "init")
    await asyncio.sleep(0.01)
    (status,) = await runtime.list_containers()
    assert (status.state, status.exit_code) == (ContainerState.EXITED, 0)  # pod-wide codes are not the init's
    slow = SimulatedRuntime()
    _, container = await started(slow, {"sim.timoneiro.io/stop-seconds": "5"})
    await slow.stop_container(container, 0.05)
    (status,) = await slow.list_containers()
    assert (status.exit_code, status.reason) == (137, "Error")  # killed when the grace period ran out


async def test_simulated_network_hands_out_free_addresses():
    runtime = SimulatedRuntime()
    await runtime.update_runtime_config("10.1.0.0/30")  # one usable pod address besides the gateway
    first = await runtime.run_pod_sandbox(PodSandboxConfig("a", "default", "a"))
    (sandbox,) = await runtime.list_pod_sandboxes("a")
    assert sandbox.ip == "10.1.0.2"
    with pytest.raises(Exception, match="no free address"):
        await runtime.run_pod_sandbox(PodSandboxConfig("b", "default", "b"))
    await runtime.remove_pod_sandbox(first)
    await runtime.run_pod_sandbox(PodSandboxConfig("b", "default", "b"))
    assert [s.ip for s in await runtime.list_pod_sandboxes("b")] == ["10.1.0.2"]
