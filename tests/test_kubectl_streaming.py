"""kubectl logs, exec (with and without a terminal), cp, attach and port-forward against
`timoneiro up --runtime containerd`: the API server proxies to the node's kubelet API, which streams from
containerd. One cluster for the file."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from test_up_containerd import BUSYBOX, ContainerdUser
from timoneiro.cluster.names import node_specs
from timoneiro.cluster.node_runtimes import NodeRuntimes

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("containerd"),
                                reason="containerd needs root and scripts/setup.sh's packages")

NODES = 2
TICKER = 'i=0; while true; do echo "tick $i"; echo "tock $i" >&2; i=$((i+1)); sleep 0.5; done'
PODS = [
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "talker"},
     "spec": {"containers": [{"name": "ticker", "image": BUSYBOX, "command": ["sh", "-c", TICKER]},
                             {"name": "quiet", "image": BUSYBOX,
                              "command": ["sh", "-c", "echo quiet here; exec sleep 100000"]}]}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hi"},
     "spec": {"containers": [{"name": "hi", "image": BUSYBOX, "command": ["nc", "-ll", "-p", "8080", "-e", "echo", "hi"],
                             "ports": [{"containerPort": 8080}]}]}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crasher"},
     "spec": {"containers": [{"name": "crasher", "image": BUSYBOX,
                              "command": ["sh", "-c", "echo started at $(date +%s%N); sleep 1; exit 1"]}]}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unpullable"},
     "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1.0"}]}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unscheduled"},
     "spec": {"nodeSelector": {"nowhere": "true"}, "containers": [{"name": "app", "image": BUSYBOX}]}},
]


class StreamingUser(ContainerdUser):
    def up(self) -> None:
        self.timoneiro("up", "--runtime", "containerd", "--nodes", str(NODES))

    def wait_for(self, name: str, check) -> dict:
        for _ in range(300):
            pod = json.loads(self.kubectl("get", "pod", name, "-o", "json"))
            if check(pod):
                return pod
            time.sleep(0.2)
        raise AssertionError(f"pod {name}: {self.kubectl('describe', 'pod', name)}")

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen([shutil.which("kubectl"), *args], env=self.env, cwd=self.home, **kw)


def _running(pod: dict) -> bool:
    return pod["status"].get("phase") == "Running" and all(
        "running" in (s.get("state") or {}) for s in pod["status"].get("containerStatuses") or [{}])


@pytest.fixture(scope="module")
def user() -> Iterator[StreamingUser]:
    tmp = Path(tempfile.mkdtemp(prefix="tm-str-", dir="/tmp"))
    u = StreamingUser(tmp)
    try:
        u.up()
        u.apply(*PODS)
        u.wait_for("talker", _running)
        u.wait_for("hi", _running)
        yield u
    finally:
        u.timoneiro("down", ok=False)
        for pid in u.running_pids():
            os.kill(pid, signal.SIGKILL)
        asyncio.run(NodeRuntimes("containerd", "timoneiro", u.data, node_specs("timoneiro", NODES)).stop())
        shutil.rmtree(tmp, ignore_errors=True)


def _lines_until(proc: subprocess.Popen, wanted) -> list[str]:
    """Lines of a streaming kubectl's output until one satisfies `wanted`; then it is stopped."""
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if wanted(line):
                return seen
    finally:
        proc.terminate()
        proc.wait(10)
    raise AssertionError(f"the stream ended first: {seen}")


def test_logs_of_each_container_with_tail_timestamps_since_and_follow(user: StreamingUser) -> None:
    assert user.kubectl("logs", "talker", "-c", "quiet") == "quiet here\n"
    last = user.kubectl("logs", "talker", "-c", "ticker", "--tail=1").splitlines()
    assert len(last) == 1 and re.fullmatch(r"(tick|tock) \d+", last[0])
    stamped = user.kubectl("logs", "talker", "-c", "ticker", "--tail=2", "--timestamps").splitlines()
    assert len(stamped) == 2
    for line in stamped:
        moment, text = line.split(" ", 1)
        written = datetime.fromisoformat(moment[:26].rstrip("Z") + "+00:00")
        assert abs(datetime.now(UTC) - written) < timedelta(minutes=5) and re.fullmatch(r"(tick|tock) \d+", text)
    everything = user.kubectl("logs", "talker", "-c", "ticker")
    assert everything.startswith(("tick 0\n", "tock 0\n"))
    assert user.kubectl("logs", "talker", "-c", "ticker", "--since=1h").startswith(everything[:12])
    future = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert user.kubectl("logs", "talker", "-c", "ticker", f"--since-time={future}") == ""
    assert user.kubectl("logs", "talker", "-c", "ticker", "--limit-bytes=4") in ("tick", "tock")
    newest = max(int(n) for n in re.findall(r"tick (\d+)", everything))
    follow = user.popen("logs", "-f", "talker", "-c", "ticker", "--tail=0", stdout=subprocess.PIPE, text=True)
    lines = _lines_until(follow, lambda line: line.startswith("tick ") and int(line.split()[1]) > newest)
    assert all(re.fullmatch(r"(tick|tock) \d+\n", line) for line in lines)


