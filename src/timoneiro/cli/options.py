"""Options the cluster commands share: which cluster (by name) and where its data lives."""

from __future__ import annotations

import argparse
import os

from timoneiro.cluster.names import RUNTIMES, SIMULATED

DEFAULT_NAME = "timoneiro"
EKS_PORT = 4566  # as `timoneiro eks serve`'s
MAX_NODES = 256  # each node gets a /24 of 10.244.0.0/16


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"the cluster's name (default {DEFAULT_NAME})")
    parser.add_argument("--data-dir", help="where the cluster keeps its state and log (default ~/.timoneiro/NAME)")


def add_topology_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=_node_count, default=3,
                        help="how many nodes, the control plane included (default 3); 0 for a control plane "
                             "without nodes, which join later")
    parser.add_argument("--port", type=int, help="the API server's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--runtime", choices=RUNTIMES, default=SIMULATED,
                        help="the nodes' container runtime: simulated (no processes; the default) or containerd "
                             "(real containers: one containerd per node, needs root)")
    parser.add_argument("--eks", action="store_true",
                        help="also run the EKS-compatible service (see `timoneiro eks serve`), its data under "
                             "DATA_DIR/eks")
    parser.add_argument("--eks-port", type=int, default=EKS_PORT,
                        help=f"the EKS-compatible service's port on 127.0.0.1 (default {EKS_PORT})")


def data_dir(args: argparse.Namespace) -> str:
    from timoneiro.cluster.state import default_data_dir

    return os.path.abspath(os.path.expanduser(args.data_dir)) if args.data_dir else default_data_dir(args.name)


def _node_count(text: str) -> int:
    count = int(text)
    if not 0 <= count <= MAX_NODES:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_NODES}")
    return count
