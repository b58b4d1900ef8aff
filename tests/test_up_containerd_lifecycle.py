"""The pod lifecycle with real containers (`timoneiro up --runtime containerd`), as the real kubectl sees it:
probes (exec, httpGet, tcpSocket) restart containers and keep pods out of their Services' endpoints,
restart policies and CrashLoopBackOff's growing back-off, init and sidecar containers in order, graceful
termination with postStart and preStop hooks, termination messages, and a hostPort answering on the host's
loopback through the portmap plugin, whose iptables rules `down` leaves none of.

One cluster for the file; every pod is created at once when it comes up, and each test waits for what it
looks at, so that the probes' and back-offs' seconds run side by side.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from test_up_containerd import BUSYBOX, ContainerdUser, running
from test_up_containerd import pytestmark as needs_containerd

pytestmark = needs_containerd

T = TypeVar("T")
WAIT = 120.0  # seconds any one state may take to come on this shared, slow machine (not a timed assertion)


class LifecycleUser(ContainerdUser):
    node_count = 2  # the control plane and one worker: every pod runs on the worker

    def pod(self, name: str) -> dict:
        return json.loads(self.kubectl("get", "pod", name, "-o", "json"))

    def statuses(self, name: str, init: bool = False) -> dict[str, dict]:
        key = "initContainerStatuses" if init else "containerStatuses"
        return {s["name"]: s for s in self.pod(name)["status"].get(key) or ()}

    def row(self, name: str) -> dict[str, str]:
        """The pod's line of `kubectl get pods`, by column."""
        header, line = self.kubectl("get", "pod", name).splitlines()
        columns = re.split(r"\s{2,}", header.strip())
        return dict(zip(columns, re.split(r"\s{2,}", line.strip()), strict=False))

    def events(self, name: str) -> list[dict]:
        return json.loads(self.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}",
                                       "-o", "json"))["items"]

    def messages(self, name: str, reason: str) -> list[str]:
        return [e["message"] for e in self.events(name) if e["reason"] == reason]


