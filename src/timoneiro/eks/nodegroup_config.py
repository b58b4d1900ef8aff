"""What a node group may be configured with, checked as EKS checks it (InvalidParameterException with EKS's
wording where it is known), and EKS's defaults for what is left out."""

from __future__ import annotations

import re

from timoneiro.api.validation.names import is_label_value, is_qualified_name
from timoneiro.cluster.names import RUNTIME_LABEL, RUNTIMES
from timoneiro.eks import instances, versions
from timoneiro.eks.errors import invalid_parameter

NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,62}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
DEFAULT_SCALING = {"minSize": 2, "maxSize": 2, "desiredSize": 2}  # what EKS gives a group created without one
DEFAULT_UPDATE = {"maxUnavailable": 1}
DEFAULT_DISK_GIB, WINDOWS_DISK_GIB = 20, 50
MAX_TAINTS = 50
MAX_UNAVAILABLE = 100
RESERVED_LABEL_PREFIXES = ("kubernetes.io/", "k8s.io/", "eks.amazonaws.com/")
AL2023_SINCE = 30  # AL2023 is the default AMI type from Kubernetes 1.30 on
TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def check_name(name: str, cluster: str) -> None:
    if not NAME.match(name):
        raise invalid_parameter(f"Nodegroup name {name!r} is invalid: it must be 1 to 63 characters, begin with "
                                "a letter or digit and hold only letters, digits, hyphens and underscores.",
                                clusterName=cluster, nodegroupName=name)


def check_role(arn: str, cluster: str, name: str) -> None:
    if not ROLE_ARN.match(arn or ""):
        raise invalid_parameter(f"Invalid role arn: {arn!r}", clusterName=cluster, nodegroupName=name)


def default_ami_type(version: str, instance_type: str) -> str:
    """AL2023 from 1.30 on, Amazon Linux 2 before; the ARM image for a Graviton instance type."""
    found = instances.catalogue().get(instance_type)
    arm = found is not None and found.arch == "arm64"
    if versions.minor(version) >= AL2023_SINCE:
        return "AL2023_ARM_64_STANDARD" if arm else "AL2023_x86_64_STANDARD"
    return "AL2_ARM_64" if arm else "AL2_x86_64"


def default_disk(ami_type: str) -> int:
    return WINDOWS_DISK_GIB if ami_type.startswith("WINDOWS") else DEFAULT_DISK_GIB


def new_scaling(asked: dict | None, cluster: str, name: str) -> dict:
    """A new group's sizes: EKS's default sizes for what is left out, checked as CreateNodegroup checks."""
    scaling = {**DEFAULT_SCALING, **{k: v for k, v in (asked or {}).items() if v is not None}}
    low, high, desired = scaling["minSize"], scaling["maxSize"], scaling["desiredSize"]
    fields = {"clusterName": cluster, "nodegroupName": name}
    if low < 0 or desired < 0 or high < 1:
        raise invalid_parameter("minSize and desiredSize must be at least 0, maxSize at least 1", **fields)
    if low > high:
        raise invalid_parameter("minSize can't be greater than maxSize", **fields)
    if desired > high:
        raise invalid_parameter("desiredSize can't be greater than maxSize", **fields)
    if low > desired:
        raise invalid_parameter("minSize can't be greater than desiredSize", **fields)
    return scaling


def changed_scaling(current: dict, asked: dict, cluster: str, name: str) -> dict:
    """New sizes for UpdateNodegroupConfig: what is left out stays, and the result is checked in the words
    the update gives ("Minimum capacity 3 can't be greater than desired size 2")."""
    scaling = {**current, **{k: v for k, v in asked.items() if v is not None}}
    low, high, desired = scaling["minSize"], scaling["maxSize"], scaling["desiredSize"]
    fields = {"clusterName": cluster, "nodegroupName": name}
    if low > high:
        raise invalid_parameter(f"Minimum capacity {low} can't be greater than maximum capacity {high}", **fields)
    if low > desired:
        raise invalid_parameter(f"Minimum capacity {low} can't be greater than desired size {desired}", **fields)
    if desired > high:
        raise invalid_parameter(f"Desired capacity {desired} can't be greater than maximum capacity {high}",
                                **fields)
    return scaling


def update_config(asked: dict | None, scaling: dict, cluster: str, name: str) -> dict:
    """maxUnavailable (1..100, at most maxSize) or maxUnavailablePercentage (1..100), not both."""
    asked = {k: v for k, v in (asked or {}).items() if v is not None}
    fields = {"clusterName": cluster, "nodegroupName": name}
    if "maxUnavailable" in asked and "maxUnavailablePercentage" in asked:
        raise invalid_parameter("Only one of maxUnavailable and maxUnavailablePercentage can be specified",
                                **fields)
    config = {**asked} if {"maxUnavailable", "maxUnavailablePercentage"} & set(asked) else \
        {**DEFAULT_UPDATE, **asked}
    if "maxUnavailable" in config and not 1 <= config["maxUnavailable"] <= min(MAX_UNAVAILABLE, scaling["maxSize"]):
        raise invalid_parameter("max-unavailable must be within the range 1 and max size of the node group",
                                **fields)
    if "maxUnavailablePercentage" in config and not 1 <= config["maxUnavailablePercentage"] <= 100:
        raise invalid_parameter("max-unavailable-percentage must be within the range 1 and 100", **fields)
    return config


def check_labels(labels: dict[str, str], cluster: str, name: str) -> None:
    fields = {"clusterName": cluster, "nodegroupName": name}
    for key, value in labels.items():
        prefix = key.rpartition("/")[0] + "/" if "/" in key else ""
        if prefix and any(prefix == p or prefix.endswith("." + p) for p in RESERVED_LABEL_PREFIXES):
            raise invalid_parameter("Label cannot contain reserved prefixes [kubernetes.io/, k8s.io/, "
                                    "eks.amazonaws.com/]", **fields)
        errors = is_qualified_name(key) or is_label_value(value or "")
        if errors:
            raise invalid_parameter(f"Label {key}={value} is invalid: {errors[0]}", **fields)
        if key == RUNTIME_LABEL and value not in RUNTIMES:  # timoneiro's: the node group's container runtime
            raise invalid_parameter(f"Label {key}={value} is invalid: the container runtime must be one of "
                                    f"[{', '.join(RUNTIMES)}]", **fields)


def check_taints(taints: list[dict], cluster: str, name: str) -> None:
    fields = {"clusterName": cluster, "nodegroupName": name}
    if len(taints) > MAX_TAINTS:
        raise invalid_parameter(f"The number of taints can't be greater than {MAX_TAINTS}", **fields)
    for taint in taints:
        key, value, effect = taint.get("key") or "", taint.get("value") or "", taint.get("effect")
        if effect not in TAINT_EFFECTS:
            raise invalid_parameter(f"Taint effect {effect} is invalid: it must be one of "
                                    f"{', '.join(TAINT_EFFECTS)}", **fields)
        errors = is_qualified_name(key) or is_label_value(value)
        if errors:
            raise invalid_parameter(f"Taint {key}={value}:{effect} is invalid: {errors[0]}", **fields)


def merge_taints(current: list[dict], add: list[dict], remove: list[dict]) -> list[dict]:
    """Taints by key and effect: those removed go, those added replace any of the same key and effect."""
    def ident(t: dict) -> tuple[str, str]:
        return t["key"], t["effect"]

    dropped = {ident(t) for t in [*add, *remove]}
    return [t for t in current if ident(t) not in dropped] + [dict(t) for t in add]
