"""`timoneiro eks-nodes --spec FILE` (hidden): the node agent of one EKS managed node group, which the EKS
service starts and signals (see eks/nodeagent.py); it runs until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eks-nodes", help=argparse.SUPPRESS)
    parser.add_argument("--spec", required=True, metavar="FILE", help="the node group's nodes (JSON)")
    parser.set_defaults(func=_eks_nodes)


def _eks_nodes(args: argparse.Namespace) -> int:
    import uvloop

    from timoneiro.cluster.supervisor import _log_as, _until_signalled
    from timoneiro.eks.nodeagent import NodeAgent

    _log_as("eks-nodes")
    uvloop.run(_until_signalled(NodeAgent(args.spec).run()))
    return 0
