"""`timoneiro join HOST:PORT --token T --discovery-token-ca-cert-hash sha256:H`: make this process a node of
a running cluster, as `kubeadm join` does (see cluster/join.py), and run its kubelet (`--runtime
containerd`: with a containerd of its own) until SIGTERM or SIGINT stops it."""

from __future__ import annotations

import argparse
import os
import socket
import sys

from timoneiro.cluster.names import RUNTIMES, SIMULATED


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("join", help="join a running cluster as a new node, with a bootstrap token")
    parser.add_argument("endpoint", metavar="HOST:PORT", help="the cluster's API server")
    parser.add_argument("--token", required=True, help="a bootstrap token (`timoneiro token create`)")
    parser.add_argument("--discovery-token-ca-cert-hash", dest="ca_cert_hashes", action="append", default=[],
                        metavar="sha256:HASH", help="the public key hash of the CA the cluster must present "
                                                    "(repeatable: any one of them will do)")
    parser.add_argument("--node-name", help="the node's name (default: this host's name)")
    parser.add_argument("--data-dir",
                        help="where the node keeps its kubeconfig (default ~/.timoneiro/nodes/NAME)")
    parser.add_argument("--runtime", choices=RUNTIMES, default=SIMULATED,
                        help="the node's container runtime: simulated (no processes, the default) or "
                             "containerd (real containers: as root, a containerd of the node's own)")
    parser.add_argument("--node-ip", default="127.0.0.1",
                        help="the node's InternalIP, where its kubelet API listens and the API server reaches "
                             "it (a loopback address; default 127.0.0.1)")
    parser.add_argument("--kubelet-port", type=int, default=0,
                        help="the kubelet API's port (default: any free one, told in the Node's status)")
    parser.set_defaults(func=_join)


def _join(args: argparse.Namespace) -> int:
    import logging

    import uvloop

    from timoneiro.cluster.join import JoinError, JoinOptions, join
    from timoneiro.cluster.supervisor import _until_signalled

    node = args.node_name or socket.gethostname().lower()
    directory = os.path.abspath(os.path.expanduser(args.data_dir or os.path.join("~/.timoneiro/nodes", node)))
    options = JoinOptions(args.endpoint, args.token, args.ca_cert_hashes, node, directory, runtime=args.runtime,
                          node_ip=args.node_ip, kubelet_port=args.kubelet_port)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    try:
        uvloop.run(_until_signalled(join(options, lambda line: print(line, flush=True))))
    except JoinError as e:
        print(f"error execution phase {e.phase}: {e}", file=sys.stderr)
        return 1
    return 0
