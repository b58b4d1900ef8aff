"""Service address allocation: cluster IPs from the service CIDR and node ports from 30000-32767."""

from __future__ import annotations

import ipaddress
import random
from typing import TYPE_CHECKING

from timoneiro.api.field import invalid
from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors
from timoneiro.apiserver.generic import Context, decode

if TYPE_CHECKING:
    from timoneiro.storage.cache import WatchCache

NODE_PORTS = range(30000, 32768)


DEFAULT_SERVICE_RANGE = "10.96.0.0/12"  # kube-apiserver's and kubeadm's


class ServiceAddresses:
    """Allocate cluster IPs from the service CIDR and node ports from 30000-32767, without collisions."""


    def __init__(self, cache: WatchCache, cidr: str = DEFAULT_SERVICE_RANGE) -> None:
        self.cache = cache
        self.network = ipaddress.ip_network(cidr)
        # addresses handed to writes still in flight (value -> service key), so that concurrent writes
        # cannot take the same one; a finished write is in the cache, which _in_use reads
        self._reserved: dict[str | int, str] = {}

    def __call__(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if kind.group or kind.kind != "Service":
            return
        spec = new.setdefault("spec", {})
        name = new["metadata"].get("name", "")
        owner = f'{new["metadata"].get("namespace")}/{name}'
        used_ips, used_ports = self._in_use(new["metadata"].get("namespace"), name)
        self._add_reserved(owner, used_ips, used_ports)
        self._assign(kind, name, spec, old, used_ips, used_ports)
        if not ctx.dry_run:
            self._reserve(owner, spec)
            ctx.on_done.append(lambda: self._release(owner))

    def _assign(self, kind: Kind, name: str, spec: dict, old: dict | None, used_ips: set[str],
                used_ports: set[int]) -> None:
        stype = spec.get("type") or "ClusterIP"
        if stype == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
            return
        if old is None:
            self._allocate_ip(kind, name, spec, used_ips)
        else:
            old_spec = old.get("spec") or {}
            if "clusterIP" not in spec and old_spec.get("clusterIP"):
                spec["clusterIP"] = old_spec["clusterIP"]
                spec["clusterIPs"] = old_spec.get("clusterIPs", [old_spec["clusterIP"]])
        if spec.get("clusterIP") and spec["clusterIP"] != "None":
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        elif spec.get("clusterIP") == "None":
            spec["clusterIPs"] = ["None"]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        if stype in ("NodePort", "LoadBalancer"):
            old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                         for p in ((old or {}).get("spec") or {}).get("ports") or []}
            for i, port in enumerate(spec.get("ports") or []):
                wanted = port.get("nodePort") or old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                if wanted:
                    if wanted not in NODE_PORTS:
                        raise errors.invalid(kind, name, [invalid(f"spec.ports[{i}].nodePort", wanted,
                                                                  "provided port is not in the valid range. "
                                                                  "The range of valid ports is 30000-32767")])
                    if wanted in used_ports:
                        raise errors.invalid(kind, name, [invalid(f"spec.ports[{i}].nodePort", wanted,
                                                                  "provided port is already allocated")])
                    port["nodePort"] = wanted
                else:
                    free = [p for p in NODE_PORTS if p not in used_ports]
                    if not free:
                        raise errors.internal("failed to allocate a nodePort: range is full")
                    port["nodePort"] = random.choice(free)
                used_ports.add(port["nodePort"])
        else:
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)

    def _add_reserved(self, owner: str, ips: set[str], ports: set[int]) -> None:
        for value, holder in self._reserved.items():
            if holder != owner:
                (ports if isinstance(value, int) else ips).add(value)

    def _reserve(self, owner: str, spec: dict) -> None:
        for ip in spec.get("clusterIPs") or []:
            if ip != "None":
                self._reserved[ip] = owner
        for port in spec.get("ports") or []:
            if port.get("nodePort"):
                self._reserved[port["nodePort"]] = owner

    def _release(self, owner: str) -> None:
        for value in [v for v, holder in self._reserved.items() if holder == owner]:
            del self._reserved[value]

    def first_ip(self) -> str:
        """The kubernetes Service's address: the first in the range, as upstream reserves it."""
        return str(self.network.network_address + 1)

    def _allocate_ip(self, kind: Kind, name: str, spec: dict, used: set[str]) -> None:
        wanted = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
        if wanted == "None":
            spec["clusterIP"] = "None"
            return
        if wanted:
            try:
                ip = ipaddress.ip_address(wanted)
            except ValueError:
                raise errors.invalid(kind, name, [invalid("spec.clusterIPs[0]", wanted, "must be a valid IP address, "
                                                          "(e.g. 10.9.8.7 or 2001:db8::ffff)")]) from None
            if ip not in self.network:
                raise errors.invalid(kind, name, [invalid("spec.clusterIPs", wanted, "failed to allocate IP "
                                                          f"{wanted}: the provided IP ({wanted}) is not in the "
                                                          f"valid range. The range of valid IPs is {self.network}")])
            if wanted in used:
                raise errors.invalid(kind, name, [invalid("spec.clusterIPs", [wanted], "failed to allocate IP "
                                                          f"{wanted}: provided IP is already allocated")])
            spec["clusterIP"] = wanted
            return
        size = self.network.num_addresses
        base = int(self.network.network_address)
        for _ in range(64):
            candidate = str(ipaddress.ip_address(base + random.randrange(2, size - 1)))
            if candidate not in used:
                spec["clusterIP"] = candidate
                spec["clusterIPs"] = [candidate]
                return
        for offset in range(2, size - 1):
            candidate = str(ipaddress.ip_address(base + offset))
            if candidate not in used:
                spec["clusterIP"] = candidate
                spec["clusterIPs"] = [candidate]
                return
        raise errors.internal("failed to allocate a serviceIP: range is full")

    def _in_use(self, namespace: str | None, name: str) -> tuple[set[str], set[int]]:
        ips, ports = set(), set()
        for entry in self.cache.list("/core/services/"):
            if entry.key.endswith(f"/{namespace}/{name}"):
                continue
            spec = decode(entry).get("spec") or {}
            ips.update(ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None")
            ports.update(p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort"))
        return ips, ports
