"""Images: how long building the nginx image from Debian's package takes, publishing the local images to
a fresh registry and again to one that has them, and nginx pods' startup on a containerd cluster (create
to Running as a watch sees it): a Deployment's pods as `kubectl create deployment nginx --image=nginx`
makes them, the first pulling the image onto the nodes, then single pods one after another.

    python benchmarks/images.py [--replicas 3] [--pods 10]   (as root)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kubernetes import client, config, watch

from timoneiro.images import local
from timoneiro.images.nginx import nginx_image, nginx_version
from timoneiro.images.oci import write_layout
from timoneiro.images.registry import LocalRegistry
from up_containerd import percentile, report


def build_times(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write_layout(Path(tmp), nginx_image(), f"nginx:{nginx_version()}")
            times.append(time.perf_counter() - start)
    return times


async def publish_times() -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="tm-bench-") as tmp:
        registry = LocalRegistry(Path(tmp) / "registry")
        await registry.start()
        try:
            start = time.perf_counter()
            await local.publish(registry, Path(tmp) / "oci")
            first = time.perf_counter() - start
            start = time.perf_counter()
            await local.publish(registry, Path(tmp) / "oci")
            return first, time.perf_counter() - start
        finally:
            await registry.stop()


def running_after(api: client.CoreV1Api, create: Callable[[], object], selector: str, count: int) -> list[float]:
    """Run create(); seconds from it to each of the count pods of selector seen Running."""
    w = watch.Watch()
    version = api.list_namespaced_pod("default").metadata.resource_version
    start = time.perf_counter()
    create()
    latencies: dict[str, float] = {}
    for event in w.stream(api.list_namespaced_pod, "default", label_selector=selector, resource_version=version,
                          timeout_seconds=120):
        pod = event["object"]
        if pod.status.phase == "Running":
            latencies.setdefault(pod.metadata.name, time.perf_counter() - start)
            if len(latencies) == count:
                w.stop()
    if len(latencies) < count:
        raise SystemExit(f"only {len(latencies)} of {count} pods of {selector} Running in time")
    return list(latencies.values())


def nginx_pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": name}},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "nginx", "image": "nginx"}]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--pods", type=int, default=10, help="single nginx pods created one after another")
    args = parser.parse_args()
    builds = build_times(5)
    print(f"nginx image build (files, layer tar, OCI layout): median {statistics.median(builds):.3f}s  "
          f"max {max(builds):.3f}s  (n=5)")
    first, again = asyncio.run(publish_times())
    print(f"publish pause, busybox and nginx with their names: {first:.2f}s to a new registry, {again:.2f}s again")

    work = tempfile.mkdtemp(prefix="tm-bench-", dir="/tmp")  # short: containerd's socket paths must fit
    env = {**os.environ, "HOME": work, "KUBECONFIG": os.path.join(work, "kubeconfig")}
    timoneiro = [sys.executable, "-m", "timoneiro"]
    data = ["--data-dir", os.path.join(work, "d")]
    subprocess.run([*timoneiro, "up", "--runtime", "containerd", "--nodes", "3", *data], env=env, check=True,
                   capture_output=True)
    try:
        api = client.CoreV1Api(config.new_client_from_config(env["KUBECONFIG"]))
        kubectl = ["kubectl", "create", "deployment", "nginx", "--image=nginx", f"--replicas={args.replicas}"]
        deployment = running_after(api, lambda: subprocess.run(kubectl, env=env, check=True, capture_output=True),
                                   "app=nginx", args.replicas)
        report(f"kubectl create deployment nginx --replicas={args.replicas} -> each pod Running (first pulls)",
               deployment)
        singles = []
        for i in range(args.pods):
            name = f"nginx-{i}"
            singles += running_after(api, lambda n=name: api.create_namespaced_pod("default", nginx_pod(n)),
                                     f"bench={name}", 1)
        report("nginx pod create -> Running, one at a time (image on the node)", singles)
        print(f"p99 over both: {percentile(deployment + singles, 99):.3f}s")
    finally:
        subprocess.run([*timoneiro, "down", "--purge", *data], env=env, check=True, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
