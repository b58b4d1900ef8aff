"""`timoneiro eks serve`: the EKS-compatible service in the foreground, which the real `aws` CLI and boto3
use through AWS_ENDPOINT_URL (or --endpoint-url / endpoint_url). On start it prints the endpoint and the
admin user's credentials as shell exports, and writes them to DATA_DIR/aws.env."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import TYPE_CHECKING

from timoneiro.cluster.names import RUNTIMES, SIMULATED

if TYPE_CHECKING:
    from timoneiro.eks.service import Eks

DEFAULT_ADDRESS = "127.0.0.1:4566"
ENV_FILE = "aws.env"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eks", help="the EKS-compatible service (clusters and node groups, by the AWS "
                                        "API)")
    commands = parser.add_subparsers(dest="eks_command", required=True)
    serve = commands.add_parser("serve", help="run the service in the foreground until SIGTERM or SIGINT")
    serve.add_argument("--data-dir", default="~/.timoneiro/eks",
                       help="where its state, users and clusters live (default ~/.timoneiro/eks)")
    serve.add_argument("--address", default=DEFAULT_ADDRESS,
                       help=f"HOST:PORT to listen on, plain HTTP (default {DEFAULT_ADDRESS})")
    serve.add_argument("--region", default="us-east-1", help="the region it serves (default us-east-1)")
    serve.add_argument("--node-runtime", choices=RUNTIMES, default=SIMULATED,
                       help="the container runtime of node groups' nodes: simulated (no processes, the default) "
                            "or containerd (real containers, as root; pods get addresses of the node's subnet, "
                            "as with the VPC CNI). A node group's label timoneiro.io/container-runtime chooses "
                            "for its own nodes")
    serve.set_defaults(func=_serve)

    update = commands.add_parser("update-kubeconfig", help="write a kubeconfig context for a cluster whose "
                                 "user signs in with `timoneiro eks get-token` (as `aws eks update-kubeconfig`)")
    update.add_argument("--name", required=True, help="the cluster's name")
    update.add_argument("--kubeconfig", help="the file to write (default: the first of $KUBECONFIG, or "
                                             "~/.kube/config)")
    update.add_argument("--alias", help="the context's name (default: the cluster's ARN)")
    update.add_argument("--user-alias", help="the user's name (default: the cluster's ARN)")
    _aws_options(update)
    update.set_defaults(func=_update_kubeconfig)

    token = commands.add_parser("get-token", help="an EKS token for a cluster, as the ExecCredential kubectl "
                                                  "reads (as `aws eks get-token`)")
    token.add_argument("--cluster-name", required=True, help="the cluster's name")
    _aws_options(token)
    token.set_defaults(func=_get_token)


def _aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="the AWS region (default: the aws CLI's, e.g. AWS_DEFAULT_REGION)")
    parser.add_argument("--profile", help="the AWS profile whose credentials sign (default: the aws CLI's)")
    parser.add_argument("--endpoint-url", help="the EKS-compatible service (default: AWS_ENDPOINT_URL)")


def _update_kubeconfig(args: argparse.Namespace) -> int:
    from timoneiro.eks.kubeconfig import update_kubeconfig

    print(_aws_call(update_kubeconfig, args.name, region=args.region, profile=args.profile,
                    endpoint_url=args.endpoint_url, path=args.kubeconfig, alias=args.alias,
                    user_alias=args.user_alias))
    return 0


def _get_token(args: argparse.Namespace) -> int:
    from timoneiro.eks.kubeconfig import get_token

    print(_aws_call(get_token, args.cluster_name, region=args.region, profile=args.profile,
                    endpoint_url=args.endpoint_url))
    return 0


def _aws_call(call, *args, **kwargs) -> str:
    """The call's answer, or exit with the error as the aws CLI words it."""
    from botocore.exceptions import BotoCoreError, ClientError

    from timoneiro.eks.kubeconfig import ClusterNotReady

    try:
        return call(*args, **kwargs)
    except (BotoCoreError, ClientError, ClusterNotReady) as e:
        sys.exit(str(e))


def _serve(args: argparse.Namespace) -> int:
    import logging

    import uvloop

    host, _, port = args.address.rpartition(":")
    if not port.isdigit():
        sys.exit(f"Error: --address must be HOST:PORT, not {args.address!r}")
    directory = os.path.abspath(os.path.expanduser(args.data_dir))
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    try:
        uvloop.run(_run(directory, host or "127.0.0.1", int(port), args.region, args.node_runtime))
    except OSError as e:
        sys.exit(f"Error: cannot listen on {args.address}: {e.strerror or e}")
    return 0


async def _run(directory: str, host: str, port: int, region: str, node_runtime: str) -> None:
    from timoneiro.eks.server import launch

    eks, serving = await launch(directory, host, port, region, node_runtime=node_runtime)
    _announce(eks, directory)
    await serving


def exports(eks: Eks) -> str:
    """What a shell needs for `aws eks ...` to reach the service as its admin user."""
    key = eks.iam.admin
    values = {"AWS_ACCESS_KEY_ID": key.principal.access_key_id,
              "AWS_SECRET_ACCESS_KEY": key.secret_access_key, "AWS_DEFAULT_REGION": eks.region,
              "AWS_ENDPOINT_URL": eks.url}
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in values.items())


def write_exports(eks: Eks, directory: str) -> str:
    """Write the exports to DIRECTORY/aws.env (private: it holds a secret key); the file's path."""
    from timoneiro.files import write_private

    path = os.path.join(directory, ENV_FILE)
    write_private(path, exports(eks).encode())
    return path


def _announce(eks: Eks, directory: str) -> None:
    path = write_exports(eks, directory)
    print(f"The EKS-compatible service listens on {eks.url} (region {eks.region}); its data is in "
          f"{directory}.\n"
          f"Point the aws CLI and boto3 at it as its admin user (or `source {path}`):\n\n{exports(eks)}",
          flush=True)
