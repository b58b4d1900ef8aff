"""The nodes of a managed node group: one detached process per node group (`timoneiro eks-nodes --spec
FILE`), standing for the group's EC2 instances, runs one kubelet per node its spec file lists. On SIGHUP it
reads the file again, starting the kubelets of new nodes and stopping those of nodes no longer listed (a
node still listed keeps running as it is: label and taint changes are made on its Node object); SIGTERM
stops them all. Node objects outlive their kubelets: removing them is the service's work, as the cloud's
node controller's is on EKS.

A node runs the simulated runtime, or containerd (NodeSpec.runtime): then the agent runs, as
cluster/node_runtimes.py does for a local cluster, a registry with the local images and one containerd per
node, all under the node group's directory. Such a node is as an EKS node is with the VPC CNI: its
InternalIP is held on a bridge of its own (node_network.py), its pods take addresses of its subnet (the
range the service set aside for it at launch, written as the node's CNI config; the Node has no podCIDR),
and its kubelet serves its API on its InternalIP with a certificate it asks the cluster for (a
kubelet-serving CSR, approved as EKS approves its nodes' own), so that logs, exec and port-forward work.

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
from typing import TYPE_CHECKING

import orjson

from timoneiro.cluster.names import CONTAINERD, SIMULATED
from timoneiro.cluster.procs import Proc, terminate
from timoneiro.eks import node_network
from timoneiro.eks.controlplane import _reap_later
from timoneiro.files import write_private

if TYPE_CHECKING:
    from timoneiro.cluster.node_runtimes import NodeRuntimes

SPEC, RECORD, LOG = "nodes.json", "agent.json", "agent.log"
STOP_GRACE = 30.0  # SIGTERM, then SIGKILL (containerd nodes remove their pods first)

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
    runtime: str = SIMULATED  # names.RUNTIMES
    pod_cidr: str | None = None  # the node's pods' addresses (a block of its subnet), with containerd
    client_ca: str | None = None  # the cluster CA, which the kubelet API checks client certificates with


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
        self.directory = os.path.dirname(os.path.abspath(spec_path))
        self.nodes: dict[str, asyncio.Task] = {}
        # the containerd nodes' registry and containerds, made and started with the first such node (an agent
        # of simulated nodes loads none of it)
        self.runtimes: NodeRuntimes | None = None
        self._runtimes_started: asyncio.Task | None = None

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
                self.nodes[name] = asyncio.get_running_loop().create_task(self._run_node(spec), name=name)

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
            if self.runtimes is not None:
                await self.runtimes.stop()

    async def _run_node(self, spec: NodeSpec) -> None:
        from timoneiro.client.kubeconfig import load_kubeconfig
        from timoneiro.kubelet import Kubelet

        options: dict = {"labels": spec.labels}
        eni = node_network.device(self.directory, spec.name)
        try:
            if spec.runtime == CONTAINERD:
                options = await self._containerd_node(spec, eni)
            kubelet = Kubelet(load_kubeconfig(spec.kubeconfig), spec.name, taints=spec.taints,
                              capacity=spec.capacity or None, reserved=spec.reserved or None,
                              provider_id=spec.provider_id, node_addresses=spec.addresses or None, **options)
            try:
                await kubelet.start()
                await asyncio.Future()
            finally:
                await kubelet.stop()
        except Exception:
            log.exception("node %s failed", spec.name)
            raise
        finally:
            if spec.runtime == CONTAINERD:
                await self.runtimes.remove_node(spec.name)
                node_network.detach(eni)

    async def _containerd_node(self, spec: NodeSpec, eni: str) -> dict:
        """Start the node's containerd (and, for the first, the registry) and put its InternalIP on its
        bridge; the kubelet's options for that runtime and its API."""
        from timoneiro.cluster.node_runtimes import NodeRuntimes
        from timoneiro.kubelet.server import Serving

        if self.runtimes is None:
            self.runtimes = NodeRuntimes(CONTAINERD, os.path.basename(self.directory), self.directory, [])
            self._runtimes_started = asyncio.ensure_future(self.runtimes.start())
        await asyncio.shield(self._runtimes_started)
        await self.runtimes.add_node(spec.name, spec.pod_cidr)
        address = next(a["address"] for a in spec.addresses if a["type"] == "InternalIP")
        await asyncio.to_thread(node_network.attach, eni, address)
        cert_dir = os.path.join(self.runtimes.node_dir(spec.name), "pki")
        return {"runtime": self.runtimes.runtime(spec.name),
                "labels": {**spec.labels, **self.runtimes.labels(spec.name)},
                "serving": Serving(address, 0, client_ca_file=spec.client_ca, cert_dir=cert_dir)}


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
