"""The nodes of a managed node group: one detached process per node group (`timoneiro eks-nodes --spec
FILE`), standing for the group's EC2 instances, runs one kubelet (simulated runtime) per node its spec file
lists. On SIGHUP it reads the file again, starting the kubelets of new nodes and stopping those of nodes no
longer listed (a node still listed keeps running as it is: label and taint changes are made on its Node
object); SIGTERM stops them all. Node objects outlive their kubelets: removing them is the service's work,
as the cloud's node controller's is on EKS.

The service side (AgentProcess) writes the spec, starts the process in a session of its own with its
output in a log beside the spec, and records it (pid and start time) so that it alone is ever signalled."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import orjson

from timoneiro.cluster.procs import Proc, terminate
from timoneiro.eks.controlplane import _reap_later
from timoneiro.files import write_private

SPEC, RECORD, LOG = "nodes.json", "agent.json", "agent.log"
STOP_GRACE = 10.0  # SIGTERM, then SIGKILL

log = logging.getLogger("timoneiro.eks.nodeagent")


@dataclass(frozen=True)
class NodeSpec:
    """One node as its kubelet is started: --kubeconfig, --node-labels, --register-with-taints, capacity
    and --kube-reserved, --provider-id, and the addresses the cloud reports for it."""

    name: str
    kubeconfig: str
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict] = field(default_factory=list)
    capacity: dict[str, str] = field(default_factory=dict)
    reserved: dict[str, str] = field(default_factory=dict)
    provider_id: str | None = None
    addresses: list[dict] = field(default_factory=list)


def read_spec(path: str) -> dict[str, NodeSpec]:
    with open(path, "rb") as f:
        return {n["name"]: NodeSpec(**n) for n in orjson.loads(f.read())["nodes"]}


def write_spec(path: str, nodes: Iterable[NodeSpec]) -> None:
    """Atomically (the agent may read it at any time), private (it names the nodes' credentials)."""
    write_private(path, orjson.dumps({"nodes": [asdict(n) for n in nodes]}, option=orjson.OPT_INDENT_2))


# the agent process


class NodeAgent:
    def __init__(self, spec_path: str) -> None:
        self.spec_path = spec_path
        self.nodes: dict[str, asyncio.Task] = {}

    def reload(self) -> None:
        try:
            wanted = read_spec(self.spec_path)
        except (OSError, ValueError, TypeError, KeyError) as e:
            log.error("cannot read %s, keeping the nodes as they are: %s", self.spec_path, e)
            return
        for name in [n for n in self.nodes if n not in wanted]:
            log.info("stopping node %s", name)
            self.nodes.pop(name).cancel()
        for name, spec in wanted.items():
            if name not in self.nodes:
                log.info("starting node %s", name)
                self.nodes[name] = asyncio.get_running_loop().create_task(_run_node(spec), name=name)

    async def run(self) -> None:
        """Until cancelled (SIGTERM); SIGHUP reloads. The process started with SIGHUP blocked, so that one
        sent before this handler was in place waits for it instead of killing the process."""
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
        self.reload()
        try:
            await asyncio.Future()
        finally:
            tasks = list(self.nodes.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _run_node(spec: NodeSpec) -> None:
    from timoneiro.client.kubeconfig import load_kubeconfig
    from timoneiro.kubelet import Kubelet

    kubelet = Kubelet(load_kubeconfig(spec.kubeconfig), spec.name, labels=spec.labels, taints=spec.taints,
                      capacity=spec.capacity or None, reserved=spec.reserved or None,
                      provider_id=spec.provider_id, node_addresses=spec.addresses or None)
    try:
        await kubelet.start()
        await asyncio.Future()
    finally:
        await kubelet.stop()


# the service's side


class AgentProcess:
    """The agent of one node group, by its directory: the spec (SPEC), the process record (RECORD), the
    log (LOG). The blocking methods belong on a worker thread."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.spec_path = os.path.join(directory, SPEC)
        self.record_path = os.path.join(directory, RECORD)

    def proc(self) -> Proc | None:
        try:
            with open(self.record_path) as f:
                return Proc(**json.load(f))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def running(self) -> bool:
        proc = self.proc()
        return proc is not None and proc.alive()

    def apply(self, nodes: list[NodeSpec]) -> None:
        """Make the agent run exactly these nodes: write the spec, then signal the agent to reload it, or
        start one (unless there is nothing to run)."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        write_spec(self.spec_path, nodes)
        proc = self.proc()
        if proc is not None and proc.alive():
            proc.signal(signal.SIGHUP)
        elif nodes:
            self.start()

    def start(self) -> None:
        """The agent, in a session of its own, with SIGHUP blocked until it has its handler (see run)."""
        if self.running() or not os.path.exists(self.spec_path):
            return
        command = [sys.executable, "-m", "timoneiro", "eks-nodes", "--spec", self.spec_path]
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            with open(os.path.join(self.directory, LOG), "ab") as out:
                agent = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, cwd="/")
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        with open(self.record_path + ".tmp", "w") as f:
            json.dump(asdict(Proc.of("eks-nodes", agent.pid)), f)
        os.replace(self.record_path + ".tmp", self.record_path)
        _reap_later(agent)

    def stop(self) -> None:
        proc = self.proc()
        if proc is not None:
            terminate([proc], STOP_GRACE)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.record_path)
