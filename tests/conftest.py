"""Shared fixtures: a real API server per test on a temp data dir and a free port, kubectl pointed at it
through a kubeconfig of its own (never the user's ~/.kube/config), and a plain JSON client (`api`) and the
components' REST client (`client`) of it. A test module may override `server` (e.g. tuned controllers)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml

from controller_testing import Api
from timoneiro.apiserver.server import ServerThread
from timoneiro.client import Client, ClientConfig

pytest_plugins = ["eks_testing",  # the `eks` fixture: an EKS-compatible service for the test
                  "cri_testing"]  # `cri_node`: a containerd of our own, with local images

KUBECTL = shutil.which("kubectl")


def write_kubeconfig(path: Path, config: ClientConfig) -> None:
    """A kubeconfig with the server, CA and credentials of `config`."""
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    cluster = {"server": config.server}
    if config.ca_data:
        cluster["certificate-authority-data"] = b64(config.ca_data)
    user = {}
    if config.cert_data:
        user.update({"client-certificate-data": b64(config.cert_data), "client-key-data": b64(config.key_data)})
    if config.token:
        user["token"] = config.token
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": cluster}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        "users": [{"name": "test", "user": user}],
    }
    path.write_text(yaml.safe_dump(doc))


class Kubectl:
    """Runs the real kubectl against one server as one user (the administrator unless told), with its own
    kubeconfig and cache."""

    def __init__(self, home: Path, config: ClientConfig) -> None:
        self.home = home
        self.kubeconfig = home / "kubeconfig"
        write_kubeconfig(self.kubeconfig, config)
        self.env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(home)}

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
            ) -> subprocess.CompletedProcess:
        proc = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, env=self.env,
                              timeout=timeout, cwd=self.home)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def __call__(self, *args: str, **kw) -> str:
        return self.run(*args, **kw).stdout

    def json(self, *args: str) -> dict:
        return json.loads(self(*args, "-o", "json"))


def add_default_service_account(srv: ServerThread, namespace: str = "default") -> None:
    """What the serviceaccount controller does for each namespace, for a server run without controllers:
    ServiceAccount admission refuses pods until their namespace has its `default` account."""
    api = Api(srv.admin)
    try:
        api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "default"}})
    finally:
        api.close()


@pytest.fixture
def server(tmp_path: Path):
    srv = ServerThread(str(tmp_path / "data")).start()
    yield srv
    srv.stop()


@pytest.fixture
def kubectl(server: ServerThread, tmp_path: Path) -> Kubectl:
    if KUBECTL is None:
        pytest.fail("kubectl is not installed (the README's test command installs it)")
    home = tmp_path / "home"
    home.mkdir()
    return Kubectl(home, server.admin)


@pytest.fixture
def api(server: ServerThread) -> Iterator[Api]:
    """A plain JSON client of the server, for setting the scene and reading what controllers did."""
    client = Api(server.admin)
    yield client
    client.close()


@pytest.fixture
async def client(server: ServerThread) -> AsyncIterator[Client]:
    """The REST client the components use, connected to the server."""
    async with Client(server.admin) as c:
        yield c
