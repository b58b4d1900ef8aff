"""`timoneiro cluster`: a local cluster in the foreground, logging to the terminal; `up` runs it in the
background."""

from __future__ import annotations

import argparse
import os
import sys

from timoneiro.cli.options import add_cluster_options, add_topology_options, data_dir, topology
from timoneiro.cluster import pod_network
from timoneiro.cluster.names import CONTAINERD, POD_NETWORK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("cluster", help="run a local cluster in the foreground (what `up` runs in the background)")
    add_cluster_options(parser)
    add_topology_options(parser)
    parser.add_argument("--notify-fd", type=int, help=argparse.SUPPRESS)  # `up` reads progress from this pipe
    parser.add_argument("--no-kubeconfig", dest="kubeconfig", action="store_false",
                        help="leave the user's kubeconfig alone (a managed cluster's users get theirs elsewhere)")
    parser.add_argument("--authentication-token-webhook-config-file", metavar="FILE",
                        help="the API server asks the service this kubeconfig names about bearer tokens it does "
                             "not know (as an EKS cluster asks EKS)")
    parser.add_argument("--service-cluster-ip-range", metavar="CIDR",
                        help="where Services' cluster IPs come from (default 10.96.0.0/12)")
    parser.add_argument("--cluster-cidr", metavar="CIDR",
                        help=f"the pod network; each node gets a /24 of it (default {POD_NETWORK}, or for "
                             "containerd nodes the first /16 upward that no route or running cluster uses; empty: "
                             "nodes get none, as a managed cluster's take pod addresses elsewhere)")
    parser.set_defaults(func=_cluster)


def _cluster(args: argparse.Namespace) -> int:
    from timoneiro.cluster.preflight import refusal
    from timoneiro.cluster.state import running_cluster
    from timoneiro.cluster.supervisor import run

    directory = data_dir(args)
    nodes = topology(args, directory)
    if running := running_cluster(directory):
        print(f'ERROR: cluster "{args.name}" is already running at {running.url}', file=sys.stderr)
        return 1
    if refused := refusal(nodes):
        print(f"ERROR: {refused}", file=sys.stderr)
        return 1
    nodes.save(directory)  # for the next start
    webhook = args.authentication_token_webhook_config_file
    options = {"authentication_token_webhook_config_file": os.path.abspath(webhook)} if webhook else {}
    if args.service_cluster_ip_range:
        options["service_cluster_ip_range"] = args.service_cluster_ip_range
    if args.cluster_cidr is not None or nodes.runtime != CONTAINERD:
        return run(args.name, directory, nodes, args.port, args.notify_fd, args.kubeconfig, options,
                   args.eks_port if args.eks else None, POD_NETWORK if args.cluster_cidr is None
                   else args.cluster_cidr or None)
    try:
        cluster_cidr = pod_network.claim(directory)
    except pod_network.PodNetworkTaken as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    try:
        return run(args.name, directory, nodes, args.port, args.notify_fd, args.kubeconfig, options,
                   args.eks_port if args.eks else None, cluster_cidr)
    finally:
        pod_network.release(directory)
