"""A container image registry on loopback (Debian's docker-registry, the CNCF distribution registry), and
pushing OCI layouts into it with skopeo: where nodes pull the locally built images from, over plain HTTP.

Its port is chosen once, the first free one from FIRST_PORT up (below the kernel's ephemeral range, so no
outgoing connection takes it meanwhile), and kept in its config: image references that name it
(localhost:PORT/app:1.0) stay valid across restarts, and containerd does not pull again what it has. A
reservation under /run/timoneiro keeps a stopped cluster's port from the registries of clusters started
meanwhile, for as long as its data dir keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import httpx

from timoneiro.images.oci import layout_digest
from timoneiro.kubelet.cri.containerd import processes

REGISTRY_BINARY = "docker-registry"
FIRST_PORT = 5001  # as kind's local-registry guide has it; 5000 is the Debian package's own service
LAST_PORT = 5999
RESERVATIONS = Path("/run/timoneiro/registry-ports")  # PORT -> the data dir whose registry has it
MANIFEST_TYPES = ", ".join(("application/vnd.oci.image.manifest.v1+json",
                            "application/vnd.docker.distribution.manifest.v2+json"))


def _config(storage: Path, port: int, htpasswd: Path | None) -> str:
    """The registry's config; YAML, written as JSON (a subset of YAML)."""
    config: dict = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "timoneiro", "path": str(htpasswd)}}
    return json.dumps(config, indent=2)


def _port_taken(port: int) -> bool:
    """Whether something listens on the port (connections closing on it, as the registry's own, do not
    count: the registry binds with SO_REUSEADDR, as Go does)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def saved_port(data_dir: Path) -> int | None:
    """The port a registry of this data dir was given, if it ever started."""
    try:
        addr = json.loads((Path(data_dir) / "config.yml").read_text())["http"]["addr"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None
    return int(addr.rpartition(":")[2])


def _reserved_for_another(port: int, data_dir: Path) -> bool:
    """Whether the port is another data dir's, whose registry is stopped but will want it back."""
    try:
        owner = Path((RESERVATIONS / str(port)).read_text())
    except FileNotFoundError:
        return False
    return owner != data_dir and saved_port(owner) == port


def _reserve(port: int, data_dir: Path) -> None:
    RESERVATIONS.mkdir(parents=True, exist_ok=True)
    (RESERVATIONS / str(port)).write_text(str(data_dir))


class LocalRegistry:
    """One registry process serving data_dir/storage on 127.0.0.1:port: the port given, else the one it
    had before, else a new one. htpasswd: a file of bcrypt htpasswd lines; pulls and pushes then need one
    of its users' credentials."""

    def __init__(self, data_dir: Path, port: int | None = None, htpasswd: Path | None = None) -> None:
        self.data_dir = Path(data_dir).absolute()
        kept = port or saved_port(self.data_dir)
        self.port = kept or self._new_port(self.data_dir)
        self._pinned = kept is not None  # a port others may name already: never given up for another
        self.htpasswd = htpasswd
        self._process: subprocess.Popen | None = None

    @staticmethod
    def _new_port(data_dir: Path, after: int = FIRST_PORT - 1) -> int:
        for port in range(after + 1, LAST_PORT + 1):
            if not _port_taken(port) and not _reserved_for_another(port, data_dir):
                return port
        raise RuntimeError(f"no free port on 127.0.0.1 from {FIRST_PORT} to {LAST_PORT} for a registry")

    @property
    def host(self) -> str:
        """The registry's name in the references of the images timoneiro pushes: 127.0.0.1:PORT."""
        return f"127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        """The name users give it, from the machine and in pods' images (nodes know both): localhost:PORT."""
        return f"localhost:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.data_dir / "config.yml"

    @property
    def _pushed(self) -> Path:
        """What was pushed here from OCI layouts: repository:tag -> the layout's manifest digest."""
        return self.data_dir / "pushed.json"

    def running(self) -> bool:
        """Whether a registry serves this data dir: this one, or one another process started."""
        return (self._process is not None and self._process.poll() is None) or bool(self.leftover_pids())

    def leftover_pids(self) -> list[int]:
        """Registries serving this data dir's config: one a process that died left running."""
        argv = [REGISTRY_BINARY.encode(), b"serve", str(self.config).encode()]
        own = self._process.pid if self._process is not None else None
        return [pid for pid in processes(lambda a: a[:3] == argv) if pid != own]

    async def start(self, timeout: float = 20.0) -> None:
        """Start it and wait until it answers. A port newly chosen that another registry starting at the
        same moment took is given up for the next free one; a port kept from before must be free."""
        await self.stop()  # one left running
        self.data_dir.mkdir(parents=True, exist_ok=True)
        while True:
            if self._pinned and _port_taken(self.port):
                raise RuntimeError(f"the registry's port 127.0.0.1:{self.port} ({self.data_dir}) is taken by "
                                   "another program")
            self.config.write_text(_config(self.data_dir / "storage", self.port, self.htpasswd))
            if await self._serve(timeout):
                self._pinned = True
                _reserve(self.port, self.data_dir)
                return
            self.port = self._new_port(self.data_dir, self.port)

    async def _serve(self, timeout: float) -> bool:
        """Run the process until it answers (True), or it exits because its port was taken (False)."""
        with open(self.data_dir / "registry.log", "ab") as log:
            self._process = subprocess.Popen([REGISTRY_BINARY, "serve", str(self.config)], stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=log, start_new_session=True)
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                if self._process.poll() is not None:
                    if not self._pinned and _port_taken(self.port):
                        return False
                    raise RuntimeError(f"{REGISTRY_BINARY} exited with {self._process.returncode}; "
                                       f"see {self.data_dir / 'registry.log'}")
                try:
                    if (await client.get(f"{self.url}/v2/")).status_code in (200, 401):
                        return True
                except httpx.TransportError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    await self.stop()
                    raise TimeoutError(f"the registry on {self.url} did not answer in {timeout}s")
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

    async def push(self, layout: Path, name: str, repository: str, credentials: str | None = None) -> str:
        """Copy image `name` (name:tag in the OCI layout) to repository (path:tag) here, unless the same
        image was pushed there before and is still there; answers its reference, 127.0.0.1:PORT/repository.
        credentials: USER:PASSWORD, for a registry with htpasswd."""
        reference = f"{self.host}/{repository}"
        digest = layout_digest(layout, name)
        pushed = json.loads(self._pushed.read_text()) if self._pushed.exists() else {}
        if pushed.get(repository) == digest and await self._has(repository):
            return reference
        process = await asyncio.create_subprocess_exec(
            "skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
            *(["--dest-creds", credentials] if credentials else []),
            f"oci:{layout}:{name}", f"docker://{reference}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await process.communicate()
        if process.returncode:
            raise RuntimeError(f"skopeo could not push {name} to {reference}: {err.decode().strip()}")
        pushed[repository] = digest
        self._pushed.write_text(json.dumps(pushed, indent=2, sort_keys=True))
        return reference

    async def _has(self, repository: str) -> bool:
        path, _, tag = repository.rpartition(":")
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            response = await client.head(f"{self.url}/v2/{path}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES})
        return response.status_code == 200
