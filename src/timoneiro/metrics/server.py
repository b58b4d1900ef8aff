"""metrics-server as one component of the cluster: it applies its manifest as an addon is applied, then
acts as its own ServiceAccount (kube-system/metrics-server): informers on nodes and on pods' metadata,
a scrape of every kubelet each metric resolution (15 s, its --metric-resolution), and the metrics API
served over TLS on a port of its own, which the API server reaches through the APIService."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from collections.abc import Iterator

import uvicorn

from timoneiro.apiserver.tls import PeerCertProtocol
from timoneiro.client import Client, ClientConfig
from timoneiro.client.informer import Informer
from timoneiro.client.resources import NODES, PODS
from timoneiro.controllers.credentials import ServiceAccountToken
from timoneiro.metrics import manifest
from timoneiro.metrics.api import MetricsAPI
from timoneiro.metrics.auth import Authorizer
from timoneiro.metrics.scrape import KubeletScraper, NodeBatch
from timoneiro.metrics.storage import Storage
from timoneiro.pki import certs
from timoneiro.pki.cluster import ClusterPKI

log = logging.getLogger("timoneiro.metrics")
METRIC_RESOLUTION = 15.0
SERVICE_HOST = "localhost"  # what its ExternalName Service names: the host it listens on
LISTEN = "127.0.0.1"


def _metadata_only(obj: dict) -> dict:
    """A pod as metrics-server's metadata informer keeps it."""
    meta = obj.get("metadata") or {}
    return {"metadata": {k: meta[k] for k in ("name", "namespace", "uid", "labels", "resourceVersion",
                                               "creationTimestamp") if k in meta}}


class MetricsServer:
    def __init__(self, admin: ClientConfig, pki: ClusterPKI, *, resolution: float = METRIC_RESOLUTION) -> None:
        """`admin`: who applies the manifest (the cluster's administrator, as for any addon)."""
        self.admin = admin
        self.pki = pki
        self.resolution = resolution
        self.storage = Storage()
        self.port = 0
        self.scrape_seconds: float | None = None  # how long the last round of scrapes took
        self._admin_client: Client | None = None
        self._client: Client | None = None
        self._token: ServiceAccountToken | None = None
        self._informers: list[Informer] = []
        self._scraper: KubeletScraper | None = None
        self._server: _Server | None = None
        self._serving: asyncio.Task | None = None
        self._scraping: asyncio.Task | None = None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LISTEN, 0))
        self.port = sock.getsockname()[1]
        self._admin_client = Client(self.admin)
        await manifest.apply(self._admin_client, manifest.objects(SERVICE_HOST, self.port))
        self._token = ServiceAccountToken(self._admin_client, manifest.NAME)
        base = self.admin
        self._client = Client(ClientConfig(server=base.server, ca_data=base.ca_data, ca_file=base.ca_file,
                                           user_agent=f"metrics-server/{base.user_agent}",
                                           token_source=self._token))
        nodes = Informer(self._client, NODES)
        pods = Informer(self._client, PODS, transform=_metadata_only)
        self._informers = [nodes, pods]
        for informer in self._informers:
            informer.start()
        app = MetricsAPI(self.storage, nodes.store, pods.store, Authorizer(self._client))
        await self._serve(app, sock)
        await manifest.apply(self._admin_client, [manifest.apiservice(self.port, self.pki.ca_pem)])
        self._scraper = KubeletScraper(ssl.create_default_context(cadata=self.pki.ca_pem.decode()),
                                       timeout=self.resolution * 0.8)
        await asyncio.gather(*(informer.wait_for_sync() for informer in self._informers))
        self._scraping = asyncio.get_running_loop().create_task(self._scrape_periodically())

    async def _serve(self, app: MetricsAPI, sock: socket.socket) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        directory = os.path.join(self.pki.data_dir, manifest.NAME)
        certs.save(certs.issue(self.pki.ca, manifest.NAME, server=True, ips=(LISTEN,),
                               dns=(SERVICE_HOST, f"{manifest.NAME}.{manifest.NAMESPACE}.svc")), directory, "serving")
        ctx.load_cert_chain(os.path.join(directory, "serving.crt"), os.path.join(directory, "serving.key"))
        ctx.load_verify_locations(self.pki.path("front-proxy-ca.crt"))  # --requestheader-client-ca-file
        ctx.verify_mode = ssl.CERT_OPTIONAL
        config = uvicorn.Config(app, loop="none", http=PeerCertProtocol, lifespan="off", log_level="warning",
                                access_log=False, proxy_headers=False, timeout_graceful_shutdown=1)
        config.load()
        config.ssl = ctx
        self._server = _Server(config)
        self._serving = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._serving.done():
                await self._serving
                raise RuntimeError("metrics-server did not start")
            await asyncio.sleep(0.005)

    async def _scrape_periodically(self) -> None:
        while True:
            began = time.monotonic()
            try:
                await self.scrape()
            except Exception:  # noqa: BLE001 - a failed round is logged, the next one tried
                log.exception("scraping the kubelets failed")
            await asyncio.sleep(max(0.0, self.resolution - (time.monotonic() - began)))

    async def scrape(self) -> None:
        """One round: every node's kubelet at once, and what they gave stored."""
        assert self._scraper is not None and self._token is not None
        began = time.monotonic()
        nodes = self._informers[0].store.list()
        results = await self._scraper.scrape(nodes, await self._token.token())
        batches = {}
        for name, result in results.items():
            if isinstance(result, NodeBatch):
                batches[name] = result
            else:
                log.warning("failed to scrape node %s: %s", name, result)
        self.storage.store(batches, time.time())
        self.scrape_seconds = time.monotonic() - began

    async def stop(self) -> None:
        if self._scraping is not None:
            self._scraping.cancel()
        if self._server is not None:
            self._server.should_exit = self._server.force_exit = True  # as the kubelet's API: no waiting
        for task in (self._scraping, self._serving):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for informer in self._informers:
            await informer.stop()
        for closable in (self._scraper, self._client, self._admin_client):
            if closable is not None:
                await closable.close()


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the components process owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
