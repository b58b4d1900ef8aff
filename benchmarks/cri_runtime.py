"""Real containers through CriRuntime and a containerd of our own: how long the runtime's part of a pod
start takes (pull from the local registry, sandbox with its CNI network, create and start one busybox
container, until ContainerStatus says RUNNING), and the node's costs around it.

    python benchmarks/cri_runtime.py [--pods 50]      # as root, after scripts/setup.sh

Prints containerd's start time, the latency of one pod at a time (p50/p99 of 10), then of --pods pods
started at once, and containerd's memory with them running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from timoneiro.images import local  # noqa: E402
from timoneiro.images.registry import LocalRegistry  # noqa: E402
from timoneiro.kubelet.cri.containerd import Containerd  # noqa: E402
from timoneiro.kubelet.runtime.base import ContainerConfig, ContainerState, PodSandboxConfig  # noqa: E402
from timoneiro.kubelet.runtime.cri import CriRuntime  # noqa: E402

POD_CIDR = "10.254.0.0/22"  # room for the pods; this script's own bridge


async def start_pod(runtime: CriRuntime, image: str, n: int) -> float:
    """Seconds from the pull to the container seen running."""
    began = time.perf_counter()
    await runtime.pull_image(image)
    sandbox = await runtime.run_pod_sandbox(PodSandboxConfig(f"bench-{n}", "default", f"uid-{n}",
                                                             hostname=f"bench-{n}"))
    container = await runtime.create_container(sandbox, ContainerConfig("sleep", image, command=["sleep", "3600"]))
    await runtime.start_container(container)
    while True:
        [status] = await runtime.list_containers(sandbox)
        if status.state is ContainerState.RUNNING:
            return time.perf_counter() - began
        await asyncio.sleep(0.005)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _report(label: str, seconds: list[float]) -> None:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(f"{label:<34} p50 {statistics.median(ordered) * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms")


async def main(pods: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="tm-bench-", dir="/tmp"))
    registry = LocalRegistry(data_dir / "registry")
    await registry.start()
    containerd = None
    try:
        images = await local.publish(registry, data_dir / "oci")
        containerd = Containerd(data_dir / "containerd", sandbox_image=images["pause"], bridge="tmbench0",
                                cgroup_parent="/timoneiro-bench", registries={registry.host: registry.url})
        began = time.perf_counter()
        version = await containerd.start()
        print(f"containerd {version} answering after {(time.perf_counter() - began) * 1000:.0f} ms")
        runtime = containerd.runtime(data_dir / "pods")
        await runtime.update_runtime_config(POD_CIDR)
        while not (await runtime.status()).network_ready:
            await asyncio.sleep(0.01)
        await start_pod(runtime, images["busybox"], 0)  # the first pull and the sandbox image's
        _report("1 pod at a time (10)", [await start_pod(runtime, images["busybox"], n) for n in range(1, 11)])
        _report(f"{pods} pods at once", await asyncio.gather(
            *(start_pod(runtime, images["busybox"], 100 + n) for n in range(pods))))
        print(f"containerd RSS with {pods + 11} pods: {_rss_mib(containerd.pid):.0f} MiB")
        await runtime.close()
        began = time.perf_counter()
        await containerd.stop()
        print(f"stop with every pod removed: {(time.perf_counter() - began) * 1000:.0f} ms")
    finally:
        if containerd is not None:
            await containerd.stop()
        await registry.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=50)
    asyncio.run(main(parser.parse_args().pods))
