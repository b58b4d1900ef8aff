"""An EKS node's primary private address (its InternalIP, where the API server reaches its kubelet), held on a
bridge of the node's own in the host's network namespace, as an instance holds it on its primary ENI.

It cannot go on the node's pod bridge: the CNI bridge plugin refuses a bridge that has an IPv4 address other
than its pods' gateway. The VPC's addresses (10.0.0.0/16) are made up; the bridge is ours, and deleting
it takes the address away."""

from __future__ import annotations

import subprocess
from pathlib import Path

from timoneiro.cluster.names import device_name


def device(data_dir: str | Path, node: str) -> str:
    """Named as the pod bridges are, but for its own purpose: never one of theirs."""
    return device_name(str(Path(data_dir).absolute()), node, "eni")


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def attach(name: str, address: str) -> None:
    """The bridge `name`, up, with `address` (/32: no route but the address's own); made afresh."""
    detach(name)
    _ip("link", "add", name, "type", "bridge")
    _ip("addr", "add", f"{address}/32", "dev", name)
    _ip("link", "set", name, "up")


def detach(name: str) -> None:
    if Path(f"/sys/class/net/{name}").exists():
        subprocess.run(["ip", "link", "delete", name], capture_output=True)
