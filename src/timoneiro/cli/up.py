"""`timoneiro up`: start a local multi-node cluster in the background and return once every node is Ready
and kubectl points at it; the output follows kind's `create cluster`."""

from __future__ import annotations

import argparse
import os
import subprocess
from typing import TYPE_CHECKING

from timoneiro.cli.console import console
from timoneiro.cli.options import DEFAULT_NAME, add_cluster_options, add_topology_options, data_dir, topology

if TYPE_CHECKING:
    from rich.console import Console

    from timoneiro.cluster.topology import Topology

START_TIMEOUT = 300.0  # generous: on a loaded 2-core machine (a CI run) start-up can take a minute


class StartFailed(Exception):
    pass


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("up", help="start a local multi-node cluster in the background")
    add_cluster_options(parser)
    add_topology_options(parser)
    parser.set_defaults(func=_up)


def _up(args: argparse.Namespace) -> int:
    from timoneiro.cluster.daemon import abort_daemon, start_daemon
    from timoneiro.cluster.names import context_name
    from timoneiro.cluster.state import log_path

    directory = data_dir(args)
    nodes = topology(args, directory)
    refused = _refusal(args, directory, nodes)
    if refused:
        console(stderr=True).print(f"ERROR: failed to create cluster: {refused}", markup=False)
        return 1
    daemon, events = start_daemon(args.name, directory, nodes.nodes, args.port,
                                  ["--runtime", nodes.runtime, "--simulated-nodes", str(nodes.simulated_nodes)]
                                  + (["--eks", "--eks-port", str(args.eks_port)] if args.eks else []))
    out = console(stderr=True)  # rich loads while the cluster starts
    out.print(f'Creating cluster "{args.name}" ...')
    try:
        ready, eks_env = _follow(out, events, daemon, nodes, args.eks)
    except (StartFailed, KeyboardInterrupt) as e:
        abort_daemon(daemon, directory)
        if isinstance(e, KeyboardInterrupt):
            raise
        out.print(f"ERROR: failed to create cluster: {e}\nThe cluster's log: {log_path(directory)}")
        return 1
    finally:
        os.close(events)
    context = context_name(args.name)
    down = "timoneiro down" + ("" if args.name == DEFAULT_NAME else f" --name {args.name}")
    out.print(f'Set kubectl context to "{context}"\nYou can now use your cluster with:\n\n'
              f"kubectl cluster-info --context {context}\n\nStop it with: {down}")
    _print_join_command(out, ready)
    if eks_env:
        out.print(f"\nThe EKS-compatible service listens on 127.0.0.1:{args.eks_port}. Point the aws CLI and "
                  f"boto3 at it as its admin user with:\n\nsource {eks_env}", markup=False)
    return 0


def _print_join_command(out: Console, ready: str) -> None:
    """As `kubeadm init` ends: how other machines join (the components made the token; see `ready`)."""
    if not ready.startswith("timoneiro join "):
        out.print(f"\n{ready}", markup=False)
        return
    command, flags = ready.split(" --discovery-token-ca-cert-hash ")
    out.print("\nThen you can join any number of worker nodes by running the following on each:\n\n"
              f"{command} \\\n\t--discovery-token-ca-cert-hash {flags}", markup=False)


def _refusal(args: argparse.Namespace, directory: str, nodes: Topology) -> str | None:
    from timoneiro.cluster.preflight import refusal
    from timoneiro.cluster.state import running_cluster

    if running := running_cluster(directory):
        return f'cluster "{args.name}" is already running at {running.url}'
    if refused := refusal(nodes):
        return refused
    for port in (args.port, args.eks_port if args.eks else None):
        if port and _listened_on(port):
            return f"something listens on 127.0.0.1:{port}"
    return None


def _listened_on(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _follow(out: Console, events: int, daemon: subprocess.Popen, topology: Topology,
            eks: bool) -> tuple[str, str]:
    """Show kind-style steps as the cluster reports them (a spinner on the current one, ✓ once done), in
    order, until every node is Ready (and the EKS service listens, if asked for); the `ready` event's detail
    (the join command) and the `eks` event's (the file of the service's exports)."""
    from timoneiro.cluster.progress import read_events

    boxes = " ".join("📦" * topology.nodes) + (f" + {topology.simulated_nodes} simulated"
                                               if topology.simulated_nodes else "")
    nodes = topology.nodes + topology.simulated_nodes
    steps = [("apiserver", "Starting storage and API server 🗄️"),
             ("control-plane", "Starting control-plane 🕹️"),
             ("ready", f"Starting nodes {boxes}")] + ([("eks", "Starting the EKS-compatible service ☁️")] if eks else [])
    seen: dict[str, str] = {}
    ready = 0
    with out.status(steps[0][1]) as status:
        try:
            for event, detail in read_events(events, START_TIMEOUT, lambda: daemon.poll() is None):
                if event == "failed":
                    out.print(f" ✗ {steps[0][1]}")
                    raise StartFailed(detail)
                seen[event] = detail
                ready += event == "node"
                while steps and steps[0][0] in seen:
                    out.print(f" ✓ {steps.pop(0)[1]}")
                if not steps:
                    return seen["ready"], seen.get("eks", "")
                status.update(f"{steps[0][1]} ({ready}/{nodes} Ready)" if steps[0][0] == "ready" else steps[0][1])
        except TimeoutError as e:
            raise StartFailed(str(e)) from None
    raise StartFailed(f"the cluster exited with code {daemon.wait()}")
