"""EC2 instance types as a node group's nodes need them: vCPUs, memory, architecture, and the network
interface limits from which the VPC CNI's max pods follows. The figures (instance_types.json beside this
module) are EC2's published ones (DescribeInstanceTypes: VCpuInfo, MemoryInfo, NetworkInfo); max pods and the
kubelet's reservations are computed the way the EKS AMI computes them, not stored."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

from timoneiro.eks.errors import invalid_parameter

DEFAULT = "t3.medium"  # what a managed node group gets when it names no instance type
_HOST_NETWORK_PODS = 2  # aws-node and kube-proxy use the node's own address, not one from an ENI
_EVICTION_MEMORY_MIB = 100  # evictionHard memory.available, as the EKS AMI's kubelet config sets it
# kubeReserved cpu, the EKS AMI's tiers (after GKE's): (from, to millicores, hundredths of a percent of that
# range reserved): 6% of the first core, 1% of the second, 0.5% of the next two, 0.25% of the rest
_CPU_TIERS = ((0, 1000, 600), (1000, 2000, 100), (2000, 4000, 50), (4000, None, 25))


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int
    arch: str  # "x86_64" or "arm64", as EC2 names processor architectures
    enis: int  # maximum network interfaces
    ips_per_eni: int  # IPv4 addresses per interface, the primary one included

    @property
    def max_pods(self) -> int:
        """The VPC CNI's formula (EKS's eni-max-pods.txt): each ENI's addresses but its primary one, plus the
        pods on the host network."""
        return self.enis * (self.ips_per_eni - 1) + _HOST_NETWORK_PODS


@functools.cache
def catalogue() -> dict[str, InstanceType]:
    text = resources.files(__package__).joinpath("instance_types.json").read_text()
    return {name: InstanceType(name, t["vcpus"], t["memoryMiB"], t["architecture"],
                               t["maxNetworkInterfaces"], t["ipv4AddressesPerInterface"])
            for name, t in json.loads(text).items()}


def ami_architecture(ami_type: str) -> str | None:
    """The architecture an EKS AMI type runs on (AL2_ARM_64, AL2023_ARM_64_STANDARD, BOTTLEROCKET_ARM_64...
    are arm64; the others x86_64); None for CUSTOM, whose launch template decides."""
    if ami_type == "CUSTOM":
        return None
    return "arm64" if "ARM_64" in ami_type else "x86_64"


def lookup(name: str, ami_type: str = "AL2_x86_64") -> InstanceType:
    """The instance type `name`, which must run the node group's AMI type; otherwise EKS's
    InvalidParameterException, whose text is the same for an unknown type and for one of the other
    architecture: "[t4g.medium] is not a valid instance type for requested amiType AL2_x86_64"."""
    found = catalogue().get(name)
    arch = ami_architecture(ami_type)
    if found is None or (arch is not None and found.arch != arch):
        raise invalid_parameter(f"[{name}] is not a valid instance type for requested amiType {ami_type}")
    return found


def reserved_millicores(t: InstanceType) -> int:
    """kubeReserved cpu as the EKS AMI's bootstrap computes it, by the tiers above."""
    total = t.vcpus * 1000
    return sum((min(total, end or total) - start) * share // 10000
               for start, end, share in _CPU_TIERS if total > start)


def reserved_memory_mib(t: InstanceType) -> int:
    """kubeReserved memory as the EKS AMI's bootstrap computes it: 255Mi + 11Mi per pod the node may run."""
    return 255 + 11 * t.max_pods


def kube_reserved(t: InstanceType) -> dict[str, str]:
    """The kubelet's kubeReserved on such a node (the EKS AMI also reserves 1Gi of ephemeral storage)."""
    return {"cpu": f"{reserved_millicores(t)}m", "ephemeral-storage": "1Gi",
            "memory": f"{reserved_memory_mib(t)}Mi"}


def capacity(t: InstanceType) -> dict[str, str]:
    """A node's capacity for the kubelet: the type's vCPUs and memory, and max pods as its pod limit."""
    return {"cpu": str(t.vcpus), "memory": f"{t.memory_mib}Mi", "pods": str(t.max_pods)}


def allocatable(t: InstanceType) -> dict[str, str]:
    """What such a node offers pods: capacity less kubeReserved and the memory eviction threshold
    (ephemeral storage depends on the node group's disk, so it is left to whoever knows the disk)."""
    return {"cpu": f"{t.vcpus * 1000 - reserved_millicores(t)}m",
            "memory": f"{t.memory_mib - reserved_memory_mib(t) - _EVICTION_MEMORY_MIB}Mi",
            "pods": str(t.max_pods)}
