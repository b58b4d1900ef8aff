"""The kubelet's Events, read back through the API and with the real `kubectl describe`: image pulls (and
their failures, back-off and pull policies), container lifecycle, probes, back-off, activeDeadlineSeconds,
admission and the node's own events; repeats counted on one Event rather than written again."""

from __future__ import annotations

import asyncio
import re

import pytest

from test_kubelet import FAST, NODE, NS, eventually, phase_is, pod
from timoneiro.client import Client
from timoneiro.client.resources import EVENTS, NODES, PODS
from timoneiro.kubelet import Kubelet
from timoneiro.kubelet.runtime import SimulatedRuntime
from timoneiro.scheduler import Scheduler

UNRESOLVABLE = "registry.invalid/team/app:1.0"


@pytest.fixture
async def kubelet(server):
    k = Kubelet(server.admin, NODE, pod_cidr="10.244.7.0/24", settings=FAST,
                runtime=SimulatedRuntime(missing_images=["nginx:0.0"]))
    await k.start()
    yield k
    await k.stop()


async def events_of(client: Client, name: str, kind: str = "Pod") -> list[dict]:
    selector = f"involvedObject.name={name},involvedObject.kind={kind}"
    return (await client.list(EVENTS, NS, field_selector=selector))["items"]


def summary(events: list[dict]) -> list[tuple[str, str, str]]:
    return [(e["type"], e["reason"], e["message"]) for e in events]


async def recorded(client: Client, name: str, reason: str, message: str | None = None, kind: str = "Pod",
                   count: int = 1) -> dict:
    """The event once it is written (with at least `count` occurrences)."""
    async def check() -> dict | None:
        for e in await events_of(client, name, kind):
            if e["reason"] == reason and (message is None or e["message"] == message) and e["count"] >= count:
                return e
        return None
    return await eventually(check)


def described_events(text: str) -> list[tuple[str, str, str, str, str]]:
    """(type, reason, age, from, message) of each row of `kubectl describe`'s Events table, cut at the
    header's column offsets."""
    header, _, *rows = text[text.index("Events:"):].splitlines()[1:]
    starts = [header.index(column) for column in ("Type", "Reason", "Age", "From", "Message")]
    out = []
    for row in rows:
        if not row.strip():
            break
        out.append(tuple(row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)))
    return out


async def test_pod_start_events_as_kubectl_describe_shows_them(server, client, kubelet, kubectl):
    scheduler = Scheduler(server.admin)
    await scheduler.start()
    try:
        unbound = pod("web", containers=[{"name": "app", "image": "nginx:1.27"}],
                      initContainers=[{"name": "setup", "image": "busybox:1.36"}])
        del unbound["spec"]["nodeName"]
        await client.create(PODS, unbound)
        running = await eventually(lambda: phase_is(client, "web", "Running"))
        await recorded(client, "web", "Started", "Started container app")
    finally:
        await scheduler.stop()
    described = await asyncio.to_thread(kubectl, "describe", "pod", "web")
    scheduled, *rows = described_events(described)
    assert scheduled == ("Normal", "Scheduled", scheduled[2], "default-scheduler",
                         f"Successfully assigned default/web to {NODE}")
    assert [(r[0], r[1]) for r in rows] == [("Normal", "Pulling"), ("Normal", "Pulled"), ("Normal", "Created"),
                                            ("Normal", "Started")] * 2
    assert {r[3] for r in rows} == {"kubelet"}
    assert [r[4] for r in rows[::4]] == ['Pulling image "busybox:1.36"', 'Pulling image "nginx:1.27"']
    assert rows[2][4] == "Created container: setup" and rows[3][4] == "Started container setup"
    assert rows[6][4] == "Created container: app" and rows[7][4] == "Started container app"
    pulled = rows[5][4]
    assert pulled.startswith('Successfully pulled image "nginx:1.27" in ') and "including waiting). Image size: " in pulled
    size = int(pulled.rpartition("Image size: ")[2].removesuffix(" bytes."))

    async def listed() -> bool:  # the size the node reports for the image
        images = (await client.get(NODES, NODE))["status"].get("images") or []
        return any("docker.io/library/nginx:1.27" in i["names"] and i["sizeBytes"] == size for i in images)
    await eventually(listed)

    events = [e for e in await events_of(client, "web") if e["source"].get("component") == "kubelet"]
    by_path = {e["involvedObject"].get("fieldPath") for e in events}
    assert by_path == {"spec.initContainers{setup}", "spec.containers{app}"}
    started = next(e for e in events if e["message"] == "Started container app")
    assert started["source"] == {"component": "kubelet", "host": NODE}
    assert (started["reportingComponent"], started["reportingInstance"]) == ("kubelet", NODE)
    assert started["involvedObject"]["uid"] == running["metadata"]["uid"]
    assert started["involvedObject"]["kind"] == "Pod" and started["involvedObject"]["apiVersion"] == "v1"
    assert started["count"] == 1 and started["firstTimestamp"] == started["lastTimestamp"]


