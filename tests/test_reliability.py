"""kill -9 of the server during a stream of writes loses no acknowledged write, and a watcher resuming
from its last resourceVersion after the restart misses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx

from controller_testing import http_client
from timoneiro.apiserver.server import free_port
from timoneiro.client.kubeconfig import load_kubeconfig


def start_server(data_dir: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "timoneiro", "server", "--data-dir", data_dir,
                             "--address", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"https://127.0.0.1:{port}/readyz", timeout=0.5, verify=False).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def test_kill_9_loses_no_acknowledged_write(tmp_path):
    data, port = str(tmp_path / "data"), free_port()
    base = "/api/v1/namespaces/default/configmaps"
    proc = start_server(data, port)
    admin = load_kubeconfig(os.path.join(data, "admin.conf"))
    acked: dict[str, int] = {}
    stop = threading.Event()

    def writer(n: int) -> None:
        with http_client(admin, timeout=5) as c:
            i = 0
            while not stop.is_set():
                name = f"w{n}-{i}"
                try:
                    r = c.post(base, json={"metadata": {"name": name}, "data": {"i": str(i)}})
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    acked[name] = int(r.json()["metadata"]["resourceVersion"])
                i += 1

    with http_client(admin) as c:
        start_rv = int(c.get(base).json()["metadata"]["resourceVersion"])
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in writers:
        t.start()
    deadline = time.monotonic() + 10
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in writers:
        t.join()
    assert len(acked) >= 300

    proc = start_server(data, port)
    try:
        c = http_client(admin, timeout=10)
        items = c.get(base).json()["items"]
        stored = {i["metadata"]["name"]: int(i["metadata"]["resourceVersion"]) for i in items}
        missing = [n for n in acked if n not in stored]
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        assert all(stored[n] == rv for n, rv in acked.items())
        # a watcher that had seen everything up to start_rv resumes and gets every later write, in order
        events = []
        with c.stream("GET", base, params={"watch": "true", "resourceVersion": str(start_rv),
                                           "timeoutSeconds": "1"}) as r:
            for line in r.iter_lines():
                if line:
                    events.append(json.loads(line))
        names = [e["object"]["metadata"]["name"] for e in events]
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
        assert all(e["type"] == "ADDED" for e in events)
        assert rvs == sorted(rvs) and len(set(names)) == len(names)
        assert set(names) == set(stored)
    finally:
        proc.terminate()
        proc.wait(10)
