"""The `timoneiro` command."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from timoneiro.cli import certs, cluster, down, eks, eks_nodes, images, join, status, token, up


def _server(args: argparse.Namespace) -> None:
    import uvloop

    from timoneiro.apiserver.authn.tokenfile import TokenFileError
    from timoneiro.apiserver.authn.webhook import WebhookConfigError
    from timoneiro.apiserver.authz.modes import DEFAULT_MODE, parse_modes
    from timoneiro.apiserver.server import serve
    from timoneiro.gctune import tune_for_service
    from timoneiro.storage.encryption import ConfigError

    tune_for_service()
    args.authorization_mode = args.authorization_mode or DEFAULT_MODE
    try:
        parse_modes(args.authorization_mode)
    except ValueError as e:
        sys.exit(f"Error: {e}")
    host, _, port = args.address.rpartition(":")
    directory = os.path.abspath(args.data_dir)
    if args.secure:
        print(f"The administrator's kubeconfig: {os.path.join(directory, 'admin.conf')}", flush=True)
    try:
        uvloop.run(serve(directory, host or "127.0.0.1", int(port), controllers=args.controllers,
                         secure=args.secure, encryption_provider_config=args.encryption_provider_config,
                         token_auth_file=args.token_auth_file, authorization_mode=args.authorization_mode,
                         authentication_token_webhook_config_file=args.authentication_token_webhook_config_file,
                         authentication_token_webhook_cache_ttl=args.authentication_token_webhook_cache_ttl))
    except ConfigError as e:  # as kube-apiserver refuses a bad file: the message, no traceback
        sys.exit(f"Error: {e}")
    except (TokenFileError, WebhookConfigError) as e:
        sys.exit(f"Error: invalid authentication config: {e}")


def _duration(text: str) -> float:
    """A Go duration ("2m", "30s") in seconds, as kube-apiserver's duration flags take it."""
    from timoneiro.controllers.cron_schedule import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="timoneiro", description="Kubernetes and EKS, in Python")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server = sub.add_parser("server", help="run the API server")
    server.add_argument("--data-dir", default=os.path.expanduser("~/.timoneiro/server"))
    server.add_argument("--address", default="127.0.0.1:6443", help="HOST:PORT to listen on")
    server.add_argument("--no-controllers", dest="controllers", action="store_false",
                        help="run the API server alone, as kube-apiserver (no controller manager beside it)")
    server.add_argument("--no-security", dest="secure", action="store_false",
                        help="serve plain HTTP where every request is the superuser: only to measure what "
                             "TLS, authentication and authorization cost, never for a cluster anyone uses")
    server.add_argument("--encryption-provider-config", metavar="FILE",
                        help="an EncryptionConfiguration for encryption at rest (default: Secrets encrypted "
                             "with a generated key, DATA_DIR/pki/encryption-config.yaml)")
    server.add_argument("--token-auth-file", metavar="FILE",
                        help="static bearer tokens: a CSV file of token,user,uid[,\"group1,group2\"] lines")
    server.add_argument("--authentication-token-webhook-config-file", metavar="FILE",
                        help="a kubeconfig naming the service that checks bearer tokens no other authenticator "
                             "knows (it is sent TokenReviews)")
    server.add_argument("--authentication-token-webhook-cache-ttl", metavar="DURATION", type=_duration,
                        default="2m", help="how long the webhook's answers are kept (default 2m)")
    server.add_argument("--authorization-mode", metavar="MODES",
                        help="authorizers to ask in order, a comma list of AlwaysAllow, Node and RBAC "
                             "(as kube-apiserver's; default Node,RBAC)")
    server.set_defaults(func=_server)
    for command in (up, down, status, cluster, certs, token, join, eks, eks_nodes, images):
        command.register(sub)
    # commands other processes run (help=SUPPRESS) are left out of the help, which argparse cannot do itself
    sub._choices_actions = [a for a in sub._choices_actions if a.help != argparse.SUPPRESS]
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(args.func(args))


if __name__ == "__main__":
    main()
