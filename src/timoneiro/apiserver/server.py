"""Running the API server: uvicorn with uvloop and httptools, in the foreground or in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
import threading

import uvicorn

from timoneiro.apiserver.app import APIServer
from timoneiro.apiserver.tls import PeerCertProtocol
from timoneiro.apiserver.websocket import PeerCertWebSocketProtocol
from timoneiro.client.config import ClientConfig

PORT_TRIES = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve(data_dir: str, host: str = "127.0.0.1", port: int = 6443,
                started: asyncio.Future | None = None, stop: asyncio.Event | None = None,
                controllers: bool = True, secure: bool = True, **options: object) -> None:
    """Start storage, the HTTPS listener and (unless a cluster runs its controller manager elsewhere) the
    controllers; run until `stop` is set (or forever). The PKI is made on first start (see pki.cluster).
    `options`: the API server's (see APIServer: encryption_provider_config, token_auth_file,
    authorization_mode, authentication_token_webhook_config_file and _cache_ttl, service_cluster_ip_range)."""
    url = server_url(host, port, secure)
    address = bind(host, port)  # first: a port taken fails here, with nothing opened yet
    api = APIServer(data_dir, f"{host}:{port}", secure=secure, **options)
    if secure:
        api.pki.ensure(url, hosts=(api.service_addresses.first_ip(),))  # the kubernetes Service's address
    await api.start()
    config = uvicorn.Config(api, host=host, port=port, loop="none", http=PeerCertProtocol,
                            ws=PeerCertWebSocketProtocol, lifespan="off",
                            log_level="warning", access_log=False, proxy_headers=False, timeout_keep_alive=120,
                            timeout_graceful_shutdown=1)
    config.load()
    if secure:
        config.ssl = api.pki.server_context()
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[address]))
    while not server.started:
        if task.done():
            await task
            raise RuntimeError("the API server did not start")
        await asyncio.sleep(0.005)
    manager = None
    if controllers:
        from timoneiro.controllers.manager import ControllerManager

        manager = ControllerManager(api.pki.config("controller-manager.conf") if secure else url,
                                    cluster_signing=api.pki.ca if secure else None)
        await manager.start()
    if started is not None:
        started.set_result(api)
    if stop is None:  # in the foreground: SIGTERM and SIGINT stop it cleanly
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait([task, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if manager:
            await manager.stop()
        api.close_watches()  # open watches would hold uvicorn's graceful shutdown
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        if manager:
            await manager.stop()  # idempotent: already stopped on a clean stop
        await api.stop()


def bind(host: str, port: int) -> socket.socket:
    """The server's socket, bound but not listening: until the server listens (storage and bootstrap done),
    a client's connection is refused rather than left waiting. OSError if the port is taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def server_url(host: str, port: int, secure: bool = True) -> str:
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    return f"{'https' if secure else 'http'}://{host}:{port}"


class ServerThread:
    """An API server on its own event loop in a thread: how tests and `timoneiro up` embed one."""

    def __init__(self, data_dir: str, port: int | None = None, host: str = "127.0.0.1",
                 controllers: bool = True, secure: bool = True, **options: object) -> None:
        """`options`: the API server's (see serve)."""
        self.data_dir = data_dir
        self.controllers = controllers
        self.secure = secure
        self.options = options
        self.host = host
        self.port = port or free_port()
        self._port_chosen = port is None  # so another may be chosen if something takes it first
        self.url = server_url(host, self.port, secure)
        self.api: APIServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> ServerThread:
        """Start, and return once serving. A free port chosen here can be taken by another process before
        the server binds it; then another is chosen, a few times."""
        for _ in range(PORT_TRIES):
            self._error = None
            self._ready.clear()
            self._thread = threading.Thread(target=self._run, name="apiserver", daemon=True)
            self._thread.start()
            self._ready.wait(30)
            taken = isinstance(self._error, OSError) and self._error.errno == errno.EADDRINUSE
            if not (taken and self._port_chosen):
                break
            self._thread.join()
            self.port = free_port()
            self.url = server_url(self.host, self.port, self.secure)
        if self._error:
            raise self._error
        return self

    def _run(self) -> None:
        import uvloop

        self.loop = uvloop.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self._stop = asyncio.Event()
        started = self.loop.create_future()

        def on_started(fut: asyncio.Future) -> None:
            if not fut.cancelled() and fut.exception() is None:
                self.api = fut.result()
            self._ready.set()

        started.add_done_callback(on_started)
        try:
            self.loop.run_until_complete(serve(self.data_dir, self.host, self.port, started, self._stop,
                                               self.controllers, self.secure, **self.options))
        except BaseException as e:  # surfaced to start()
            self._error = e
            self._ready.set()
        finally:
            self.loop.close()  # its selector, pipes and eventfds: a process that runs many servers runs out

    @property
    def admin(self) -> ClientConfig:
        """Client settings of the cluster's administrator (admin.conf)."""
        return self.config("admin.conf")

    def config(self, kubeconfig: str) -> ClientConfig:
        """Client settings of one of the kubeconfigs the server wrote (admin.conf, scheduler.conf...)."""
        return self.api.pki.config(kubeconfig) if self.secure else ClientConfig(self.url)

    def user(self, name: str, *groups: str, **validity) -> ClientConfig:
        """Client settings with a new certificate for any user: how tests act as someone else."""
        return self.api.pki.user_config(self.url, name, groups, **validity) if self.secure else ClientConfig(self.url)

    def node(self, name: str) -> ClientConfig:
        """A kubelet's client settings for node `name` (system:node:NAME in group system:nodes)."""
        return self.api.pki.node_config(name, self.url) if self.secure else ClientConfig(self.url)

    def call(self, coro, timeout: float = 30):
        """Run a coroutine on the server's loop (tests reach storage this way, e.g. to compact)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)
