"""Options the cluster commands share: which cluster (by name), where its data lives, and what it is made
of (its topology: as it last ran unless given)."""

from __future__ import annotations

import argparse
import os

from timoneiro.cluster.names import RUNTIMES
from timoneiro.cluster.preflight import MAX_NODES
from timoneiro.cluster.topology import Topology

DEFAULT_NAME = "timoneiro"
EKS_PORT = 4566  # as `timoneiro eks serve`'s


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"the cluster's name (default {DEFAULT_NAME})")
    parser.add_argument("--data-dir", help="where the cluster keeps its state and log (default ~/.timoneiro/NAME)")


def add_topology_options(parser: argparse.ArgumentParser) -> None:
    # the topology's options are None unless given: `topology` fills them in from the data dir
    parser.add_argument("--nodes", type=_node_count,
                        help="how many nodes, the control plane included (default: as the cluster last ran, "
                             f"else {Topology.nodes}); 0 for a control plane without nodes, which join later")
    parser.add_argument("--port", type=int, help="the API server's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--runtime", choices=RUNTIMES,
                        help="the nodes' container runtime: simulated (no processes) or containerd (real "
                             "containers: one containerd per node, needs root); default: as the cluster last ran, "
                             f"else {Topology.runtime}")
    parser.add_argument("--simulated-nodes", type=_node_count, metavar="N",
                        help="also N simulated nodes (no processes), NAME-sim-worker, NAME-sim-worker2, ..., "
                             "tainted timoneiro.io/container-runtime=simulated:NoSchedule: beside containerd "
                             "nodes, only pods that tolerate it land there (default: as the cluster last ran, "
                             "else 0)")
    parser.add_argument("--eks", action="store_true",
                        help="also run the EKS-compatible service (see `timoneiro eks serve`), its data under "
                             "DATA_DIR/eks")
    parser.add_argument("--eks-port", type=int, default=EKS_PORT,
                        help=f"the EKS-compatible service's port on 127.0.0.1 (default {EKS_PORT})")


def data_dir(args: argparse.Namespace) -> str:
    from timoneiro.cluster.state import default_data_dir

    return os.path.abspath(os.path.expanduser(args.data_dir)) if args.data_dir else default_data_dir(args.name)


def topology(args: argparse.Namespace, directory: str) -> Topology:
    """The options given; for those not given, what the data dir kept from the cluster's last start."""
    return Topology.load(directory).overridden(nodes=args.nodes, runtime=args.runtime,
                                               simulated_nodes=args.simulated_nodes)


def _node_count(text: str) -> int:
    count = int(text)
    if not 0 <= count <= MAX_NODES:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_NODES}")
    return count
