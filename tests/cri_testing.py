"""A real containerd of our own for tests: the local images built and pushed to a registry on loopback,
a containerd pulling from it, with a pod bridge and a /24 that no route on the machine uses yet.

`cri_node` (module-scoped) runs one for a whole test file; `start_node` runs more (node.containerd.stop()
removes them and everything they made). Needs root and what scripts/setup.sh installs (containerd, runc,
CNI plugins, docker-registry, skopeo, busybox-static, gcc).
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from timoneiro.images import local
from timoneiro.images.registry import LocalRegistry
from timoneiro.kubelet.cri.containerd import Containerd
from timoneiro.kubelet.runtime.cri import CriRuntime


@dataclass
class Images:
    registry: LocalRegistry
    pause: str  # 127.0.0.1:PORT/timoneiro/pause:3.10
    busybox: str  # 127.0.0.1:PORT/timoneiro/busybox:1.35.0
    busybox_tag: str  # 1.35.0, also pushed as library/busybox, for docker.io/library/busybox through the mirror


@dataclass
class CriNode:
    containerd: Containerd
    images: Images
    data_dir: Path
    pod_cidr: str

    @property
    def bridge(self) -> str:
        return self.containerd.layout.bridge

    def runtime(self) -> CriRuntime:
        """A runtime to use in one test's event loop (close it at the end)."""
        return self.containerd.runtime(self.data_dir / "pods")


def free_pod_cidr() -> str:
    """A /24 in 10.0.0.0/8 that no route of the machine covers."""
    routes = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True, check=True).stdout
    used = [ipaddress.ip_network(line.split()[0], strict=False) for line in routes.splitlines()
            if line and line.split()[0] != "default"]
    while True:
        network = ipaddress.ip_network(f"10.{100 + secrets.randbelow(150)}.{secrets.randbelow(256)}.0/24")
        if not any(network.overlaps(u) for u in used):
            return str(network)


async def start_images(data_dir: Path) -> Images:
    registry = LocalRegistry(data_dir / "registry")
    await registry.start()
    try:
        references = await local.publish(registry, data_dir / "oci")
    except BaseException:
        await registry.stop()
        raise
    return Images(registry, references["pause"], references["busybox"], references["busybox"].rpartition(":")[2])


async def start_node(data_dir: Path, images: Images, pod_cidr: str | None) -> CriNode:
    """A containerd under data_dir; told its pod CIDR unless None (its network then is not ready)."""
    registry = images.registry
    containerd = Containerd(data_dir / "containerd", sandbox_image=images.pause, bridge=f"tmt{secrets.token_hex(4)}",
                            cgroup_parent=f"/timoneiro-test-{secrets.token_hex(4)}",
                            registries={registry.host: registry.url, "docker.io": registry.url})
    await containerd.start()
    node = CriNode(containerd, images, data_dir, pod_cidr or "")
    if pod_cidr:
        runtime = node.runtime()
        try:
            await runtime.update_runtime_config(pod_cidr)
        finally:
            await runtime.close()
    return node


@pytest.fixture(scope="module")
def cri_node() -> Iterator[CriNode]:
    data_dir = Path(tempfile.mkdtemp(prefix="tm-cri-", dir="/tmp"))  # short: the socket path must fit
    images = asyncio.run(start_images(data_dir))
    try:
        node = asyncio.run(start_node(data_dir, images, free_pod_cidr()))
        try:
            yield node
        finally:
            asyncio.run(node.containerd.stop())
    finally:
        asyncio.run(images.registry.stop())
        shutil.rmtree(data_dir, ignore_errors=True)
