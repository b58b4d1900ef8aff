"""The kubelet's API without containers: who may use it (x509, TokenReview, SubjectAccessReview), nodes/proxy
through the API server, a simulated pod's logs and exec as kubectl sees them, the API server's checks of
pods/log and pods/exec, the choice of the container whose log is read, and SPDY sessions."""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from pathlib import Path

import httpx
import pytest

from conftest import Kubectl
from test_kubelet import FAST, eventually
from timoneiro.apiserver import errors
from timoneiro.apiserver.kubelet_proxy import log_options_errors, pick_container
from timoneiro.client import Client
from timoneiro.client.resources import NODES, PODS
from timoneiro.kubelet import Kubelet
from timoneiro.kubelet.server import Serving
from timoneiro.kubelet.server.auth import attributes
from timoneiro.kubelet.server.logs import LogUnavailable, container_id
from timoneiro.kubelet.streaming.spdy import SpdySession

NODE = "node-a"


@pytest.fixture
async def kubelet(server, client: Client):
    cert, key = server.api.pki.kubelet_serving(NODE, ("127.0.0.1",))
    k = Kubelet(server.node(NODE), NODE, settings=FAST,
                node_addresses=[{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE}],
                serving=Serving("127.0.0.1", 0, cert, key, server.api.pki.path("ca.crt")))
    await k.start()
    yield k
    await k.stop()


