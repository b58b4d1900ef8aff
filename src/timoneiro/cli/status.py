"""`timoneiro status`: whether a local cluster runs, where its API server is, and its nodes as
`kubectl get nodes` shows them. Exits 1 when the cluster is not running, for scripts."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from timoneiro.cli.console import console
from timoneiro.cli.options import add_cluster_options, data_dir

if TYPE_CHECKING:
    from rich.table import Table


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("status", help="show whether a local cluster runs, its API server and its nodes")
    add_cluster_options(parser)
    parser.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    from timoneiro.cluster.names import context_name
    from timoneiro.cluster.state import running_cluster

    out = console()
    directory = data_dir(args)
    state = running_cluster(directory)
    if state is None:
        out.print(f'Cluster "{args.name}" is not running (data dir {directory})')
        return 1
    out.print(f'Cluster "{args.name}" is running\n'
              f"API server:  {state.url}\n"
              f"Context:     {context_name(args.name)}\n"
              f"Data dir:    {directory}\n"
              "Processes:   " + ", ".join(f"{p.role} {p.pid}" for p in state.procs if p.alive()))
    try:
        nodes = _nodes(directory)
    except Exception as e:  # the table is a bonus: the processes above are what "running" means
        out.print(f"Nodes: the API server did not answer: {e}")
        return 1
    out.print()
    table = _table(nodes)
    # as wide as it takes (names whole, as kubectl prints them, never cut)
    out.width = max(out.width, out.measure(table, options=out.options.update(max_width=1000)).maximum)
    out.print(table)
    return 0


def _nodes(directory: str) -> list[dict]:
    import asyncio

    from timoneiro.client import Client
    from timoneiro.client.resources import NODES
    from timoneiro.pki.cluster import ClusterPKI

    async def fetch() -> list[dict]:
        async with Client(ClusterPKI(directory).config("admin.conf")) as client:
            return (await client.list(NODES))["items"]

    return asyncio.run(fetch())


def _table(nodes: list[dict]) -> Table:
    """The columns kubectl shows by default, and the container runtime (as `-o wide` does: a cluster's
    nodes may run containerd and simulated ones), from the server's own node printer."""
    from datetime import UTC, datetime

    from rich.table import Table

    from timoneiro.api.printers.cluster import PRINTERS

    printer = PRINTERS[("", "Node")]
    shown = [i for i, c in enumerate(printer.columns) if c["priority"] == 0 or c["name"] == "Container-Runtime"]
    table = Table(box=None, pad_edge=False, padding=(0, 3, 0, 0), header_style="")
    for i in shown:
        table.add_column(printer.columns[i]["name"].upper())
    now = datetime.now(UTC)
    for node in nodes:
        cells = printer.cells(node, now)
        table.add_row(*(str(cells[i]) for i in shown))
    return table
