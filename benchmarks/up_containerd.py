"""Real containers: `timoneiro up --runtime containerd` to every node Ready, pod startup latency (create to
Running as a watch sees it) with busybox from the cluster's own registry, one pod at a time and a batch
created at once (spread by the scheduler over the workers: the control plane is tainted), and the memory
of each node agent.

    python benchmarks/up_containerd.py [--nodes 3] [--pods 20] [--batch 50] [--runs 1]   (as root)

First one pod per worker (its figure includes pulling busybox from the local registry into the node's
containerd); every later pod finds the image present (IfNotPresent: busybox:1.35.0 has a tag), so the pull
is not in their figures. Memory, once idle and once the batch runs: RSS and PSS (shared pages divided
among the processes sharing them, so summing PSS does not count the Go binary's text once per shim) of
the components process, which runs every node's kubelet (with the controller manager and scheduler), and
per node of its containerd and of its containerd-shim-runc-v2 processes (one per pod: containerd 1.6
groups a pod's containers under its sandbox's shim), found by the socket they name. The containers'
own processes (pause, sleep) are not counted.

The cluster runs with a HOME, KUBECONFIG and data dir of the benchmark's own and is taken down at the end.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from kubernetes import client, config, watch

from timoneiro.cluster.names import node_specs
from timoneiro.cluster.node_runtimes import NodeRuntimes
from timoneiro.cluster.state import ClusterState

CLUSTER = "timoneiro"  # `up`'s default name


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "startup"}},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [
                {"name": "main", "image": "busybox:1.35.0", "command": ["sleep", "3600"]}]}}


def startup(api: client.CoreV1Api, names: list[str]) -> tuple[list[float], collections.Counter]:
    """Create the pods at once; seconds from each create to the watch seeing it Running, and how many ran
    on each node."""
    w = watch.Watch()
    created: dict[str, float] = {}
    latencies: list[float] = []
    nodes: collections.Counter = collections.Counter()
    version = api.list_namespaced_pod("default").metadata.resource_version
    for name in names:
        created[name] = time.perf_counter()
        api.create_namespaced_pod("default", pod(name))
    for event in w.stream(api.list_namespaced_pod, "default", resource_version=version, timeout_seconds=180):
        obj = event["object"]
        name = obj.metadata.name
        if name in created and obj.status.phase == "Running":
            latencies.append(time.perf_counter() - created.pop(name))
            nodes[obj.spec.node_name] += 1
            if not created:
                w.stop()
    if created:
        raise SystemExit(f"pods not Running in time: {sorted(created)}")
    return latencies, nodes


def delete_all(api: client.CoreV1Api, runtimes: NodeRuntimes) -> None:
    """Delete the benchmark's pods and wait until they are gone from the API and the nodes' containerds
    have no shim left (their sandboxes removed), so that the next batch does not share the machine with
    their teardown."""
    api.delete_collection_namespaced_pod("default", label_selector="bench=startup", grace_period_seconds=0)
    deadline = time.monotonic() + 120
    while api.list_namespaced_pod("default", label_selector="bench=startup").items or any(
            runtimes.containerd(node).shim_pids() for node in runtimes.nodes):
        if time.monotonic() > deadline:
            raise SystemExit("pods not deleted in 120 s")
        time.sleep(0.2)


def settle(limit: float = 15.0) -> None:
    """Wait (at most limit seconds) until the machine is quiet: the kernel frees network namespaces and
    cgroups of deleted pods for a while after their processes are gone."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        busy = busy_seconds()
        time.sleep(1.0)
        if busy_seconds() - busy < 0.3:
            return
    print(f"  (the machine stayed busy for {limit:.0f}s before this batch)")


