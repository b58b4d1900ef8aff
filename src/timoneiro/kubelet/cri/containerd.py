"""Runs a containerd of timoneiro's own, one per node: its root, state, socket, CNI config and registry hosts
all under one data dir, so that nodes (and test runs) sit side by side on one machine.

stop() leaves nothing behind: it removes every pod through the CRI (containers, network namespaces, IP
leases), stops the daemon, then sweeps what a crash could leave (the shims it started, processes in its
cgroups, mounts under its dirs), deletes the pod bridge and the cgroup parent, and portmap's shared
iptables chains if no pod on the host forwards a port any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import grpc

from timoneiro.kubelet.cri import cgroups, portmap_chains
from timoneiro.kubelet.cri.client import CriClient
from timoneiro.kubelet.cri.containerd_config import (
    NAMESPACE,
    ContainerdLayout,
    cni_template,
    config_toml,
    hosts_toml,
)
from timoneiro.kubelet.mounts import mounts_under, unmount
from timoneiro.kubelet.runtime.cri import CriRuntime

log = logging.getLogger("timoneiro.kubelet.cri.containerd")
SHIM = "containerd-shim-runc-v2"


class Containerd:
    """containerd for one node. registries: registry host -> endpoint (e.g. http://127.0.0.1:5000) for hosts
    that are not pulled from over HTTPS at their own name. cgroup_parent: where its pods' cgroups go."""

    def __init__(self, data_dir: Path, *, sandbox_image: str, bridge: str, cgroup_parent: str,
                 registries: dict[str, str] | None = None, pod_cidr: str | None = None) -> None:
        self.layout = ContainerdLayout(Path(data_dir).absolute(), sandbox_image, bridge, dict(registries or {}),
                                       pod_cidr)
        if not 0 < len(bridge) <= 15:
            raise ValueError(f"bridge name {bridge!r} must have 1 to 15 characters")
        self.cgroup_parent = cgroup_parent
        self._process: subprocess.Popen | None = None

    @property
    def socket(self) -> str:
        return str(self.layout.socket)

    @property
    def pid(self) -> int | None:
        """The daemon's process id while it runs."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def runtime(self, log_dir: Path) -> CriRuntime:
        """The kubelet's runtime over this containerd, with container logs under log_dir."""
        return CriRuntime(self.socket, log_dir=log_dir, cgroup_parent=self.cgroup_parent)

    def write_config(self) -> None:
        layout = self.layout
        for directory in (layout.root, layout.state, layout.cni_conf_dir, layout.ipam_dir, layout.hosts_dir,
                          layout.socket.parent):
            directory.mkdir(parents=True, exist_ok=True)
        layout.config.write_text(config_toml(layout))
        layout.cni_template.write_text(cni_template(layout))
        if layout.pod_cidr:
            (layout.cni_conf_dir / "10-timoneiro.conflist").write_text(cni_template(layout, layout.pod_cidr))
        shutil.rmtree(layout.hosts_dir)
        for host, endpoint in layout.registries.items():
            (layout.hosts_dir / host).mkdir(parents=True)
            (layout.hosts_dir / host / "hosts.toml").write_text(hosts_toml(endpoint))

    async def start(self, timeout: float = 30.0) -> str:
        """Start the daemon and wait until its CRI answers; answers its version."""
        if self._process is not None and self._process.poll() is None:
            raise RuntimeError(f"containerd already runs on {self.socket}")
        for pid in self.daemon_pids():  # left running: its containers live on, the new daemon takes them over
            log.warning("stopping containerd %d left running on %s", pid, self.socket)
            await _terminate(pid, timeout)
        self.write_config()
        self.layout.socket.unlink(missing_ok=True)
        with open(self.layout.data_dir / "containerd.log", "ab") as out:
            self._process = subprocess.Popen(["containerd", "--config", str(self.layout.config)],
                                             stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                             start_new_session=True)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"containerd exited with {self._process.returncode}; see "
                                   f"{self.layout.data_dir / 'containerd.log'}")
            if self.layout.socket.exists():
                client = CriClient(self.socket)
                try:
                    return (await client.version(timeout=2.0)).runtime_version
                except grpc.aio.AioRpcError:
                    pass
                finally:
                    await client.close()
            if asyncio.get_running_loop().time() > deadline:
                await self.stop()
                raise TimeoutError(f"containerd on {self.socket} did not answer in {timeout}s")
            await asyncio.sleep(0.05)

    async def stop(self, timeout: float = 15.0) -> None:
        """Remove every pod, stop the daemon (also one a previous process left running on this data dir),
        and clean up what it made."""
        process, self._process = self._process, None
        daemons = self.daemon_pids()
        if daemons:
            with contextlib.suppress(grpc.aio.AioRpcError, TimeoutError):
                await asyncio.wait_for(self.remove_all_pods(), timeout)
            await asyncio.gather(*(_terminate(pid, timeout) for pid in daemons))
        if process is not None:
            await asyncio.to_thread(process.wait)  # reap it
        self._sweep()

    async def remove_all_pods(self) -> None:
        client = CriClient(self.socket, timeout=10.0)

        async def remove(sandbox_id: str) -> None:
            await client.stop_pod_sandbox(sandbox_id)
            await client.remove_pod_sandbox(sandbox_id)

        try:
            await asyncio.gather(*(remove(s.id) for s in await client.list_pod_sandbox()))
        finally:
            await client.close()

    def _sweep(self) -> None:
        """After the daemon: what a crash or a killed daemon leaves, and the network. (A restart without a
        stop keeps the CNI config: the pods still running need it to be torn down.)"""
        for pid in self.shim_pids():
            log.warning("killing containerd shim %d left by %s", pid, self.socket)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        cgroups.kill_and_remove(self.cgroup_parent)
        for mount in reversed(mounts_under(self.layout.data_dir)):
            log.warning("unmounting %s left by containerd", mount)
            with contextlib.suppress(OSError):
                unmount(mount)
        if Path(f"/sys/class/net/{self.layout.bridge}").exists():
            subprocess.run(["ip", "link", "delete", self.layout.bridge], check=False, capture_output=True)
        portmap_chains.remove_if_unused()
        for conf in self.layout.cni_conf_dir.glob("*"):  # rendered for the next pod CIDR on the next start
            conf.unlink()
        if self.layout.socket.parent != self.layout.data_dir:
            shutil.rmtree(self.layout.socket.parent, ignore_errors=True)

    def shim_pids(self) -> list[int]:
        """The shims this containerd started: they name its socket as their -address."""
        socket, namespace = self.socket.encode(), NAMESPACE.encode()
        return processes(lambda argv: argv[0].endswith(SHIM.encode()) and _flag(argv, b"-address") == socket
                          and _flag(argv, b"-namespace") == namespace)

    def daemon_pids(self) -> list[int]:
        """containerd processes running on this data dir's config (one left by a process that died)."""
        config = str(self.layout.config).encode()
        return processes(lambda argv: argv[0].endswith(b"containerd") and _flag(argv, b"--config") == config)


def processes(match: Callable[[list[bytes]], bool]) -> list[int]:
    """The processes whose argv matches."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and match(argv):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """The process exists and has not exited (a zombie waiting for its parent has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


async def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM a process and wait for it to exit; SIGKILL after timeout."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = asyncio.get_running_loop().time() + timeout
        while alive(pid):
            if asyncio.get_running_loop().time() > deadline:
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.05)


def _flag(argv: list[bytes], name: bytes) -> bytes | None:
    return argv[argv.index(name) + 1] if name in argv[:-1] else None
