"""Addresses for simulated nodes, which have no network interface of their own to take them from.

Each node name gets an index, stable for the life of the process: its InternalIP is the index-th address
of 172.18.0.0/16 from .2 up (as kind's docker network hands them out), and its pod range, until the node's
spec.podCIDR says otherwise, the index-th /24 of 10.128.0.0/9 (clear of kind's 10.244.0.0/16 pod network
and of the 10.96.0.0/12 service network).
"""

from __future__ import annotations

import ipaddress

_NODE_NETWORK = ipaddress.ip_network("172.18.0.0/16")
_FALLBACK_PODS = ipaddress.ip_network("10.128.0.0/9")
_indexes: dict[str, int] = {}


def _index(node_name: str) -> int:
    return _indexes.setdefault(node_name, len(_indexes))


def node_ip(node_name: str) -> str:
    hosts = _NODE_NETWORK.num_addresses - 3
    return str(_NODE_NETWORK.network_address + 2 + _index(node_name) % hosts)


def fallback_pod_cidr(node_name: str) -> str:
    ranges = _FALLBACK_PODS.num_addresses // 256
    base = _FALLBACK_PODS.network_address + 256 * (_index(node_name) % ranges)
    return f"{base}/24"
