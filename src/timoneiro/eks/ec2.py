"""What EC2 would say about a node group's instances, made up consistently since there is no EC2 here:
instance ids, private addresses and DNS names in the node group's subnets, and the EKS-optimized AMIs.

A subnet's zone and address range follow from its position among the cluster's subnets (then the node
group's other subnets, in their order): the k-th is in the k-th zone (zones.subnet_zones) and holds
10.0.16k.0/20, so that nodes of different subnets never share an address."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets

from timoneiro.eks.zones import subnet_zones

SUBNET_PREFIX = 20
_VPC = ipaddress.ip_network("10.0.0.0/16")
_RESERVED_LOW, _RESERVED_HIGH = 4, 1  # AWS keeps the first four addresses of a subnet and the last one
AMI_BUILD = "20250116"  # the build date of the EKS AMIs this service offers, as their release versions end
# the newest patch release of each Kubernetes minor version the AMIs of that build carry
AMI_PATCHES = {"1.30": "1.30.8", "1.31": "1.31.4", "1.32": "1.32.0"}


def instance_id() -> str:
    return "i-0" + secrets.token_hex(8)


def subnet_layout(cluster_subnets: list[str], subnets: list[str], region: str) -> dict[str, tuple[str, int]]:
    """subnet -> (zone, index) for a node group's subnets, numbered as the module says."""
    ordered = list(dict.fromkeys([*cluster_subnets, *subnets]))
    zones = subnet_zones(ordered, region)
    return {s: (zones[s], ordered.index(s)) for s in subnets}


def subnet_cidr(index: int) -> ipaddress.IPv4Network:
    size = 2 ** (32 - SUBNET_PREFIX)
    start = int(_VPC.network_address) + size * (index % (_VPC.num_addresses // size))
    return ipaddress.IPv4Network((start, SUBNET_PREFIX))


def private_ip(index: int, taken: set[str]) -> str:
    """A free address of the index-th subnet, picked at random as EC2 picks it."""
    cidr = subnet_cidr(index)
    first, count = int(cidr.network_address) + _RESERVED_LOW, cidr.num_addresses - _RESERVED_LOW - _RESERVED_HIGH
    while True:
        address = str(ipaddress.IPv4Address(first + secrets.randbelow(count)))
        if address not in taken:
            return address


def pod_range(index: int, max_pods: int, taken: set[str]) -> str:
    """An aligned block of the index-th subnet for one node's pods, holding none of the addresses taken
    (the VPC CNI's secondary addresses, as one range: its bridge's gateway, then max_pods pods): the first
    free one, clear of the subnet's reserved addresses."""
    cidr = subnet_cidr(index)
    prefix = min(28, 32 - (max_pods + 2).bit_length())  # network, gateway, pods, broadcast
    for block in list(cidr.subnets(new_prefix=prefix))[1:-1]:
        if not any(str(address) in taken for address in block):
            return str(block)
    raise ValueError(f"subnet {cidr} has no free /{prefix} for a node's pods")


def private_dns_name(ip: str, region: str) -> str:
    """EC2's private DNS name, which EKS nodes are named by: ip-10-0-1-2.ec2.internal in us-east-1,
    ip-10-0-1-2.REGION.compute.internal elsewhere."""
    host = "ip-" + ip.replace(".", "-")
    return f"{host}.ec2.internal" if region == "us-east-1" else f"{host}.{region}.compute.internal"


def release_version(version: str) -> str:
    """The latest EKS AMI release for a Kubernetes version, e.g. 1.31.4-20250116."""
    return f"{AMI_PATCHES.get(version, version + '.0')}-{AMI_BUILD}"


def ami_id(region: str, ami_type: str, release: str) -> str:
    """The image id of an EKS AMI: one per region, AMI type and release, as EKS publishes them."""
    return "ami-0" + hashlib.sha256(f"{region}/{ami_type}/{release}".encode()).hexdigest()[:16]


def resource_id(prefix: str, seed: str) -> str:
    """A stable EC2-style id (lt-0..., sg-0...) for something named `seed`."""
    return f"{prefix}-0" + hashlib.sha256(seed.encode()).hexdigest()[:16]
