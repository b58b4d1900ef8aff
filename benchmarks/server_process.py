"""`timoneiro server` in a process of its own, as the benchmarks run it (kube-apiserver is a process of its
own too), and the client settings to reach it: HTTPS with the kubeconfigs it writes (admin.conf,
scheduler.conf...), or plain HTTP where everyone is the superuser with --no-security."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import aiohttp
import httpx

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from timoneiro.apiserver.server import free_port, server_url  # noqa: E402
from timoneiro.client import ClientConfig  # noqa: E402
from timoneiro.pki.cluster import ClusterPKI  # noqa: E402


class ServerProcess:
    def __init__(self, data_dir: str, *, secure: bool = True, controllers: bool = True,
                 args: tuple[str, ...] = (), start_timeout: float = 60) -> None:
        self.data_dir = data_dir
        self.secure = secure
        self.port = free_port()
        self.url = server_url("127.0.0.1", self.port, secure)
        command = [sys.executable, "-m", "timoneiro", "server", "--data-dir", data_dir,
                   "--address", f"127.0.0.1:{self.port}", *args]
        command += [] if controllers else ["--no-controllers"]
        command += [] if secure else ["--no-security"]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        self.pid = self.proc.pid
        try:
            self._wait_ready(start_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the API server did not start")
            if self.secure and not os.path.exists(os.path.join(self.data_dir, "admin.conf")):
                time.sleep(0.05)  # written (atomically) before the server listens
                continue
            try:  # /readyz needs no credentials
                answer = httpx.get(self.url + "/readyz", verify=self.admin.ssl_context() or True)
                if answer.status_code == 200:
                    return
            except (httpx.HTTPError, OSError):
                pass
            time.sleep(0.05)

    def config(self, kubeconfig: str) -> ClientConfig:
        """The client settings of a kubeconfig the server wrote; plain HTTP without security."""
        return ClusterPKI(self.data_dir).config(kubeconfig) if self.secure else ClientConfig(self.url)

    @property
    def admin(self) -> ClientConfig:
        return self.config("admin.conf")

    def user(self, name: str, *groups: str) -> ClientConfig:
        """Client settings with a new certificate for any identity (signed with the CA in the data dir)."""
        if not self.secure:
            return ClientConfig(self.url)
        return ClusterPKI(self.data_dir).user_config(self.url, name, groups)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def session(config: ClientConfig, **kwargs) -> aiohttp.ClientSession:
    """An aiohttp session to the server of `config` with its credentials: any number of connections, each
    kept alive."""
    connector = aiohttp.TCPConnector(limit=0, ssl=config.ssl_context() or True)
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    return aiohttp.ClientSession(config.server, connector=connector, headers=headers, **kwargs)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
