"""`timoneiro registry` and `timoneiro image load`: images for a local cluster's containerd nodes.

`registry` prints the cluster's registry (localhost:PORT, on stdout for scripts), which `up --runtime
containerd` runs and whose port stays the same across restarts; when no cluster runs it, it runs it in the
foreground (with the locally built images) until interrupted. `image load` side-loads image archives into
every node, as `kind load image-archive` does.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from timoneiro.cli.console import console
from timoneiro.cli.options import add_cluster_options, data_dir

if TYPE_CHECKING:
    from timoneiro.images.registry import LocalRegistry


def register(sub: argparse._SubParsersAction) -> None:
    registry = sub.add_parser("registry", help="show the cluster's image registry (or run it in the foreground)")
    add_cluster_options(registry)
    registry.set_defaults(func=_registry)
    image = sub.add_parser("image", help="images of a local cluster's nodes")
    commands = image.add_subparsers(dest="image_command", required=True, metavar="COMMAND")
    load = commands.add_parser("load", help="side-load image archives into every containerd node (as kind load)")
    add_cluster_options(load)
    load.add_argument("archives", nargs="+", metavar="IMAGE.tar|OCI-DIR",
                      help="a docker archive (docker save), an OCI archive or an OCI layout directory")
    load.add_argument("--image-name", metavar="NAME", dest="image_name",
                      help="the name the image gets on the nodes (for an archive of one image; default: the "
                           "name it has in the archive)")
    load.set_defaults(func=_load)


def _registry(args: argparse.Namespace) -> int:
    from timoneiro.images.registry import LocalRegistry

    registry = LocalRegistry(Path(data_dir(args)) / "registry")
    out = console(stderr=True)
    print(registry.name, flush=True)
    if registry.running():
        out.print(f'The registry of cluster "{args.name}": push images to it and run them as {registry.name}/NAME:TAG'
                  f"\n\n  skopeo copy --dest-tls-verify=false oci-archive:app.tar docker://{registry.name}/app:1.0"
                  f"\n  kubectl create deployment app --image={registry.name}/app:1.0", markup=False)
        return 0
    out.print(f'Running the registry of cluster "{args.name}" on {registry.url} until interrupted (Ctrl-C)',
              markup=False)
    asyncio.run(_serve(registry, Path(data_dir(args)) / "images"))
    return 0


async def _serve(registry: LocalRegistry, layout: Path) -> None:
    from timoneiro.images import local

    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await registry.start()
    try:
        await local.publish(registry, layout)
        await stop.wait()
    finally:
        await registry.stop()


def _load(args: argparse.Namespace) -> int:
    from timoneiro.cluster.names import CONTAINERD, NodeSpec
    from timoneiro.cluster.node_runtimes import NodeRuntimes
    from timoneiro.cluster.state import running_cluster
    from timoneiro.images.side_load import LoadError, load

    directory = data_dir(args)
    state = running_cluster(directory)
    if state is None:
        print(f'ERROR: cluster "{args.name}" is not running', file=sys.stderr)
        return 1
    sockets = NodeRuntimes(CONTAINERD, args.name, directory, [NodeSpec(n, False) for n in state.nodes]
                           ).running_sockets()
    if not sockets:
        print(f'ERROR: no node of cluster "{args.name}" runs containerd (timoneiro up --runtime containerd)',
              file=sys.stderr)
        return 1
    nodes = ", ".join(f'"{node}"' for node in sockets)
    for archive in args.archives:
        try:
            names = asyncio.run(load(Path(archive), list(sockets.values()), args.image_name))
        except LoadError as e:
            print(f"ERROR: {e}", file=sys.stderr)
            return 1
        for name in names:
            print(f'Image: "{name}" loaded on nodes {nodes}')
    return 0
