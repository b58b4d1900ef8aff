"""Running the EKS-compatible service: uvicorn (uvloop, httptools) serving the app over plain HTTP on
loopback, in the foreground (`timoneiro eks serve`) or in a thread (tests, `timoneiro up --eks`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading

import uvicorn

from timoneiro.apiserver.server import free_port
from timoneiro.cluster.names import SIMULATED
from timoneiro.eks.app import EksApp
from timoneiro.eks.iam import AccessKey
from timoneiro.eks.service import DEFAULT_REGION, Eks

DEFAULT_PORT = 4566  # where local AWS endpoints customarily listen


async def serve(data_dir: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                region: str = DEFAULT_REGION, started: asyncio.Future | None = None,
                stop: asyncio.Event | None = None, node_runtime: str = SIMULATED) -> None:
    """Bring the service's clusters back, listen, set `started` to the Eks once listening, and run until
    `stop` is set (in the foreground, until SIGTERM or SIGINT); then stop the clusters' machinery (their
    documents stay for the next start). `node_runtime`: the node groups' container runtime unless their
    labels say otherwise (see Eks)."""
    listener = socket.create_server((host, port))  # OSError now (uvicorn would exit the process)
    os.makedirs(data_dir, exist_ok=True)
    eks = Eks(data_dir, region, node_runtime)
    eks.url = f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{port}"
    config = uvicorn.Config(EksApp(eks), host=host, port=port, loop="none", http="httptools", lifespan="off",
                            log_level="warning", access_log=False, proxy_headers=False,
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = stopping = None
    try:
        await eks.start()
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[listener]))
        while not server.started:
            if task.done():
                await task
                raise RuntimeError(f"the EKS service could not listen on {host}:{port}")
            await asyncio.sleep(0.005)
        if started is not None:
            started.set_result(eks)
        if stop is None:
            stop = asyncio.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when cancelled, as by the supervisor of `timoneiro up --eks`
        server.should_exit = True
        if stopping is not None:
            stopping.cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        listener.close()
        await eks.stop()


async def launch(data_dir: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 region: str = DEFAULT_REGION, stop: asyncio.Event | None = None,
                 node_runtime: str = SIMULATED) -> tuple[Eks, asyncio.Task]:
    """Start serve() and return once it listens: the Eks, and the task that serves until `stop`."""
    started = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(serve(data_dir, host, port, region, started, stop, node_runtime))
    await asyncio.wait([started, task], return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        await task  # its failure
        raise RuntimeError("the EKS service stopped before it listened")
    return started.result(), task


class EksServerThread:
    """The service on its own event loop in a thread; stop() stops every cluster it started."""

    def __init__(self, data_dir: str, port: int | None = None, region: str = DEFAULT_REGION,
                 host: str = "127.0.0.1", node_runtime: str = SIMULATED) -> None:
        self.data_dir, self.region, self.host, self.node_runtime = data_dir, region, host, node_runtime
        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        self.eks: Eks | None = None

    def start(self) -> EksServerThread:
        import uvloop

        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="eks", daemon=True)
        self._thread.start()
        try:
            self.eks = self.call(self._begin())
        except BaseException:
            self._close()
            raise
        return self

    async def _begin(self) -> Eks:
        self._stop = asyncio.Event()
        eks, self._serving = await launch(self.data_dir, self.host, self.port, self.region, self._stop,
                                          self.node_runtime)
        return eks

    async def _end(self) -> None:
        self._stop.set()
        await self._serving

    @property
    def credentials(self) -> AccessKey:
        """The admin user's access key, as `timoneiro eks serve` prints it."""
        return self.eks.iam.admin

    def call(self, coro, timeout: float = 120):
        """Run a coroutine on the service's loop (tests reach the Eks this way)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self._thread.is_alive():
            try:
                self.call(self._end())
            finally:
                self._close()

    def _close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()  # its selector and pipes: a process that runs many services runs out