def test_previous_logs_of_a_restarted_container(user: StreamingUser) -> None:
    crashed = user.wait_for("crasher", lambda p: (p["status"].get("containerStatuses") or [{}])[0]
                            .get("lastState", {}).get("terminated"))
    previous = user.kubectl("logs", "crasher", "--previous")
    assert previous.startswith("started at ")
    assert crashed["status"]["containerStatuses"][0]["restartCount"] >= 1


def test_exec_runs_commands_in_the_container(user: StreamingUser) -> None:
    assert user.kubectl("exec", "talker", "-c", "quiet", "--", "cat", "/etc/hostname") == "talker\n"
    assert user.kubectl("exec", "hi", "--", "cat", "/etc/hostname") == "hi\n"
    failed = user.run_kubectl("exec", "talker", "-c", "quiet", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (failed.returncode, failed.stdout) == (3, "out\n")
    assert "err\n" in failed.stderr and "command terminated with exit code 3" in failed.stderr
    piped = subprocess.run([shutil.which("kubectl"), "exec", "-i", "talker", "-c", "quiet", "--", "wc", "-c"],
                           input="twelve bytes", capture_output=True, text=True, env=user.env, timeout=60)
    assert piped.stdout.strip() == "12"  # stdin ends when kubectl's does (v5's close signal)


def test_exec_on_a_terminal(user: StreamingUser) -> None:
    main, side = pty.openpty()
    proc = user.popen("exec", "-it", "talker", "-c", "quiet", "--", "sh", stdin=side, stdout=side, stderr=side)
    os.close(side)
    os.write(main, b"echo $((6 * 7)) $(tty)\nexit 5\n")
    output = b""
    try:
        while proc.poll() is None or select.select([main], [], [], 0)[0]:
            if select.select([main], [], [], 1)[0]:
                try:
                    output += os.read(main, 4096)
                except OSError:  # the terminal's other end is gone
                    break
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    assert re.search(rb"42 /dev/pts/\d+", output), output
    assert proc.returncode == 5


def test_cp_into_and_out_of_a_container(user: StreamingUser, tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("copied in\n" * 1000)
    user.kubectl("cp", str(source), "talker:/tmp/notes.txt", "-c", "quiet")
    assert user.kubectl("exec", "talker", "-c", "quiet", "--", "wc", "-l", "/tmp/notes.txt").split()[0] == "1000"
    user.kubectl("exec", "talker", "-c", "quiet", "--", "sh", "-c", "echo made inside > /tmp/made.txt")
    user.kubectl("cp", "talker:/tmp/made.txt", str(tmp_path / "made.txt"), "-c", "quiet")
    assert (tmp_path / "made.txt").read_text() == "made inside\n"


def test_attach_streams_the_containers_output(user: StreamingUser) -> None:
    attached = user.popen("attach", "talker", "-c", "ticker", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True)
    lines = _lines_until(attached, lambda line: line.startswith("tick "))
    assert re.fullmatch(r"tick \d+\n", lines[-1])


def test_port_forward_serves_requests(user: StreamingUser) -> None:
    forward = user.popen("port-forward", "pod/hi", ":8080", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        first = forward.stdout.readline()
        port = int(re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", first)[1])
        for _ in range(3):  # each connection is a stream pair of its own in one session
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                assert conn.makefile("rb").readline() == b"hi\n"
    finally:
        forward.terminate()
        forward.wait(10)


def test_errors_say_what_upstream_says(user: StreamingUser) -> None:
    def refused(*args: str) -> str:
        proc = user.run_kubectl(*args)
        assert proc.returncode != 0, proc.stdout
        return proc.stderr.strip()

    assert refused("exec", "talker", "-c", "nope", "--", "true") == \
        "Error from server (BadRequest): container nope is not valid for pod talker"
    assert refused("logs", "talker", "-c", "ticker", "--previous") == \
        'Error from server (BadRequest): previous terminated container "ticker" in pod "talker" not found'
    user.wait_for("unpullable", lambda p: (p["status"].get("containerStatuses") or [{}])[0]
                  .get("state", {}).get("waiting", {}).get("reason") in ("ErrImagePull", "ImagePullBackOff"))
    assert re.fullmatch(r'Error from server \(BadRequest\): container "app" in pod "unpullable" is waiting to '
                        r"start: (image can't be pulled|trying and failing to pull image)",
                        refused("logs", "unpullable"))
    assert refused("exec", "unpullable", "--", "true") == \
        'error: unable to upgrade connection: container not found ("app")'
    assert refused("exec", "unscheduled", "--", "true") == \
        "Error from server (BadRequest): pod unscheduled does not have a host assigned"
    assert user.kubectl("logs", "unscheduled") == ""  # no node, no log yet: upstream's empty location