def _pod(name: str, node: str | None = NODE, containers: tuple[str, ...] = ("app",)) -> dict:
    spec: dict = {"containers": [{"name": c, "image": "busybox"} for c in containers]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


async def _kubectl(kubectl: Kubectl, *args: str):
    return await asyncio.to_thread(kubectl.run, *args, check=False)


async def test_a_simulated_pod_has_an_empty_log_and_runs_no_commands(kubelet, client: Client, kubectl) -> None:
    await client.create(PODS, _pod("quiet"))

    async def running() -> bool:
        return (await client.get(PODS, "quiet", "default"))["status"].get("phase") == "Running"
    await eventually(running)
    logs = await _kubectl(kubectl, "logs", "quiet")
    assert (logs.returncode, logs.stdout) == (0, "")
    execd = await _kubectl(kubectl, "exec", "quiet", "--", "true")
    assert execd.returncode == 1
    assert execd.stderr.strip() == "error: unable to upgrade connection: sim runtime does not run commands in containers"
    node = await client.get(NODES, NODE)
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == kubelet._running.server.port


async def test_the_api_servers_checks_before_the_kubelet(kubelet, client: Client, kubectl) -> None:
    await client.create(PODS, _pod("pair", containers=("a", "b")))
    await client.create(PODS, _pod("floating", node=None))
    refused = await _kubectl(kubectl, "exec", "pair", "-c", "c", "--", "true")
    assert refused.stderr.strip() == "Error from server (BadRequest): container c is not valid for pod pair"
    refused = await _kubectl(kubectl, "exec", "floating", "--", "true")
    assert refused.stderr.strip() == "Error from server (BadRequest): pod floating does not have a host assigned"
    refused = await _kubectl(kubectl, "get", "--raw", "/api/v1/namespaces/default/pods/pair/log")
    assert refused.stderr.strip() == \
        "Error from server (BadRequest): a container name must be specified for pod pair, choose one of: [a b]"
    refused = await _kubectl(kubectl, "get", "--raw", "/api/v1/namespaces/default/pods/pair/log?container=a&tailLines=-2")
    assert "PodLogOptions \"pair\" is invalid: tailLines: Invalid value: -2: must be greater than or equal to 0" \
        in refused.stderr
    refused = await _kubectl(kubectl, "get", "--raw", "/api/v1/namespaces/default/pods/missing/log")
    assert refused.stderr.strip() == 'Error from server (NotFound): pods "missing" not found'


async def test_who_may_use_the_kubelet(server, kubelet, client: Client, kubectl) -> None:
    await client.create(PODS, _pod("listed"))
    url = f"https://127.0.0.1:{kubelet._running.server.port}"
    ca = server.api.pki.path("ca.crt")
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca)) as anonymous:
        answer = await anonymous.get(url + "/pods")
        assert (answer.status_code, answer.text) == (401, "Unauthorized")
    alice = server.user("alice")
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "alice.crt").write_bytes(alice.cert_data)
        Path(tmp, "alice.key").write_bytes(alice.key_data)
        context = ssl.create_default_context(cafile=ca)
        context.load_cert_chain(Path(tmp, "alice.crt"), Path(tmp, "alice.key"))
    async with httpx.AsyncClient(verify=context) as as_alice:
        answer = await as_alice.get(url + "/stats/summary")
        assert (answer.status_code, answer.text) == \
            (403, "Forbidden (user=alice, verb=get, resource=nodes, subresource=stats)")
    token = (await _kubectl(kubectl, "create", "token", "default")).stdout.strip()
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=ca)) as with_token:
        answer = await with_token.get(url + "/containerLogs/default/listed/app",
                                      headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 403
        assert answer.text == "Forbidden (user=system:serviceaccount:default:default, verb=get, resource=nodes, " \
                              "subresource=proxy)"
        answer = await with_token.get(url + "/pods", headers={"Authorization": "Bearer not-a-token"})
        assert (answer.status_code, answer.text) == (401, "Unauthorized")
    # the administrator, through the API server's nodes/proxy (the API server's kubelet-client certificate)
    healthz = await _kubectl(kubectl, "get", "--raw", f"/api/v1/nodes/{NODE}/proxy/healthz")
    assert healthz.stdout == "ok"
    listed = await _kubectl(kubectl, "get", "--raw", f"/api/v1/nodes/{NODE}/proxy/pods")
    assert '"name":"listed"' in listed.stdout and '"kind":"PodList"' in listed.stdout


def test_request_attributes_name_the_subresource() -> None:
    assert attributes("GET", "/stats/summary").subresource == "stats"
    assert attributes("GET", "/logs/").subresource == "log"
    assert attributes("POST", "/exec/ns/pod/c") == attributes("POST", "/portForward/ns/pod")
    assert (attributes("POST", "/exec/ns/pod/c").verb, attributes("POST", "/exec/ns/pod/c").subresource) == \
        ("create", "proxy")
    assert attributes("GET", "/containerLogs/ns/pod/c").subresource == "proxy"  # as upstream: not /logs


def test_which_containers_log_is_read() -> None:
    def status(**fields) -> dict:
        return {"containerStatuses": [{"name": "app", **fields}]}
    running = status(containerID="containerd://abc", state={"running": {}},
                     lastState={"terminated": {"containerID": "containerd://old"}})
    assert container_id("p", running, "app", previous=False) == "abc"
    assert container_id("p", running, "app", previous=True) == "old"
    crashed = status(state={"waiting": {"reason": "CrashLoopBackOff"}},
                     lastState={"terminated": {"containerID": "containerd://old"}})
    assert container_id("p", crashed, "app", previous=False) == "old"
    cases = [
        (status(state={"waiting": {"reason": "ContainerCreating"}}), False,
         'container "app" in pod "p" is waiting to start: ContainerCreating'),
        (status(state={"waiting": {"reason": "ErrImagePull"}}), False,
         'container "app" in pod "p" is waiting to start: image can\'t be pulled'),
        (status(state={"waiting": {"reason": "ContainerCreating"}}), True,
         'previous terminated container "app" in pod "p" not found'),
        ({"containerStatuses": []}, False, 'container "app" in pod "p" is not available'),
        (status(state={"terminated": {"exitCode": 1}}), False, 'container "app" in pod "p" is terminated'),
    ]
    for pod_status, previous, message in cases:
        with pytest.raises(LogUnavailable) as refused:
            container_id("p", pod_status, "app", previous)
        assert str(refused.value) == message


def test_container_choice_and_log_options() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "setup"}],
                                               "containers": [{"name": "a"}, {"name": "b"}]}}
    assert pick_container(pod, "setup") == "setup"
    with pytest.raises(errors.APIError) as refused:
        pick_container(pod, "")
    assert refused.value.message == \
        "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [setup]"
    assert pick_container({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "only"}]}}, "") == "only"
    found = log_options_errors({"limitBytes": "0", "sinceSeconds": "5", "sinceTime": "2024-01-01T00:00:00Z"})
    assert [e.cause()["field"] for e in found] == ["limitBytes", ""]
    assert log_options_errors({"tailLines": "0", "sinceSeconds": "1"}) == []


async def test_spdy_streams_carry_headers_and_data_both_ways() -> None:
    to_server: asyncio.Queue[bytes] = asyncio.Queue()
    to_client: asyncio.Queue[bytes] = asyncio.Queue()

    async def put(queue: asyncio.Queue, data: bytes) -> None:
        await queue.put(data)

    async def echo(stream) -> None:
        await server.accept(stream)
        while data := await stream.read():
            await stream.write(stream.headers["prefix"].encode() + data)
        await stream.close()

    server = SpdySession(to_server.get, lambda d: put(to_client, d), server=True,
                         on_stream=lambda s: asyncio.ensure_future(echo(s)))
    client = SpdySession(to_client.get, lambda d: put(to_server, d), server=False)
    running = [asyncio.ensure_future(server.run()), asyncio.ensure_future(client.run())]
    try:
        for n in range(3):  # each header block goes through the same compression context
            stream = await client.open_stream({"streamtype": "data", "prefix": f"{n}:"})
            await stream.write(b"x" * 70000)  # more than one frame
            await stream.close()
            received = b""
            while data := await stream.read():
                received += data
            assert received.startswith(f"{n}:".encode()) and received.count(b"x") == 70000
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
