"""The supervisor: the process a cluster runs under. It forks the API server process and the components
process (so that the two use both cores), records them in the data dir, and on SIGTERM or SIGINT stops
them in order: the clients first, then the server they talk to. If either dies, it stops the other."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine

from timoneiro.cluster.names import POD_NETWORK, SIMULATED, NodeSpec, node_specs
from timoneiro.cluster.procs import Proc, terminate
from timoneiro.cluster.progress import Notifier
from timoneiro.cluster.state import ClusterState, log_path
from timoneiro.cluster.topology import Topology

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0
SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}

log = logging.getLogger("timoneiro.cluster")


def run(name: str, data_dir: str, topology: Topology, port: int | None, notify_fd: int | None,
        kubeconfig: bool = True, apiserver_options: dict | None = None, eks_port: int | None = None,
        cluster_cidr: str | None = POD_NETWORK) -> int:
    """Run the cluster until signalled; the exit code is 0 unless one of its processes failed. With no nodes
    it is a control plane alone (as EKS hosts one, its nodes joining later). `topology`: its nodes and
    their container runtime (names.RUNTIMES), simulated nodes beside them. `kubeconfig`: point the user's
    kubectl at it once ready (not for a managed cluster, whose users run `aws eks update-kubeconfig`).
    `apiserver_options`: more keyword arguments of the API server (ServerThread's). `eks_port`: also run the
    EKS-compatible service there, its data under DATA_DIR/eks (stopped first: it stops its own clusters).
    `cluster_cidr`: the pod network nodes get their ranges from (None: they get none). What a containerd
    cluster's components process leaves if it dies or is killed (containerds, their pods, the registry) is
    swept up here once it is gone."""
    _log_as("supervisor")
    notify = Notifier(notify_fd)
    specs = node_specs(name, topology.nodes, topology.simulated_nodes)
    runtime = topology.runtime
    os.makedirs(data_dir, exist_ok=True)
    # Signals stay blocked, for sigwait: here, in the API server process, and in the components process
    # until its event loop handles them.
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    url_r, url_w = os.pipe()
    # The components process is forked first, so that its imports run while this one loads the API server's.
    components = _fork("components", _components, notify, name, specs, url_r, url_w, kubeconfig, cluster_cidr,
                       runtime)
    os.close(url_r)
    from timoneiro.apiserver.server import free_port, server_url
    from timoneiro.cluster.node_runtimes import NodeRuntimes
    from timoneiro.pki.cluster import ClusterPKI

    url = server_url(HOST, port or free_port())
    ClusterPKI(data_dir).ensure(url)  # before the components process reads its kubeconfigs
    os.write(url_w, f"{url}\n{data_dir}".encode())
    os.close(url_w)
    apiserver = _fork("apiserver", _apiserver, notify, data_dir, url, apiserver_options or {})
    clients = [components]
    if eks_port:
        clients.insert(0, _fork("eks", _eks, notify, os.path.join(data_dir, "eks"), eks_port))
    ClusterState(name, url, [s.name for s in specs], [Proc.of("supervisor", os.getpid()), apiserver, *clients]
                 ).save(data_dir)
    log.info("cluster %s: API server at %s (pid %d), components pid %d", name, url, apiserver.pid, components.pid)
    code = 0
    try:
        died = _wait_for_signal_or_exit([apiserver, *clients])
        if died is not None:
            code = 1
            notify.send("failed", f"the {died.role} process exited; see {log_path(data_dir)}")
    finally:
        for client in clients:
            terminate([client], STOP_TIMEOUT)
        terminate([apiserver], STOP_TIMEOUT)
        _reap([apiserver, *clients])
        if runtime != SIMULATED:
            asyncio.run(NodeRuntimes(runtime, name, data_dir, specs).stop())
        ClusterState.forget(data_dir)
        log.info("cluster %s stopped", name)
    return code


def _wait_for_signal_or_exit(children: list[Proc]) -> Proc | None:
    """None when asked to stop; else the child that exited on its own."""
    while signal.sigwait(SIGNALS) == signal.SIGCHLD:
        for child in children:
            pid, status = os.waitpid(child.pid, os.WNOHANG)
            if pid:
                log.error("the %s process (pid %d) exited with code %d",
                          child.role, pid, os.waitstatus_to_exitcode(status))
                return child
    return None


def _reap(children: list[Proc]) -> None:
    for child in children:
        with contextlib.suppress(ChildProcessError):  # reaped already
            os.waitpid(child.pid, 0)


def _fork(role: str, main: Callable[..., None], notify: Notifier, *args: object) -> Proc:
    pid = os.fork()
    if pid:
        return Proc.of(role, pid)
    _log_as(role)
    code = 0
    try:
        main(notify, *args)
    except BaseException as e:
        log.exception("the %s process failed", role)
        why = f"exited with code {e.code}" if isinstance(e, SystemExit) else str(e)  # uvicorn exits so
        notify.send("failed", f"{role}: {why}")
        code = 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # never the supervisor's own clean-up


def _apiserver(notify: Notifier, data_dir: str, url: str, options: dict) -> None:
    """The server runs on a thread of its own, so that uvicorn leaves signals alone: this thread waits for
    them and stops the server the orderly way (watches closed first)."""
    from timoneiro.apiserver.server import ServerThread
    from timoneiro.gctune import tune_for_service

    tune_for_service()
    server = ServerThread(data_dir, int(url.rpartition(":")[2]), HOST, controllers=False, **options).start()
    notify.send("apiserver", url)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop()


def _components(notify: Notifier, name: str, nodes: list[NodeSpec], url_r: int, url_w: int,
                kubeconfig: bool, cluster_cidr: str | None, runtime: str) -> None:
    import uvloop

    from timoneiro.cluster.components import run_components
    from timoneiro.gctune import tune_for_service

    os.close(url_w)
    message = os.read(url_r, 4096).decode()
    os.close(url_r)
    if not message:
        raise RuntimeError("the supervisor exited before it chose the API server's address")
    url, data_dir = message.split("\n", 1)
    tune_for_service()
    uvloop.run(_until_signalled(run_components(name, url, data_dir, nodes, notify, kubeconfig, cluster_cidr,
                                               runtime)))


def _eks(notify: Notifier, data_dir: str, port: int) -> None:
    """The EKS-compatible service; reports `eks URL` once it listens, its admin's exports in DATA_DIR/aws.env."""
    import uvloop

    from timoneiro.cli.eks import write_exports
    from timoneiro.eks.server import serve

    def listening(started: asyncio.Future) -> None:
        if not started.cancelled() and started.exception() is None:
            notify.send("eks", write_exports(started.result(), data_dir))

    async def run() -> None:
        started = asyncio.get_running_loop().create_future()
        started.add_done_callback(listening)
        await serve(data_dir, HOST, port, started=started, stop=asyncio.Event())

    uvloop.run(_until_signalled(run()))


async def _until_signalled(work: Coroutine[None, None, None]) -> None:
    """Run `work` until SIGTERM or SIGINT cancels it."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
    with contextlib.suppress(asyncio.CancelledError):
        await work


def _log_as(role: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True,
                        format=f"%(asctime)s {role}[%(process)d] %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request (scrapes, kubelet proxying)
