"""CriRuntime against a real containerd of our own: pods with IPs on a CNI bridge, busybox containers pulled
from a registry on loopback, logs, exec, exit codes, probes from the host, port-forwarding, stats, and a
teardown that leaves no process, network namespace, bridge, mount or cgroup behind.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from cri_testing import CriNode, free_pod_cidr, start_node
from timoneiro.kubelet.cri import api_pb2 as api
from timoneiro.kubelet.cri.client import CriClient
from timoneiro.kubelet.cri.containerd import Containerd, alive
from timoneiro.kubelet.runtime.base import (
    CONTAINER_NAME_LABEL,
    POD_UID_LABEL,
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    PodSandboxConfig,
    RuntimeFailure,
)
from timoneiro.kubelet.runtime.cri import CriRuntime

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containerd needs root")

WEB = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p {listen} -h /www"


async def _run_pod(runtime: CriRuntime, node: CriNode, name: str, *containers: ContainerConfig
                   ) -> tuple[str, list[str]]:
    """A sandbox with these containers started in it; answers the sandbox's id and the containers'."""
    uid = secrets.token_hex(8)
    sandbox = await runtime.run_pod_sandbox(PodSandboxConfig(name, "default", uid, hostname=name))
    ids = []
    for config in containers:
        await runtime.pull_image(config.image)
        config.labels = {**config.labels, CONTAINER_NAME_LABEL: config.name}
        ids.append(await runtime.create_container(sandbox, config))
        await runtime.start_container(ids[-1])
    return sandbox, ids


async def _status(runtime: CriRuntime, sandbox: str, container: str) -> ContainerStatus:
    [status] = [c for c in await runtime.list_containers(sandbox) if c.id == container]
    return status


async def _wait_for(runtime: CriRuntime, sandbox: str, container: str, state: ContainerState) -> ContainerStatus:
    for _ in range(200):
        status = await _status(runtime, sandbox, container)
        if status.state is state:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"container {container} stayed {status.state}, not {state}")


async def _logs(runtime: CriRuntime, container: str, **options) -> bytes:
    return b"".join([chunk async for chunk in runtime.container_logs(container, **options)])


async def _wait_for_logs(runtime: CriRuntime, container: str, lines: int) -> bytes:
    for _ in range(200):
        text = await _logs(runtime, container)
        if text.count(b"\n") >= lines:
            return text
        await asyncio.sleep(0.05)
    raise AssertionError(f"container {container} logged only {text!r}")


@pytest.fixture
async def runtime(cri_node: CriNode):
    runtime = cri_node.runtime()
    sandboxes_before = {s.id for s in await runtime.list_pod_sandboxes()}
    yield runtime
    for sandbox in await runtime.list_pod_sandboxes():  # what the test made
        if sandbox.id not in sandboxes_before:
            await runtime.stop_pod_sandbox(sandbox.id)
            await runtime.remove_pod_sandbox(sandbox.id)
    await runtime.close()


async def test_version_status_and_images_from_the_registry(cri_node: CriNode, runtime: CriRuntime):
    assert (await runtime.version()).startswith("1.6")
    assert runtime.name == "containerd"
    status = await runtime.status()
    assert (status.runtime_ready, status.network_ready) == (True, True)
    assert runtime.watch_events(lambda uid: None) is False  # containerd 1.6 has no GetContainerEvents

    images, registry = cri_node.images, cri_node.images.registry.host
    ref = await runtime.pull_image(images.busybox)
    assert ref.startswith(f"{registry}/timoneiro/busybox@sha256:")
    mirrored = await runtime.pull_image(f"busybox:{images.busybox_tag}")  # docker.io, from our registry
    assert mirrored.startswith("docker.io/library/busybox@sha256:")
    tags = {tag for image in await runtime.list_images() for tag in image.repo_tags}
    assert {images.busybox, f"docker.io/library/busybox:{images.busybox_tag}"} <= tags

    with pytest.raises(RuntimeFailure) as failure:
        await runtime.pull_image(f"{registry}/timoneiro/missing:1")
    assert failure.value.reason == "ErrImagePull"
    assert failure.value.message.startswith(
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{registry}/timoneiro/missing:1"')


async def test_pod_gets_an_ip_and_its_container_runs_logs_and_execs(cri_node: CriNode, runtime: CriRuntime):
    image = cri_node.images.busybox
    sandbox, [main] = await _run_pod(runtime, cri_node, "web", ContainerConfig(
        "main", image, command=["sh", "-c"], args=["echo one; echo two; echo three; exec sleep 600"]))

    [pod] = [s for s in await runtime.list_pod_sandboxes() if s.id == sandbox]
    assert pod.ready and pod.config.name == "web" and pod.config.namespace == "default"
    assert ipaddress.ip_address(pod.ip) in ipaddress.ip_network(cri_node.pod_cidr)
    assert [s.id for s in await runtime.list_pod_sandboxes(pod.config.uid)] == [sandbox]
    assert pod.config.labels[POD_UID_LABEL] == pod.config.uid

    status = await _wait_for(runtime, sandbox, main, ContainerState.RUNNING)
    assert (status.name, status.attempt, status.image) == ("main", 0, image)
    assert status.image_ref.startswith(f"{cri_node.images.registry.host}/timoneiro/busybox@sha256:")
    assert status.labels[CONTAINER_NAME_LABEL] == "main" and status.started_at >= status.created_at

    assert await _wait_for_logs(runtime, main, 3) == b"one\ntwo\nthree\n"
    assert await _logs(runtime, main, tail=2) == b"two\nthree\n"
    assert await _logs(runtime, main, tail=0) == b""
    log_file = cri_node.data_dir / "pods" / f"default_web_{pod.config.uid}" / "main" / "0.log"
    timestamp, stream, tag, message = log_file.read_bytes().split(b"\n")[0].split(b" ", 3)
    assert (stream, tag, message) == (b"stdout", b"F", b"one") and timestamp.endswith(b"Z")

    assert await runtime.exec_sync(main, ["hostname"], 5) == (0, b"web\n", b"")
    assert await runtime.exec_sync(main, ["sh", "-c", "echo out; echo err >&2; exit 7"], 5) == (7, b"out\n", b"err\n")
    code, routes, _ = await runtime.exec_sync(main, ["ip", "-4", "addr", "show", "eth0"], 5)
    assert code == 0 and f"inet {pod.ip}/24".encode() in routes


async def test_exited_container_keeps_its_exit_code_reason_and_logs(cri_node: CriNode, runtime: CriRuntime):
    sandbox, [failing] = await _run_pod(runtime, cri_node, "fails", ContainerConfig(
        "failing", cri_node.images.busybox, command=["sh", "-c", "echo failing >&2; exit 3"]))
    status = await _wait_for(runtime, sandbox, failing, ContainerState.EXITED)
    assert (status.exit_code, status.reason) == (3, "Error")
    assert status.started_at and status.finished_at  # (containerd may stamp the exit before the start)
    assert await _logs(runtime, failing) == b"failing\n"

    [pod] = [s for s in await runtime.list_pod_sandboxes() if s.id == sandbox]
    log_dir = cri_node.data_dir / "pods" / f"default_fails_{pod.config.uid}"
    assert (log_dir / "failing" / "0.log").exists()
    await runtime.remove_container(failing)
    assert await runtime.list_containers(sandbox) == [] and not (log_dir / "failing" / "0.log").exists()
    with pytest.raises(RuntimeFailure):
        await _logs(runtime, failing)
    await runtime.stop_pod_sandbox(sandbox)
    await runtime.remove_pod_sandbox(sandbox)
    assert await runtime.list_pod_sandboxes(pod.config.uid) == [] and not log_dir.exists()
    await runtime.remove_pod_sandbox(sandbox)  # removing again is fine


async def test_the_relists_lists_and_a_sandbox_another_runtime_ran(cri_node: CriNode, runtime: CriRuntime):
    """list_all (the PLEG's two CRI lists, no status calls) tells what the statuses tell of ids, pods,
    attempts, states and times; a runtime that did not run the sandbox (a restarted kubelet's) creates
    containers in it with the config containerd kept: the pod's hostname, its log directory."""
    image = cri_node.images.busybox
    sandbox, [main] = await _run_pod(runtime, cri_node, "relisted", ContainerConfig(
        "main", image, command=["sleep", "600"]))
    full = await _wait_for(runtime, sandbox, main, ContainerState.RUNNING)
    sandboxes, containers = await runtime.list_all()
    [pod] = [s for s in await runtime.list_pod_sandboxes() if s.id == sandbox]
    [listed] = [s for s in sandboxes if s.id == sandbox]
    assert (listed.ready, listed.created_at, listed.config.uid, listed.config.name) == (
        pod.ready, pod.created_at, pod.config.uid, "relisted")
    [container] = [c for c in containers if c.id == main]
    assert (container.sandbox_id, container.name, container.attempt, container.state, container.created_at,
            container.labels) == (sandbox, "main", 0, ContainerState.RUNNING, full.created_at, full.labels)

    restarted = cri_node.runtime()
    try:
        second = await restarted.create_container(sandbox, ContainerConfig(
            "second", image, command=["sh", "-c", "echo $HOSTNAME; exec sleep 600"],
            labels={CONTAINER_NAME_LABEL: "second"}))
        await restarted.start_container(second)
        assert await _wait_for_logs(restarted, second, 1) == b"relisted\n"
        log_dir = cri_node.data_dir / "pods" / f"default_relisted_{pod.config.uid}"
        assert (log_dir / "second" / "0.log").exists()
    finally:
        await restarted.close()
    await runtime.stop_pod_sandbox(sandbox)
    sandboxes, containers = await runtime.list_all()
    assert [s.ready for s in sandboxes if s.id == sandbox] == [False]
    assert {c.state for c in containers if c.sandbox_id == sandbox} == {ContainerState.EXITED}


async def test_followed_logs_end_when_the_container_exits(cri_node: CriNode, runtime: CriRuntime):
    _, [counter] = await _run_pod(runtime, cri_node, "counter", ContainerConfig(
        "counter", cri_node.images.busybox, command=["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done"]))
    assert await _logs(runtime, counter, follow=True) == b"line1\nline2\nline3\n"


async def test_stop_kills_a_container_that_ignores_sigterm_after_the_grace_period(cri_node: CriNode,
                                                                                    runtime: CriRuntime):
    sandbox, [stubborn, polite] = await _run_pod(
        runtime, cri_node, "stopping",
        ContainerConfig("stubborn", cri_node.images.busybox,
                        command=["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]),
        ContainerConfig("polite", cri_node.images.busybox,
                        command=["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]))
    await _wait_for(runtime, sandbox, polite, ContainerState.RUNNING)
    await asyncio.gather(runtime.stop_container(stubborn, 1), runtime.stop_container(polite, 30))
    assert (await _status(runtime, sandbox, stubborn)).exit_code == 137
    stopped = await _status(runtime, sandbox, polite)
    assert (stopped.state, stopped.exit_code, stopped.reason) == (ContainerState.EXITED, 0, "Completed")
    await runtime.stop_container(stubborn, 1)  # stopping again is fine


async def test_probes_exec_http_and_tcp_from_the_host(cri_node: CriNode, runtime: CriRuntime):
    sandbox, [web] = await _run_pod(runtime, cri_node, "probed", ContainerConfig(
        "web", cri_node.images.busybox, command=["sh", "-c", WEB.format(listen=8080)]))
    [pod_status] = [s for s in await runtime.list_pod_sandboxes() if s.id == sandbox]
    pod = {"metadata": {"name": "probed", "namespace": "default"},
           "spec": {"containers": [{"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}]},
           "status": {"podIP": pod_status.ip}}

    async def probe(spec: dict, on: dict = pod) -> bool:
        return (await runtime.probe("readiness", {"timeoutSeconds": 2, **spec}, on, "web", web))[0]

    for _ in range(100):
        if await probe({"tcpSocket": {"port": 8080}}):
            break
        await asyncio.sleep(0.05)
    assert await probe({"exec": {"command": ["test", "-f", "/www/index.html"]}})
    assert not await probe({"exec": {"command": ["sh", "-c", "exit 1"]}})
    assert await probe({"httpGet": {"path": "/index.html", "port": "http"}})
    assert not await probe({"httpGet": {"path": "/missing", "port": 8080}})  # 404
    assert not await probe({"tcpSocket": {"port": 8081}})
    without_ip = {**pod, "status": {}}  # the pod IP from the sandbox, before the status has it
    assert await probe({"tcpSocket": {"port": "http"}}, without_ip)


async def test_port_forward_reaches_a_port_bound_to_the_pods_localhost(cri_node: CriNode, runtime: CriRuntime):
    sandbox, [web] = await _run_pod(runtime, cri_node, "forwarded", ContainerConfig(
        "web", cri_node.images.busybox, command=["sh", "-c", WEB.format(listen="127.0.0.1:8080")]))
    await _wait_for(runtime, sandbox, web, ContainerState.RUNNING)
    for _ in range(100):
        if (await runtime.exec_sync(web, ["sh", "-c", "netstat -ltn | grep -q 127.0.0.1:8080"], 5))[0] == 0:
            break
        await asyncio.sleep(0.05)
    reader, writer = await runtime.port_forward(sandbox, 8080)
    writer.write(b"GET /index.html HTTP/1.0\r\n\r\n")
    await writer.drain()
    response = await reader.read()
    writer.close()
    assert response.split(b"\r\n", 1)[0].split(b" ")[1] == b"200" and response.endswith(b"ok\n")
    [pod] = [s for s in await runtime.list_pod_sandboxes() if s.id == sandbox]
    with pytest.raises(OSError):  # not on the pod's IP: only its localhost
        await asyncio.open_connection(pod.ip, 8080)


async def test_stats_and_streaming_urls(cri_node: CriNode, runtime: CriRuntime):
    sandbox, [sleeper] = await _run_pod(runtime, cri_node, "measured", ContainerConfig(
        "sleeper", cri_node.images.busybox, command=["sleep", "600"]))
    await _wait_for(runtime, sandbox, sleeper, ContainerState.RUNNING)
    client = CriClient(cri_node.containerd.socket)
    try:
        [stats] = await client.list_container_stats(api.ContainerStatsFilter(pod_sandbox_id=sandbox))
        assert stats.attributes.id == sleeper and stats.attributes.metadata.name == "sleeper"
        assert stats.memory.working_set_bytes.value > 0 and stats.cpu.usage_core_nano_seconds.value > 0
        assert (await client.container_stats(sleeper)).attributes.id == sleeper
        url = await client.exec(api.ExecRequest(container_id=sleeper, cmd=["sh"], stdin=True, stdout=True))
        assert url.startswith("http://127.0.0.1:")
        assert (await client.port_forward(sandbox, [80])).startswith("http://127.0.0.1:")
    finally:
        await client.close()


def _net_namespace(info: dict) -> str:
    [network] = [n for n in info["runtimeSpec"]["linux"]["namespaces"] if n["type"] == "network"]
    return network["path"]


async def test_a_new_containerd_takes_over_pods_and_stopping_leaves_nothing_behind(cri_node: CriNode):
    data_dir = Path(tempfile.mkdtemp(prefix="tm-cri-", dir="/tmp"))
    node = await start_node(data_dir, cri_node.images, None)
    runtime = node.runtime()
    try:
        status = await runtime.status()
        assert not status.network_ready and status.message == (
            "NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: "
            "cni plugin not initialized")
        await runtime.update_runtime_config(free_pod_cidr())
        sandbox, [sleeper] = await _run_pod(runtime, node, "left", ContainerConfig(
            "sleeper", cri_node.images.busybox, command=["sleep", "600"]))
        await _wait_for(runtime, sandbox, sleeper, ContainerState.RUNNING)
        info = json.loads((await runtime.client.pod_sandbox_status(sandbox, verbose=True)).info["info"])
        container_info = json.loads((await runtime.client.container_status(sleeper, verbose=True)).info["info"])
    finally:
        await runtime.close()
    first = node.containerd
    pids = [first.pid, info["pid"], container_info["pid"], *first.shim_pids()]
    netns, cgroup = _net_namespace(info), Path("/sys/fs/cgroup/pids") / first.cgroup_parent.strip("/")
    assert len(pids) >= 4 and all(alive(pid) for pid in pids)
    assert Path(netns).exists() and cgroup.is_dir() and Path(f"/sys/class/net/{node.bridge}").exists()

    # the agent that started it died: a new one on the same data dir stops it and takes over its pods
    layout = first.layout
    second = Containerd(layout.data_dir, sandbox_image=layout.sandbox_image, bridge=layout.bridge,
                        cgroup_parent=first.cgroup_parent, registries=layout.registries)
    await second.start()
    assert not alive(pids[0]) and alive(second.pid)
    runtime = second.runtime(data_dir / "pods")
    try:
        assert (await _status(runtime, sandbox, sleeper)).state is ContainerState.RUNNING
        assert await runtime.exec_sync(sleeper, ["echo", "still here"], 5) == (0, b"still here\n", b"")
    finally:
        await runtime.close()
    pids.append(second.pid)

    await first.stop()  # stops the daemon it did not start too, with the pod still running
    await second.stop()

    assert not any(alive(pid) for pid in pids) and first.shim_pids() == [] and first.daemon_pids() == []
    assert not Path(netns).exists() and not cgroup.exists() and not Path(f"/sys/class/net/{node.bridge}").exists()
    with open("/proc/self/mountinfo") as mounts:
        assert str(data_dir) not in mounts.read()
    assert not any((layout.ipam_dir).rglob("*.*.*.*"))  # no address leased
    shutil.rmtree(data_dir)
