"""A local cluster's pod network: the /16 its nodes' pod ranges come from.

Real pods' bridges and routes live in the host's network namespace, so two containerd clusters running
at once must not share a pod network. Each takes the first /16 from kind's 10.244.0.0/16 upward that no
route on the host overlaps and no other cluster has claimed, and keeps it in its data dir for its next
start. Claims are files under /run/timoneiro naming the claiming process and data dir: a stopped cluster's
network stays its own while its data dir keeps it, and is lent to another cluster only when no other is
free. Choosing and claiming happen under a lock, so clusters started together get different ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from timoneiro.cluster.names import POD_NETWORK

CLAIMS = Path("/run/timoneiro/pod-networks")
CANDIDATES = [ipaddress.ip_network(f"10.{octet}.0.0/16") for octet in range(244, 256)]
RECORD = "pod-network"


class PodNetworkTaken(Exception):
    """The pod network this cluster kept is another running cluster's now."""


@dataclass(frozen=True)
class Claim:
    pid: int
    data_dir: Path

    @property
    def running(self) -> bool:
        if self.pid <= 0:  # released
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def keeps(self, network: ipaddress.IPv4Network) -> bool:
        """Whether the claimant still holds network: it runs, or its data dir records it for its next start."""
        try:
            kept = (self.data_dir / RECORD).read_text().strip()
        except FileNotFoundError:
            kept = None
        return self.running or kept == str(network)


def claim(data_dir: str, pid: int | None = None, claims: Path = CLAIMS) -> str:
    """The pod network of the cluster in data_dir, claimed for process pid (this one by default)."""
    pid = pid or os.getpid()
    directory = Path(data_dir).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    kept = directory / RECORD
    with _locked(claims):
        if kept.exists():
            network = ipaddress.ip_network(kept.read_text().strip())
            other = _claim(claims, network)
            if other is not None and other.data_dir != directory and other.running:
                raise PodNetworkTaken(f"this cluster's pod network {network} is in use by another running cluster "
                                      f"(process {other.pid}, {other.data_dir}); stop that cluster first")
        else:
            network = _free(claims, host_routes(), directory)
            kept.write_text(f"{network}\n")
        (claims / _file(network)).write_text(f"{pid}\n{directory}\n")
    return str(network)


def release(data_dir: str, pid: int | None = None, claims: Path = CLAIMS) -> None:
    """Give back the claim process pid holds on the cluster's pod network, if it holds it."""
    kept = Path(data_dir) / RECORD
    if not kept.exists():
        return
    with _locked(claims):
        network = ipaddress.ip_network(kept.read_text().strip())
        claimed = _claim(claims, network)
        if claimed is not None and claimed.pid == (pid or os.getpid()):
            (claims / _file(network)).write_text(f"0\n{claimed.data_dir}\n")  # stopped, but its network still


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


def _free(claims: Path, routes: list[ipaddress.IPv4Network], directory: Path) -> ipaddress.IPv4Network:
    """The first network neither routed nor kept by another cluster; else the first a stopped one keeps."""
    unrouted = [n for n in CANDIDATES if not any(n.overlaps(route) for route in routes)]
    claimed = {n: _claim(claims, n) for n in unrouted}
    others = {n: c for n, c in claimed.items() if c is not None and c.data_dir != directory}
    for network in unrouted:
        if network not in others or not others[network].keeps(network):
            return network
    for network in unrouted:
        if not others[network].running:
            return network
    raise PodNetworkTaken(f"no pod network is free: every /16 from {POD_NETWORK} to {CANDIDATES[-1]} is routed on "
                          "this host or claimed by a running cluster")


def _claim(claims: Path, network: ipaddress.IPv4Network) -> Claim | None:
    try:
        pid, directory = (claims / _file(network)).read_text().splitlines()[:2]
        return Claim(int(pid), Path(directory))
    except (FileNotFoundError, ValueError):
        return None


def _file(network: ipaddress.IPv4Network) -> str:
    return str(network).replace("/", "_")


@contextlib.contextmanager
def _locked(claims: Path) -> Iterator[None]:
    claims.mkdir(parents=True, exist_ok=True)
    with open(claims / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
