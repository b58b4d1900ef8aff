"""`timoneiro down`: stop a local cluster and remove its kubeconfig entries, as kind's `delete cluster`
does; its data stays for the next `up` unless --purge."""

from __future__ import annotations

import argparse
import os
import shutil

from timoneiro.cli.console import console
from timoneiro.cli.options import add_cluster_options, data_dir


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("down", help="stop a local cluster (its data is kept for the next `up`)")
    add_cluster_options(parser)
    parser.add_argument("--purge", action="store_true", help="also delete the cluster's data dir")
    parser.set_defaults(func=_down)


def _down(args: argparse.Namespace) -> int:
    from timoneiro.cluster.contexts import remove_context
    from timoneiro.cluster.daemon import stop_daemon
    from timoneiro.cluster.state import LOG_FILE

    out = console(stderr=True)
    directory = data_dir(args)
    out.print(f'Stopping cluster "{args.name}" ...')
    state = stop_daemon(directory)
    remove_context(args.name)
    if state is not None:
        names = " ".join(f'"{n}"' for n in state.nodes)
        out.print(f"Stopped nodes: [{names}]")
    if not args.purge:
        if os.path.isdir(directory):
            out.print(f"Its data stays in {directory} for the next `timoneiro up` (--purge deletes it)")
    elif os.path.exists(os.path.join(directory, LOG_FILE)):  # never delete a directory a cluster did not use
        shutil.rmtree(directory)
        out.print(f"Deleted {directory}")
    elif os.path.isdir(directory):
        out.print(f"ERROR: {directory} holds no cluster's data: not deleting it")
        return 1
    return 0
