"""The `timoneiro` command."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from timoneiro.cli import cluster, down, status, up


def _server(args: argparse.Namespace) -> None:
    import uvloop

    from timoneiro.apiserver.server import serve

    host, _, port = args.address.rpartition(":")
    directory = os.path.abspath(args.data_dir)
    if args.secure:
        print(f"The administrator's kubeconfig: {os.path.join(directory, 'admin.conf')}", flush=True)
    uvloop.run(serve(directory, host or "127.0.0.1", int(port), controllers=args.controllers, secure=args.secure))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="timoneiro", description="Kubernetes and EKS, in Python")
    sub = parser.add_subparsers(dest="command", required=True)
    server = sub.add_parser("server", help="run the API server")
    server.add_argument("--data-dir", default=os.path.expanduser("~/.timoneiro/server"))
    server.add_argument("--address", default="127.0.0.1:6443", help="HOST:PORT to listen on")
    server.add_argument("--no-controllers", dest="controllers", action="store_false",
                        help="run the API server alone, as kube-apiserver (no controller manager beside it)")
    server.add_argument("--no-security", dest="secure", action="store_false",
                        help="serve plain HTTP where every request is the superuser: only to measure what "
                             "TLS, authentication and authorization cost, never for a cluster anyone uses")
    server.set_defaults(func=_server)
    for command in (up, down, status, cluster):
        command.register(sub)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(args.func(args))


if __name__ == "__main__":
    main()
