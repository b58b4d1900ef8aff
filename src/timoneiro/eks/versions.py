"""The Kubernetes versions clusters may be created with or updated to. Every control plane runs this
release's API server (KUBERNETES_VERSION); a cluster's version is what EKS would run, on record for its
node groups, add-ons and upgrades (one minor version at a time, as EKS allows)."""

from __future__ import annotations

from timoneiro import KUBERNETES_VERSION
from timoneiro.eks.errors import invalid_parameter

DEFAULT = ".".join(KUBERNETES_VERSION.lstrip("v").split(".")[:2])
SUPPORTED = ("1.30", "1.31", DEFAULT)
PLATFORM_VERSION = "eks.1"


def minor(version: str) -> int:
    return int(version.split(".")[1])


def check_supported(version: str, cluster: str) -> None:
    if version not in SUPPORTED:
        raise invalid_parameter("unsupported Kubernetes version", clusterName=cluster)


def check_upgrade(current: str, wanted: str, cluster: str) -> None:
    """EKS upgrades one minor version at a time, and never down."""
    check_supported(wanted, cluster)
    if minor(wanted) != minor(current) + 1:
        raise invalid_parameter(f"Unsupported Kubernetes minor version update from {current} to {wanted}",
                                clusterName=cluster)
