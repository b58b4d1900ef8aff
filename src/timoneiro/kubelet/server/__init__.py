"""The kubelet's HTTPS API (port 10250 by default), which the API server's pods/log, exec, attach,
portforward and nodes/proxy reach: see app for its paths and auth for who may use them.

It serves with the certificate given (a local cluster's kubelets get one its CA signs, as a kubelet-serving
CSR would), else, given a cert dir, with one it asks the cluster for (serverTLSBootstrap: see certificates),
else with a self-signed one made at start as upstream's kubelet makes it; client certificates are checked
against the client CA (the cluster's).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn

from timoneiro.apiserver.tls import PeerCertProtocol
from timoneiro.apiserver.websocket import PeerCertWebSocketProtocol
from timoneiro.client import Client
from timoneiro.kubelet.server.app import Host, KubeletAPI
from timoneiro.kubelet.server.auth import KubeletAuth
from timoneiro.kubelet.server.certificates import ServingCertificate
from timoneiro.pki import certs

DEFAULT_PORT = 10250


@dataclass(frozen=True)
class Serving:
    """Where and how the kubelet serves its API: upstream's --address, --port (0 here: any free port),
    --tls-cert-file, --tls-private-key-file, --client-ca-file, and --cert-dir with serverTLSBootstrap (the
    certificate asked for with a CSR, when no certificate file is given)."""

    address: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    cert_file: str | None = None
    key_file: str | None = None
    client_ca_file: str | None = None
    cert_dir: str | None = None


class KubeletServer:
    def __init__(self, host: Host, client: Client, serving: Serving) -> None:
        self.serving = serving
        self.app = KubeletAPI(host, KubeletAuth(client, host.node_name))
        self.client = client
        self.node_name = host.node_name
        self.port = serving.port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None
        self._certificate: asyncio.Task | None = None  # the serving certificate's bootstrap and rotation

    def _tls(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.serving.cert_file and self.serving.key_file:
            ctx.load_cert_chain(self.serving.cert_file, self.serving.key_file)
        elif self.serving.cert_dir:
            certificate = ServingCertificate(self.client, self.node_name, self.serving.cert_dir, ctx)
            self._certificate = asyncio.get_running_loop().create_task(
                certificate.run(), name=f"serving certificate of kubelet {self.node_name}")
        else:
            with tempfile.TemporaryDirectory(prefix="timoneiro-kubelet-") as tmp:
                certs.save(self_signed(self.node_name, self.serving.address), tmp, "kubelet")
                ctx.load_cert_chain(os.path.join(tmp, "kubelet.crt"), os.path.join(tmp, "kubelet.key"))
        if self.serving.client_ca_file:
            ctx.load_verify_locations(self.serving.client_ca_file)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    async def start(self) -> None:
        """Listen; answers once serving, with self.port the port bound."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.serving.address else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.serving.address, self.serving.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, loop="none", http=PeerCertProtocol, ws=PeerCertWebSocketProtocol,
                                lifespan="off", log_level="warning", access_log=False, proxy_headers=False,
                                timeout_graceful_shutdown=1, ws_ping_interval=None)
        config.load()
        config.ssl = self._tls()
        self._server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError(f"the API of kubelet {self.node_name} did not start")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._certificate is not None:
            self._certificate.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._certificate
            self._certificate = None
        server, task, self._server, self._task = self._server, self._task, None, None
        if server is None or task is None:
            return
        # no waiting for callers' connections: the API server keeps TLS connections alive, whose closing
        # waits for a close_notify it does not send (uvicorn's graceful shutdown ran out on every down)
        server.should_exit = server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the process the kubelet runs in owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def self_signed(node_name: str, address: str) -> certs.KeyPair:
    """A serving certificate signed by a CA of its own, made for the moment, named as upstream's kubelet
    names them (NODE-ca@TIME, NODE@TIME)."""
    now = int(time.time())
    ca = certs.new_ca(f"{node_name}-ca@{now}")
    ips = [address] if address not in ("", "0.0.0.0", "::") else ["127.0.0.1"]
    return certs.issue(ca, f"{node_name}@{now}", server=True, dns=[node_name], ips=ips)