async def test_if_not_present_pulls_once_a_node_and_always_every_time(client, kubelet):
    await client.create(PODS, pod("first", containers=[{"name": "app", "image": "nginx:1.27"}]))
    await recorded(client, "first", "Started")
    await client.create(PODS, pod("second", containers=[{"name": "app", "image": "nginx:1.27"}]))
    await recorded(client, "second", "Started")
    assert summary(await events_of(client, "second"))[0] == \
        ("Normal", "Pulled", 'Container image "nginx:1.27" already present on machine')
    # nginx (":latest" implied) is pulled Always: each restart of a crashing container pulls again
    await client.create(PODS, pod("again", annotations={"sim.timoneiro.io/exit-code": "1"}))
    assert (await client.get(PODS, "again", NS))["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    pulling = await recorded(client, "again", "Pulling", 'Pulling image "nginx"', count=3)
    assert len([e for e in await events_of(client, "again") if e["reason"] == "Pulling"]) == 1  # one, counted
    assert pulling["firstTimestamp"] <= pulling["lastTimestamp"]


async def test_never_pulls(client, kubelet):
    await client.create(PODS, pod("never", containers=[
        {"name": "app", "image": "busybox:1.36", "imagePullPolicy": "Never"}]))

    async def waiting() -> dict | None:
        p = await client.get(PODS, "never", NS)
        state = ((p["status"].get("containerStatuses") or [{}])[0].get("state") or {}).get("waiting") or {}
        return state if state.get("reason") == "ErrImageNeverPull" else None
    state = await eventually(waiting)
    message = 'Container image "busybox:1.36" is not present with pull policy of Never'
    assert state["message"] == message
    await recorded(client, "never", "ErrImageNeverPull", message)
    failed = await recorded(client, "never", "Failed", "Error: ErrImageNeverPull")
    assert failed["type"] == "Warning"
    assert "Pulling" not in {e["reason"] for e in await events_of(client, "never")}
    # once another pod brought the image to the node, Never finds it there
    await client.create(PODS, pod("puller", containers=[{"name": "app", "image": "busybox:1.36"}]))
    await eventually(lambda: phase_is(client, "never", "Running"))
    await recorded(client, "never", "Pulled", 'Container image "busybox:1.36" already present on machine')


async def waiting_reasons(client: Client, name: str, wanted: set[str]) -> dict[str, str]:
    """The container's waiting reasons (reason -> message) seen while polling, until all wanted were."""
    seen: dict[str, str] = {}

    async def check() -> bool:
        p = await client.get(PODS, name, NS)
        state = ((p["status"].get("containerStatuses") or [{}])[0].get("state") or {}).get("waiting") or {}
        if state.get("reason"):
            seen[state["reason"]] = state.get("message", "")
        return wanted <= seen.keys()
    await eventually(check)
    return seen


async def test_unresolvable_registry_gives_err_image_pull_then_back_off(client, kubelet, kubectl):
    await client.create(PODS, pod("unpullable", containers=[{"name": "app", "image": UNRESOLVABLE}]))
    seen = await waiting_reasons(client, "unpullable", {"ErrImagePull", "ImagePullBackOff"})
    reference = "registry.invalid/team/app:1.0"
    cause = (f'rpc error: code = Unknown desc = failed to pull and unpack image "{reference}": failed to resolve '
             f'reference "{reference}": failed to do request: Head "https://registry.invalid/v2/team/app/manifests'
             f'/1.0": dial tcp: lookup registry.invalid: no such host')
    assert seen["ErrImagePull"] == cause
    assert seen["ImagePullBackOff"] == f'Back-off pulling image "{UNRESOLVABLE}"'
    assert (await client.get(PODS, "unpullable", NS))["status"]["phase"] == "Pending"

    failed = await recorded(client, "unpullable", "Failed", f'Failed to pull image "{UNRESOLVABLE}": {cause}', count=2)
    assert failed["type"] == "Warning"
    await recorded(client, "unpullable", "Failed", "Error: ErrImagePull")
    back_off = await recorded(client, "unpullable", "BackOff", f'Back-off pulling image "{UNRESOLVABLE}"')
    assert back_off["type"] == "Normal"
    await recorded(client, "unpullable", "Failed", "Error: ImagePullBackOff")
    events = await events_of(client, "unpullable")
    assert len(events) == len({(e["reason"], e["message"]) for e in events})  # repeats are counts, not copies
    described = await asyncio.to_thread(kubectl, "describe", "pod", "unpullable")
    rows = described_events(described)  # by when each last happened: the repeats move down
    assert {(r[0], r[1], r[4]) for r in rows} == {
        ("Normal", "Pulling", f'Pulling image "{UNRESOLVABLE}"'),
        ("Warning", "Failed", f'Failed to pull image "{UNRESOLVABLE}": {cause}'),
        ("Warning", "Failed", "Error: ErrImagePull"),
        ("Normal", "BackOff", f'Back-off pulling image "{UNRESOLVABLE}"'),
        ("Warning", "Failed", "Error: ImagePullBackOff")}
    pulling = next(r for r in rows if r[1] == "Pulling")
    assert re.fullmatch(r"\S+ \(x\d+ over \S+\)", pulling[2])  # "3s (x2 over 5s)"


async def test_image_the_registry_lacks_is_not_found(client, kubelet):
    await client.create(PODS, pod("missing", containers=[{"name": "app", "image": "nginx:0.0"}]))
    seen = await waiting_reasons(client, "missing", {"ErrImagePull"})
    assert seen["ErrImagePull"] == (
        'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nginx:0.0": '
        'failed to resolve reference "docker.io/library/nginx:0.0": docker.io/library/nginx:0.0: not found')


async def test_crash_loop_and_failed_probe_events(client, kubelet):
    await client.create(PODS, pod("crash", annotations={"sim.timoneiro.io/exit-code": "1"}))
    crash = await eventually(lambda: phase_is(client, "crash", "Running"))
    back_off = await recorded(client, "crash", "BackOff")
    assert back_off["type"] == "Warning" and back_off["involvedObject"]["fieldPath"] == "spec.containers{app}"
    assert back_off["message"] == \
        f"Back-off restarting failed container app in pod crash_default({crash['metadata']['uid']})"

    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": 1}
    await client.create(PODS, pod("unwell", annotations={"sim.timoneiro.io/liveness": "fail"}, containers=[
        {"name": "app", "image": "nginx:1.27", "livenessProbe": probe}]))
    unhealthy = await recorded(client, "unwell", "Unhealthy")
    assert unhealthy["type"] == "Warning" and unhealthy["message"].startswith("Liveness probe failed:")
    await recorded(client, "unwell", "Killing", "Container app failed liveness probe, will be restarted")


async def test_deleted_pod_tells_its_containers_stopping(client, kubelet):
    await client.create(PODS, pod("doomed"))
    await eventually(lambda: phase_is(client, "doomed", "Running"))
    await client.delete(PODS, "doomed", NS)
    killing = await recorded(client, "doomed", "Killing", "Stopping container app")
    assert killing["type"] == "Normal" and killing["involvedObject"]["fieldPath"] == "spec.containers{app}"


async def test_active_deadline_fails_the_pod(client, kubelet):
    await client.create(PODS, pod("deadline", activeDeadlineSeconds=1))
    await eventually(lambda: phase_is(client, "deadline", "Running"))
    failed = await eventually(lambda: phase_is(client, "deadline", "Failed"))
    status = failed["status"]
    assert status["reason"] == "DeadlineExceeded"
    assert status["message"] == "Pod was active on the node longer than the specified deadline"
    assert "terminated" in status["containerStatuses"][0]["state"]
    event = await recorded(client, "deadline", "DeadlineExceeded",
                           "Pod was active on the node longer than the specified deadline")
    assert event["type"] == "Normal" and "fieldPath" not in event["involvedObject"]
    await recorded(client, "deadline", "Killing", "Stopping container app")
    # a deadline set later counts from the pod's start too
    await client.create(PODS, pod("later"))
    await eventually(lambda: phase_is(client, "later", "Running"))
    await client.patch(PODS, "later", {"spec": {"activeDeadlineSeconds": 1}}, NS)
    later = await eventually(lambda: phase_is(client, "later", "Failed"))
    assert later["status"]["reason"] == "DeadlineExceeded"


async def test_rejected_pod_event(client, kubelet):
    big = [{"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "100000"}}}]
    await client.create(PODS, pod("huge", containers=big))
    event = await recorded(client, "huge", "OutOfcpu")
    assert event["type"] == "Warning"
    assert event["message"].startswith("Node didn't have enough resource: cpu, requested: 100000000")


async def test_node_events_in_kubectl_describe_node(client, kubelet, kubectl):
    await recorded(client, NODE, "NodeReady", f"Node {NODE} status is now: NodeReady", kind="Node")
    described = await asyncio.to_thread(kubectl, "describe", "node", NODE)
    rows = described_events(described)
    assert [r[1] for r in rows] == ["Starting", "NodeAllocatableEnforced", "NodeHasSufficientMemory",
                                    "NodeHasNoDiskPressure", "NodeHasSufficientPID", "NodeReady"]
    assert rows[0][4] == "Starting kubelet."
    assert rows[2][4] == f"Node {NODE} status is now: NodeHasSufficientMemory"
