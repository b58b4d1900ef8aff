"""A local cluster's pod network: the /16 its nodes' pod ranges come from.

Real pods' bridges and routes live in the host's network namespace, so two containerd clusters running
at once must not share a pod network. Each takes the first /16 from kind's 10.244.0.0/16 upward that no
route on the host overlaps and no running cluster has claimed, and keeps it in its data dir for its next
start. Claims are files under /run/timoneiro naming the claiming process; a claim whose process is gone
is stale. Choosing and claiming happen under a lock, so clusters started together get different ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path

from timoneiro.cluster.names import POD_NETWORK

CLAIMS = Path("/run/timoneiro/pod-networks")
CANDIDATES = [ipaddress.ip_network(f"10.{octet}.0.0/16") for octet in range(244, 256)]
RECORD = "pod-network"


class PodNetworkTaken(Exception):
    """The pod network this cluster kept is another running cluster's now."""


def claim(data_dir: str, pid: int | None = None, claims: Path = CLAIMS) -> str:
    """The pod network of the cluster in data_dir, claimed for process pid (this one by default)."""
    pid = pid or os.getpid()
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    kept = Path(data_dir) / RECORD
    with _locked(claims):
        if kept.exists():
            network = ipaddress.ip_network(kept.read_text().strip())
            owner = _owner(claims, network)
            if owner not in (None, pid):
                raise PodNetworkTaken(f"this cluster's pod network {network} is in use by another running cluster "
                                      f"(process {owner}); stop that cluster first")
        else:
            network = _free(claims, host_routes())
            kept.write_text(f"{network}\n")
        (claims / _file(network)).write_text(str(pid))
    return str(network)


def release(data_dir: str, pid: int | None = None, claims: Path = CLAIMS) -> None:
    """Give back the claim process pid holds on the cluster's pod network, if it holds it."""
    kept = Path(data_dir) / RECORD
    if not kept.exists():
        return
    with _locked(claims):
        network = ipaddress.ip_network(kept.read_text().strip())
        if _owner(claims, network) == (pid or os.getpid()):
            (claims / _file(network)).unlink(missing_ok=True)


def host_routes() -> list[ipaddress.IPv4Network]:
    """The IPv4 destinations of the host's routes, but the default route (from /proc/net/route)."""
    routes = []
    with open("/proc/net/route") as table:
        next(table)
        for line in table:
            fields = line.split()
            destination, mask = (ipaddress.IPv4Address(int(f, 16).to_bytes(4, "little")) for f in (fields[1], fields[7]))
            network = ipaddress.ip_network(f"{destination}/{mask}", strict=False)
            if network.prefixlen:
                routes.append(network)
    return routes


def _free(claims: Path, routes: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    for network in CANDIDATES:
        if _owner(claims, network) is None and not any(network.overlaps(route) for route in routes):
            return network
    raise PodNetworkTaken(f"no pod network is free: every /16 from {POD_NETWORK} to {CANDIDATES[-1]} is routed on "
                          "this host or claimed by a running cluster")


def _owner(claims: Path, network: ipaddress.IPv4Network) -> int | None:
    """The live process that claimed network, if any."""
    try:
        pid = int((claims / _file(network)).read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def _file(network: ipaddress.IPv4Network) -> str:
    return str(network).replace("/", "_")


@contextlib.contextmanager
def _locked(claims: Path) -> Iterator[None]:
    claims.mkdir(parents=True, exist_ok=True)
    with open(claims / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