def busy_seconds() -> float:
    """CPU seconds the machine spent busy (every core, every process and the kernel) since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def process_seconds(pid: int, children: bool = False) -> float:
    """CPU seconds the process spent, user and system (with children: those of its children it waited
    for instead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


class CpuUse:
    """CPU seconds spent from its start to now (with no shim running at the start): the machine's, the
    cluster's Python processes', the containerds' own, what they ran and waited for (CNI plugins, shims
    starting), and the shims' with the runc runs they waited for."""

    def __init__(self, data_dir: str, runtimes: NodeRuntimes) -> None:
        state = ClusterState.load(data_dir)
        assert state is not None, "the cluster recorded no processes"
        self.runtimes = runtimes
        self.pids = {p.role: p.pid for p in state.procs if p.role in ("apiserver", "components")}
        self.daemons = [pid for node in runtimes.nodes for pid in runtimes.containerd(node).daemon_pids()]
        self.began = time.perf_counter(), busy_seconds(), self._processes()

    def _processes(self) -> dict[str, float]:
        return {**{role: process_seconds(pid) for role, pid in self.pids.items()},
                "containerd": sum(process_seconds(pid) for pid in self.daemons),
                "its children": sum(process_seconds(pid, children=True) for pid in self.daemons)}

    def report(self, pods: int) -> None:
        wall, busy, before = self.began
        wall, busy = time.perf_counter() - wall, busy_seconds() - busy
        spent = {part: seconds - before[part] for part, seconds in self._processes().items()}
        shims = [pid for node in self.runtimes.nodes for pid in self.runtimes.containerd(node).shim_pids()]
        spent["shims and runc"] = sum(process_seconds(pid) + process_seconds(pid, children=True)
                                      for pid in shims)
        rest = busy - sum(spent.values())
        outside = (busy - spent["apiserver"] - spent["components"]) / pods
        print(f"  CPU over {wall:.1f}s: machine {busy:.1f}s ({busy / wall:.2f} cores) = "
              + ", ".join(f"{part} {seconds:.1f}s" for part, seconds in spent.items())
              + f", the rest (kernel, containers' own processes, others) {rest:.1f}s; "
              + f"{outside * 1000:.0f} ms a pod outside Python")


def report(label: str, values: list[float]) -> None:
    print(f"{label}: p50 {statistics.median(values):.3f}s  p99 {percentile(values, 99):.3f}s  "
          f"max {max(values):.3f}s  (n={len(values)})")


def memory_kib(pid: int) -> tuple[int, int]:
    """The process's RSS and PSS in KiB (0, 0 once it is gone)."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def report_memory(label: str, data_dir: str, runtimes: NodeRuntimes) -> None:
    state = ClusterState.load(data_dir)
    assert state is not None, "the cluster recorded no processes"
    print(f"memory, {label} (MiB, RSS / PSS):")
    for proc in state.procs:
        if proc.role in ("components", "apiserver"):
            rss, pss = memory_kib(proc.pid)
            nodes = len(runtimes.nodes)
            per = f"  ({rss / 1024 / nodes:.0f} / {pss / 1024 / nodes:.0f} per node)"
            if proc.role != "components":
                per = ""
            print(f"  {proc.role:<11} {rss / 1024:6.0f} / {pss / 1024:4.0f}{per}")
    for node in runtimes.nodes:
        containerd = runtimes.containerd(node)
        daemon = [memory_kib(pid) for pid in containerd.daemon_pids()]
        shims = [memory_kib(pid) for pid in containerd.shim_pids()]
        print(f"  {node:<26} containerd {_mib(daemon)}   {len(shims):2} shims {_mib(shims)}")


def _mib(usage: list[tuple[int, int]]) -> str:
    """The summed RSS / PSS of processes, in MiB."""
    return f"{sum(r for r, _ in usage) / 1024:5.0f} / {sum(p for _, p in usage) / 1024:4.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--pods", type=int, default=20, help="pods created one after another")
    parser.add_argument("--batch", type=int, default=50, help="pods created at once")
    parser.add_argument("--runs", type=int, default=1, help="times the batch is created (deleted in between)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="tm-bench-", dir="/tmp")  # short: containerd's socket paths must fit
    env = {**os.environ, "HOME": work, "KUBECONFIG": os.path.join(work, "kubeconfig")}
    timoneiro = [sys.executable, "-m", "timoneiro"]
    data_dir = os.path.join(work, "d")
    data = ["--data-dir", data_dir]
    start = time.perf_counter()
    subprocess.run([*timoneiro, "up", "--runtime", "containerd", "--nodes", str(args.nodes), *data], env=env,
                   check=True, capture_output=True)
    print(f"up --runtime containerd --nodes {args.nodes}: {time.perf_counter() - start:.2f}s to every node "
          "Ready")
    try:
        api = client.CoreV1Api(config.new_client_from_config(env["KUBECONFIG"]))
        runtimes = NodeRuntimes("containerd", CLUSTER, data_dir, node_specs(CLUSTER, args.nodes))
        report_memory("idle", data_dir, runtimes)
        workers = max(1, args.nodes - 1)
        first, _ = startup(api, [f"first-{i}" for i in range(workers)])
        report("first pod on each worker, pull included", first)
        report("pod create -> Running, one at a time",
               [startup(api, [f"one-{i}"])[0][0] for i in range(args.pods)])
        for run in range(args.runs):
            delete_all(api, runtimes)
            settle()
            cpu = CpuUse(data_dir, runtimes)
            latencies, spread = startup(api, [f"batch-{run}-{i}" for i in range(args.batch)])
            report(f"pod create -> Running, {args.batch} at once", latencies)
            cpu.report(args.batch)
        print("  on " + ", ".join(f"{node}: {n}" for node, n in sorted(spread.items())))
        report_memory(f"{args.batch} pods running", data_dir, runtimes)
    finally:
        start = time.perf_counter()
        subprocess.run([*timoneiro, "down", "--purge", *data], env=env, check=True, capture_output=True)
        print(f"down: {time.perf_counter() - start:.2f}s")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