def wait_for(check: Callable[[], T | None], what: str) -> T:
    """check()'s first answer that is not None (or False)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.3)
    raise AssertionError(f"{what}: not so after {WAIT:g}s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pod(name: str, containers: list[dict], **spec) -> dict:
    labels = spec.pop("labels", {})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": containers, **spec}}


def _container(name: str, script: str, **fields) -> dict:
    return {"name": name, "image": BUSYBOX, "command": ["sh", "-c", script], **fields}


FAST = {"periodSeconds": 1, "failureThreshold": 2}
WEB = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"
# alive while /tmp/ok exists (2 s); `polite` leaves on SIGTERM, `stubborn` ignores it
LIVING = "touch /tmp/ok; sleep 2; rm /tmp/ok; while true; do sleep 0.2; done"


def manifests(port: int, out: Path) -> list[dict]:
    shared = [{"name": "out", "hostPath": {"path": str(out), "type": "Directory"}}]
    return [
        _pod("liveness", [
            _container("polite", "trap 'exit 0' TERM; " + LIVING, livenessProbe={
                "exec": {"command": ["sh", "-c", "test -f /tmp/ok || { echo missing; exit 1; }"]}, **FAST}),
            _container("stubborn", "trap '' TERM; " + LIVING, livenessProbe={
                "tcpSocket": {"port": 9999}, "terminationGracePeriodSeconds": 1, **FAST})]),
        _pod("unready", [
            _container("web", WEB, ports=[{"name": "http", "containerPort": 8080}],
                       readinessProbe={"httpGet": {"path": "/missing", "port": "http"}, "periodSeconds": 1}),
            _container("tcp", "sleep 1000", readinessProbe={"tcpSocket": {"port": 9999}, "periodSeconds": 1}),
            _container("slow", "sleep 1000", readinessProbe={"exec": {"command": ["sleep", "5"]},
                                                             "timeoutSeconds": 1, "periodSeconds": 2})],
            labels={"app": "probed"}),
        _pod("ready", [_container("web", WEB, ports=[{"name": "http", "containerPort": 8080}],
                                  startupProbe={"exec": {"command": ["test", "-f", "/www/index.html"]},
                                                "periodSeconds": 1, "failureThreshold": 30},
                                  readinessProbe={"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1,
                                                  "initialDelaySeconds": 1, "successThreshold": 2})],
             labels={"app": "probed"}),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probed"},
         "spec": {"selector": {"app": "probed"}, "ports": [{"port": 80, "targetPort": 8080}]}},
        _pod("crashloop", [_container("c", "echo dying; exit 2")]),
        _pod("onfailure", [_container("c", "test -f /data/ran && exit 0; touch /data/ran; exit 1",
                                      volumeMounts=[{"name": "data", "mountPath": "/data"}])],
             restartPolicy="OnFailure", volumes=[{"name": "data", "emptyDir": {}}]),
        _pod("messages", [
            _container("file", "echo from the file > /dev/termination-log; echo not this; exit 3"),
            _container("logs", "echo from the log; exit 4", terminationMessagePolicy="FallbackToLogsOnError"),
            _container("fine", "echo all good", terminationMessagePolicy="FallbackToLogsOnError")],
             restartPolicy="Never"),
        _pod("init", [_container("app", "sleep 1000")], initContainers=[
            _container("first", "sleep 2"),
            _container("sidecar", "sleep 1000", restartPolicy="Always"),
            _container("second", "sleep 2")]),
        _pod("initfail", [_container("app", "sleep 1000")], initContainers=[
            _container("broken", "exit 1"), _container("never", "true")]),
        _pod("hooks", [
            _container("c", "trap 'echo term >> /out/log; exit 0' TERM; while true; do sleep 0.2; done",
                       volumeMounts=[{"name": "out", "mountPath": "/out"}], lifecycle={
                           "postStart": {"exec": {"command": ["sh", "-c", "echo poststart >> /out/log"]}},
                           "preStop": {"exec": {"command": ["sh", "-c", "echo prestop >> /out/log; sleep 1"]}}}),
            {"name": "web", "image": BUSYBOX, "volumeMounts": [{"name": "out", "mountPath": "/out"}],
             "command": ["nc", "-ll", "-p", "8080", "-e", "sh", "-c",
                         'echo prestop-http >> /out/http; printf "HTTP/1.0 200 OK\\r\\n\\r\\n"'],
             "lifecycle": {"preStop": {"httpGet": {"path": "/stopping", "port": 8080}}}}],
             terminationGracePeriodSeconds=10, volumes=shared),
        _pod("poststart", [_container("c", "sleep 1000", lifecycle={
            "postStart": {"exec": {"command": ["sh", "-c", "echo nope; exit 7"]}}})],
             terminationGracePeriodSeconds=1),
        _pod("hostport", [{"name": "c", "image": BUSYBOX, "command": ["nc", "-ll", "-p", "8080", "-e", "echo", "hi"],
                           "ports": [{"containerPort": 8080, "hostPort": port}]}]),
    ]


@dataclass
class Cluster:
    user: LifecycleUser
    port: int  # the hostPort of pod hostport
    out: Path  # the hooks' hostPath volume
    watched: Path  # every version of every pod since they were created, as `kubectl get pods -w` wrote them

    def versions(self, name: str) -> list[dict]:
        text, decoder, at, found = self.watched.read_text(), json.JSONDecoder(), 0, []
        while True:
            while at < len(text) and text[at].isspace():
                at += 1
            try:
                pod, at = decoder.raw_decode(text, at)
            except json.JSONDecodeError:  # the end, or a version being written
                return found
            if pod["metadata"]["name"] == name:
                found.append(pod)


@pytest.fixture(scope="module")
def pods() -> Iterator[Cluster]:
    with running(LifecycleUser, "tm-upl-") as user:
        out = Path(user.data).parent / "out"
        out.mkdir()
        port = _free_port()
        user.apply(*manifests(port, out))
        watched = Path(user.data).parent / "watched.json"
        with open(watched, "w") as sink:
            watch = subprocess.Popen([shutil.which("kubectl"), "get", "pods", "-w", "-o", "json"], stdout=sink,
                                     stderr=subprocess.DEVNULL, env=user.env, cwd=user.home)
        try:
            yield Cluster(user, port, out, watched)
        finally:
            watch.kill()
            watch.wait()


@pytest.fixture
def user(pods: Cluster) -> LifecycleUser:
    return pods.user


def test_a_failing_liveness_probe_restarts_the_container_after_sigterm_or_sigkill(user: LifecycleUser) -> None:
    statuses = wait_for(lambda: (s := user.statuses("liveness")) and all(
        c["restartCount"] >= 1 and c["lastState"].get("terminated") for c in s.values()) and s,
        "both containers restarted")
    polite, stubborn = statuses["polite"]["lastState"]["terminated"], statuses["stubborn"]["lastState"]["terminated"]
    assert (polite["exitCode"], polite["reason"]) == (0, "Completed")  # left on SIGTERM
    assert (stubborn["exitCode"], stubborn["reason"]) == (137, "Error")  # SIGKILLed after its grace period
    for terminated in (polite, stubborn):
        assert terminated["startedAt"] <= terminated["finishedAt"]
        assert terminated["containerID"].startswith("containerd://")
    assert int(user.row("liveness")["RESTARTS"].split()[0]) >= 2
    killing = user.messages("liveness", "Killing")
    assert "Container polite failed liveness probe, will be restarted" in killing
    assert "Container stubborn failed liveness probe, will be restarted" in killing
    unhealthy = user.messages("liveness", "Unhealthy")
    assert "Liveness probe failed: missing\n" in unhealthy
    ip = user.pod("liveness")["status"]["podIP"]
    assert f"Liveness probe failed: dial tcp {ip}:9999: connect: connection refused" in unhealthy


def test_readiness_keeps_a_pod_out_of_its_services_endpoints(user: LifecycleUser) -> None:
    def endpoints() -> dict[str, dict] | None:
        slices = json.loads(user.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=probed",
                                         "-o", "json"))["items"]
        found = {e["targetRef"]["name"]: e for s in slices for e in s.get("endpoints") or ()}
        return found if len(found) == 2 and found["ready"]["conditions"]["ready"] else None

    found = wait_for(endpoints, "the ready pod's endpoint ready")
    assert found["unready"]["conditions"] == {"ready": False, "serving": False, "terminating": False}
    unready = user.pod("unready")
    assert unready["status"]["phase"] == "Running"
    assert {c["type"]: c["status"] for c in unready["status"]["conditions"]}["Ready"] == "False"
    assert user.row("unready")["READY"] == "0/3" and user.row("ready")["READY"] == "1/1"
    ready = user.statuses("ready")["web"]
    assert ready["started"] and ready["ready"]
    ip = unready["status"]["podIP"]
    unhealthy = wait_for(lambda: (m := user.messages("unready", "Unhealthy")) and len(set(m)) >= 3 and m,
                         "the three readiness probes failed")
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in unhealthy
    assert f"Readiness probe failed: dial tcp {ip}:9999: connect: connection refused" in unhealthy
    assert 'Readiness probe failed: command "sleep 5" timed out' in unhealthy
    assert not user.messages("unready", "Killing")  # readiness never restarts a container


def test_a_crashing_container_backs_off_longer_each_time(pods: Cluster) -> None:
    user = pods.user
    uid = user.pod("crashloop")["metadata"]["uid"]

    def back_offs() -> list[str] | None:
        """The CrashLoopBackOff messages the pod showed, in order, once it showed two."""
        seen: list[str] = []
        for pod in pods.versions("crashloop"):
            for status in pod["status"].get("containerStatuses") or ():
                waiting = status["state"].get("waiting") or {}
                if waiting.get("reason") == "CrashLoopBackOff" and waiting["message"] not in seen:
                    seen.append(waiting["message"])
        return seen if len(seen) >= 2 else None

    seen = wait_for(back_offs, "two back-offs")
    assert seen[:2] == [f"back-off {delay} restarting failed container=c pod=crashloop_default({uid})"
                        for delay in ("10s", "20s")]
    status = user.statuses("crashloop")["c"]
    terminated = status["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (2, "Error") and status["restartCount"] >= 2
    assert user.row("crashloop")["STATUS"] in ("CrashLoopBackOff", "Error")
    assert f"Back-off restarting failed container c in pod crashloop_default({uid})" in \
        user.messages("crashloop", "BackOff")


def test_restart_policies_on_failure_and_never_and_termination_messages(user: LifecycleUser) -> None:
    wait_for(lambda: user.pod("onfailure")["status"].get("phase") == "Succeeded", "onfailure Succeeded")
    status = user.statuses("onfailure")["c"]
    assert status["restartCount"] == 1
    assert (status["state"]["terminated"]["exitCode"], status["state"]["terminated"]["reason"]) == (0, "Completed")
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert user.row("onfailure")["STATUS"] == "Completed"
    wait_for(lambda: user.pod("messages")["status"].get("phase") == "Failed", "messages Failed")
    statuses = {name: s["state"]["terminated"] for name, s in user.statuses("messages").items()}
    assert {name: s["restartCount"] for name, s in user.statuses("messages").items()} == \
        {"file": 0, "logs": 0, "fine": 0}
    assert (statuses["file"]["exitCode"], statuses["file"]["message"]) == (3, "from the file\n")
    assert (statuses["logs"]["exitCode"], statuses["logs"]["message"]) == (4, "from the log\n")
    assert statuses["fine"]["exitCode"] == 0 and "message" not in statuses["fine"]  # only on an error


def test_init_containers_run_in_order_beside_a_sidecar(pods: Cluster) -> None:
    user, seen = pods.user, set()

    def running_app() -> bool:
        row = user.row("init")
        seen.add(row["STATUS"])
        return row["STATUS"] == "Running" and row["READY"] == "2/2"

    wait_for(running_app, "init pod Running, app and sidecar ready")
    assert seen <= {"Pending", "Init:0/3", "Init:1/3", "Init:2/3", "PodInitializing", "Running"}, seen
    init, app = user.statuses("init", init=True), user.statuses("init")["app"]
    first, second = init["first"]["state"]["terminated"], init["second"]["state"]["terminated"]
    assert first["reason"] == second["reason"] == "Completed"
    sidecar = init["sidecar"]["state"]["running"]["startedAt"]
    assert first["finishedAt"] <= sidecar <= second["startedAt"]
    assert second["finishedAt"] <= app["state"]["running"]["startedAt"]
    while_second_ran = [p["status"] for p in pods.versions("init")
                        if "running" in ({s["name"]: s for s in p["status"].get("initContainerStatuses") or ()}
                                         .get("second", {}).get("state") or {})]
    assert while_second_ran
    for status in while_second_ran:
        assert status["phase"] == "Pending"
        assert {c["type"]: c["status"] for c in status["conditions"]}["Initialized"] == "False"
        assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}

    failing = wait_for(lambda: (r := user.row("initfail"))["STATUS"] == "Init:CrashLoopBackOff" and r,
                       "Init:CrashLoopBackOff")
    assert failing["READY"] == "0/1"
    init = user.statuses("initfail", init=True)
    assert init["broken"]["lastState"]["terminated"]["exitCode"] == 1
    assert init["never"]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert user.statuses("initfail")["app"]["state"] == {"waiting": {"reason": "PodInitializing"}}


def test_hooks_run_around_a_graceful_stop(pods: Cluster) -> None:
    user, log = pods.user, pods.out / "log"
    wait_for(lambda: user.pod("hooks")["status"].get("phase") == "Running" and log.exists(), "hooks Running")
    assert log.read_text() == "poststart\n"
    user.kubectl("delete", "pod", "hooks")  # waits until the pod is gone
    assert log.read_text() == "poststart\nprestop\nterm\n"  # preStop first, then SIGTERM
    assert (pods.out / "http").read_text() == "prestop-http\n"
    assert sorted(user.messages("hooks", "Killing")) == ["Stopping container c", "Stopping container web"]

    status = wait_for(lambda: (s := user.statuses("poststart")["c"])["restartCount"] >= 1 and s,
                      "the container of a failed postStart hook restarted")
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert "PostStartHook failed" in user.messages("poststart", "FailedPostStartHook")
    assert "FailedPostStartHook" in user.messages("poststart", "Killing")


def _iptables_nat() -> str:
    return subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout


def test_a_host_port_answers_on_loopback_and_down_leaves_no_rule(pods: Cluster) -> None:
    """Last in the file: the cluster stays down after it."""
    user = pods.user

    def answer() -> bytes | None:
        try:
            with socket.create_connection(("127.0.0.1", pods.port), timeout=2) as conn:
                return conn.recv(16)
        except OSError:
            return None

    assert wait_for(answer, f"127.0.0.1:{pods.port} answering") == b"hi\n"
    pod = user.pod("hostport")
    rules = _iptables_nat()
    [chain] = re.findall(rf"^-A (CNI-DN-\S+) .*--dport {pods.port} -j DNAT --to-destination "
                         rf"{re.escape(pod['status']['podIP'])}:8080$", rules, re.M)
    user.timoneiro("down")
    rules = _iptables_nat()
    assert chain not in rules and f"--dport {pods.port} " not in rules
    if "-A CNI-HOSTPORT-DNAT " not in rules:  # no other cluster's pod forwards a port: portmap's chains go
        assert "CNI-HOSTPORT" not in rules
    assert answer() is None
