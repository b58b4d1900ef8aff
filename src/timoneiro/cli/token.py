"""`timoneiro token create|list|delete|generate`: kubeadm's bootstrap token commands, run as the cluster's
administrator (its admin.conf) against a cluster chosen by --name or --data-dir."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from timoneiro.cli.options import add_cluster_options, data_dir

if TYPE_CHECKING:
    from timoneiro.client import Client, ClientConfig

HEADER = ["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"]


def register(sub: argparse._SubParsersAction) -> None:
    from timoneiro.pki import bootstrap_token as bt

    parser = sub.add_parser("token", help="manage bootstrap tokens, with which nodes join the cluster")
    commands = parser.add_subparsers(dest="token_command", required=True)
    create = commands.add_parser("create", help="create a bootstrap token on the server")
    create.add_argument("token", nargs="?", help=f"the token to write, of the form {bt.TOKEN_PATTERN} "
                                                 "(default: a random one)")
    create.add_argument("--ttl", type=_ttl, default=bt.DEFAULT_TTL,
                        help="how long until the token is deleted, e.g. 1s, 2m, 3h; 0 never expires "
                             "(default 24h)")
    create.add_argument("--usages", type=_list, default=list(bt.USAGES),
                        help=f"how the token may be used, among {','.join(bt.USAGES)} (default: both)")
    create.add_argument("--groups", type=_list, default=[bt.NODE_GROUP],
                        help=f"extra groups the token authenticates as (default {bt.NODE_GROUP})")
    create.add_argument("--description", default="", help="a human friendly description of the token's use")
    create.add_argument("--print-join-command", action="store_true",
                        help="print the whole `timoneiro join` command for the token, not the token only")
    listing = commands.add_parser("list", help="list the bootstrap tokens on the server")
    delete = commands.add_parser("delete", help="delete bootstrap tokens on the server")
    delete.add_argument("tokens", nargs="+", metavar="TOKEN", help="a whole token, or its id")
    generate = commands.add_parser("generate", help="print a random token, without creating it on the server")
    for command, func in ((create, _create), (listing, _list_tokens), (delete, _delete)):
        add_cluster_options(command)
        command.set_defaults(func=func)
    generate.set_defaults(func=lambda _args: print(bt.generate()))


def _ttl(text: str) -> timedelta:
    from timoneiro.controllers.cron_schedule import ScheduleError, parse_duration

    try:
        return timedelta(seconds=parse_duration(text))
    except ScheduleError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _list(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


def _run(args: argparse.Namespace, work: Callable[[Client, ClientConfig], Awaitable[int]]) -> int:
    """Run `work` with a client of the cluster's admin.conf; errors as kubeadm prints them."""
    from timoneiro.client import ApiError, Client, TransportError
    from timoneiro.cluster.tokens import TokenError, admin_config

    async def main() -> int:
        config = admin_config(data_dir(args))
        async with Client(config) as client:
            return await work(client, config)

    try:
        return asyncio.run(main())
    except (TokenError, ApiError, TransportError) as e:
        print(e, file=sys.stderr)
        return 1


def _create(args: argparse.Namespace) -> int:
    from timoneiro.cluster.tokens import create_token, join_command

    async def create(client: Client, config: ClientConfig) -> int:
        token = await create_token(client, args.token, ttl=args.ttl, usages=tuple(args.usages),
                                   groups=tuple(args.groups), description=args.description)
        print(join_command(config, token) if args.print_join_command else token)
        return 0

    return _run(args, create)


def _list_tokens(args: argparse.Namespace) -> int:
    from timoneiro.cli.certs import tabulate
    from timoneiro.cluster.tokens import list_tokens

    async def listing(client: Client, _config: ClientConfig) -> int:
        rows = [HEADER]
        for secret in await list_tokens(client):
            row = token_row(secret, datetime.now(UTC))
            if row is None:
                name = secret["metadata"]["name"]
                print(f'the Secret "{name}" is not a valid bootstrap token', file=sys.stderr)
            else:
                rows.append(row)
        print(tabulate(rows))
        return 0

    return _run(args, listing)


def token_row(secret: dict, now: datetime) -> list[str] | None:
    """One line of `kubeadm token list`: <forever>/<never> for a token that does not expire, <none> for
    what it lacks; None for a Secret that is no token."""
    from timoneiro.cli.certs import short_human_duration
    from timoneiro.pki import bootstrap_token as bt

    data = bt.data_of(secret)
    token_id = bt.id_of_secret_name(secret["metadata"]["name"])
    if token_id is None or data.get(bt.ID_KEY) != token_id or not data.get(bt.SECRET_KEY):
        return None
    ttl, expires = "<forever>", "<never>"
    if data.get(bt.EXPIRATION_KEY):
        when = bt.parse_time(data[bt.EXPIRATION_KEY])
        if when is None:
            return None
        ttl, expires = short_human_duration(when - now), bt.rfc3339(when)
    return [f"{token_id}.{data[bt.SECRET_KEY]}", ttl, expires, ",".join(bt.usages(data)) or "<none>",
            data.get(bt.DESCRIPTION_KEY) or "<none>", data.get(bt.GROUPS_KEY) or "<none>"]


def _delete(args: argparse.Namespace) -> int:
    from timoneiro.cluster.tokens import delete_token

    async def delete(client: Client, _config: ClientConfig) -> int:
        for token in args.tokens:
            print(f'bootstrap token "{await delete_token(client, token)}" deleted')
        return 0

    return _run(args, delete)
