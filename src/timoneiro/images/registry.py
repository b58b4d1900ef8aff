"""A container image registry on loopback (Debian's docker-registry, the CNCF distribution registry), and
pushing OCI layouts into it with skopeo: where nodes pull the locally built images from, over plain HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

import httpx

from timoneiro.apiserver.server import free_port
from timoneiro.kubelet.cri.containerd import processes

REGISTRY_BINARY = "docker-registry"


def _config(storage: Path, port: int) -> str:
    """The registry's config; YAML, written as JSON (a subset of YAML)."""
    return json.dumps({
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }, indent=2)


class LocalRegistry:
    """One registry process serving data_dir/storage on 127.0.0.1:port (a free one unless given)."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self._process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        """The registry's name in image references: 127.0.0.1:PORT."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def config(self) -> Path:
        return self.data_dir / "config.yml"

    def leftover_pids(self) -> list[int]:
        """Registries serving this data dir's config: one a process that died left running."""
        argv = [REGISTRY_BINARY.encode(), b"serve", str(self.config).encode()]
        own = self._process.pid if self._process is not None else None
        return [pid for pid in processes(lambda a: a[:3] == argv) if pid != own]

    async def start(self, timeout: float = 20.0) -> None:
        await self.stop()  # one left running
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.config
        config.write_text(_config(self.data_dir / "storage", self.port))
        with open(self.data_dir / "registry.log", "ab") as log:
            self._process = subprocess.Popen([REGISTRY_BINARY, "serve", str(config)], stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=log, start_new_session=True)
        async with httpx.AsyncClient(timeout=2.0) as client:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"{REGISTRY_BINARY} exited with {self._process.returncode}; "
                                       f"see {self.data_dir / 'registry.log'}")
                try:
                    if (await client.get(f"{self.url}/v2/")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    await self.stop()
                    raise TimeoutError(f"the registry on {self.host} did not answer in {timeout}s")
                await asyncio.sleep(0.05)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop the registry, and one a process that died left running on this data dir."""
        for pid in self.leftover_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(process.wait), timeout)
        except TimeoutError:
            process.kill()
            await asyncio.to_thread(process.wait)

    async def push(self, layout: Path, name: str, repository: str) -> str:
        """Copy image `name` (name:tag in the OCI layout) to repository (path:tag) here; answers its reference,
        127.0.0.1:PORT/repository."""
        reference = f"{self.host}/{repository}"
        process = await asyncio.create_subprocess_exec(
            "skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
            f"oci:{layout}:{name}", f"docker://{reference}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await process.communicate()
        if process.returncode:
            raise RuntimeError(f"skopeo could not push {name} to {reference}: {err.decode().strip()}")
        return reference
