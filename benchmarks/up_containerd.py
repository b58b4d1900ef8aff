"""Real containers: `timoneiro up --runtime containerd` to every node Ready, and pod startup latency (create
to Running as a watch sees it) with busybox from the cluster's own registry, one pod at a time and a batch
created at once.

    python benchmarks/up_containerd.py [--nodes 3] [--pods 20] [--batch 20]   (as root)

The cluster runs with a HOME, KUBECONFIG and data dir of the benchmark's own and is taken down at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from kubernetes import client, config, watch


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "startup"}},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "main", "image": "busybox:1.35.0", "command": ["sleep", "3600"]}]}}


def startup(api: client.CoreV1Api, names: list[str]) -> list[float]:
    """Create the pods at once; seconds from each create to the watch seeing it Running."""
    w = watch.Watch()
    created: dict[str, float] = {}
    latencies: list[float] = []
    version = api.list_namespaced_pod("default").metadata.resource_version
    for name in names:
        created[name] = time.perf_counter()
        api.create_namespaced_pod("default", pod(name))
    for event in w.stream(api.list_namespaced_pod, "default", resource_version=version, timeout_seconds=120):
        obj = event["object"]
        name = obj.metadata.name
        if name in created and obj.status.phase == "Running":
            latencies.append(time.perf_counter() - created.pop(name))
            if not created:
                w.stop()
    if created:
        raise SystemExit(f"pods not Running in time: {sorted(created)}")
    return latencies


def report(label: str, values: list[float]) -> None:
    print(f"{label}: p50 {statistics.median(values):.3f}s  p99 {percentile(values, 99):.3f}s  "
          f"max {max(values):.3f}s  (n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--pods", type=int, default=20, help="pods created one after another")
    parser.add_argument("--batch", type=int, default=20, help="pods created at once")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="tm-bench-", dir="/tmp")  # short: containerd's socket paths must fit
    env = {**os.environ, "HOME": work, "KUBECONFIG": os.path.join(work, "kubeconfig")}
    timoneiro = [sys.executable, "-m", "timoneiro"]
    data = ["--data-dir", os.path.join(work, "d")]
    start = time.perf_counter()
    subprocess.run([*timoneiro, "up", "--runtime", "containerd", "--nodes", str(args.nodes), *data], env=env,
                   check=True, capture_output=True)
    print(f"up --runtime containerd --nodes {args.nodes}: {time.perf_counter() - start:.2f}s to every node Ready")
    try:
        api = client.CoreV1Api(config.new_client_from_config(env["KUBECONFIG"]))
        startup(api, [f"warm-up-{i}" for i in range(args.nodes)])  # pulls the image onto the nodes first
        single = [startup(api, [f"one-{i}"])[0] for i in range(args.pods)]
        report("pod create -> Running, one at a time", single)
        report(f"pod create -> Running, {args.batch} at once", startup(api, [f"batch-{i}" for i in range(args.batch)]))
    finally:
        start = time.perf_counter()
        subprocess.run([*timoneiro, "down", "--purge", *data], env=env, check=True, capture_output=True)
        print(f"down: {time.perf_counter() - start:.2f}s")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
