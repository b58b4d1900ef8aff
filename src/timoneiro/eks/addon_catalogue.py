"""The EKS add-ons this service installs and the versions of each, as DescribeAddonVersions reported them
for Kubernetes 1.30 to 1.32 in early 2025 (the Kubernetes versions clusters are made with here): which
versions run on which cluster versions, and which one a cluster of each version gets by default. Their
images are where EKS's are: AWS's ECR registry of the cluster's region."""

from __future__ import annotations

from dataclasses import dataclass

from timoneiro.eks.errors import invalid_parameter
from timoneiro.eks.paging import page

ALL = ("1.30", "1.31", "1.32")
ARCHITECTURES = ["amd64", "arm64"]
PUBLISHER, OWNER = "eks", "aws"
NAMESPACE = "kube-system"
# the accounts of the regions whose ECR registry is not the usual 602401143452 (EKS's "Amazon container
# image registries" list); China's registries are under amazonaws.com.cn
_REGISTRY_ACCOUNTS = {
    "af-south-1": "877085696533", "ap-east-1": "800184023465", "ap-south-2": "900889452093",
    "ap-southeast-3": "296578399912", "ap-southeast-4": "491585149902", "ca-west-1": "761377655185",
    "eu-central-2": "900612956339", "eu-south-1": "590381155156", "eu-south-2": "455263428931",
    "il-central-1": "066635153087", "me-central-1": "759879836304", "me-south-1": "558608220178",
    "cn-north-1": "918309763551", "cn-northwest-1": "961992271922",
    "us-gov-east-1": "151742754352", "us-gov-west-1": "013241004608",
}
_DEFAULT_REGISTRY_ACCOUNT = "602401143452"


@dataclass(frozen=True)
class Version:
    name: str  # e.g. v1.11.4-eksbuild.2
    clusters: tuple[str, ...]  # the Kubernetes versions it runs on
    default_for: tuple[str, ...] = ()  # the Kubernetes versions that get it when none is asked for
    agent: str = ""  # the tag of the image that comes with it (vpc-cni's network policy agent, the pod agent)


@dataclass(frozen=True)
class Addon:
    name: str
    type: str
    versions: tuple[Version, ...]  # newest first, as EKS lists them
    requires_iam: bool = False  # its pods call AWS APIs with a role of their own (IRSA or Pod Identity)

    def version(self, name: str) -> Version | None:
        return next((v for v in self.versions if v.name == name), None)

    def default(self, kubernetes: str) -> Version:
        return next(v for v in self.versions if kubernetes in v.default_for)


ADDONS = {a.name: a for a in (
    Addon("coredns", "dns", (
        Version("v1.11.4-eksbuild.2", ALL, ("1.32",)),
        Version("v1.11.4-eksbuild.1", ALL),
        Version("v1.11.3-eksbuild.2", ALL),
        Version("v1.11.3-eksbuild.1", ALL, ("1.31",)),
        Version("v1.11.1-eksbuild.13", ("1.30", "1.31")),
        Version("v1.11.1-eksbuild.9", ("1.30", "1.31")),
        Version("v1.11.1-eksbuild.8", ("1.30",), ("1.30",)),
    )),
    Addon("kube-proxy", "networking", (
        Version("v1.32.0-eksbuild.2", ("1.32",), ("1.32",)),
        Version("v1.31.3-eksbuild.2", ("1.31",)),
        Version("v1.31.2-eksbuild.3", ("1.31",)),
        Version("v1.31.0-eksbuild.5", ("1.31",), ("1.31",)),
        Version("v1.30.7-eksbuild.2", ("1.30",)),
        Version("v1.30.6-eksbuild.3", ("1.30",)),
        Version("v1.30.0-eksbuild.3", ("1.30",), ("1.30",)),
    )),
    Addon("vpc-cni", "networking", (
        Version("v1.19.2-eksbuild.1", ALL, agent="v1.1.6-eksbuild.1"),
        Version("v1.19.0-eksbuild.1", ALL, ("1.32",), agent="v1.1.5-eksbuild.1"),
        Version("v1.18.6-eksbuild.1", ALL, agent="v1.1.5-eksbuild.1"),
        Version("v1.18.5-eksbuild.1", ALL, agent="v1.1.4-eksbuild.1"),
        Version("v1.18.3-eksbuild.3", ALL, ("1.31",), agent="v1.1.2-eksbuild.1"),
        Version("v1.18.1-eksbuild.3", ("1.30", "1.31"), ("1.30",), agent="v1.1.1-eksbuild.1"),
    ), requires_iam=True),
    Addon("eks-pod-identity-agent", "security", (
        Version("v1.3.4-eksbuild.1", ALL, ("1.32",), agent="0.1.15"),
        Version("v1.3.2-eksbuild.2", ALL, ("1.31",), agent="0.1.10"),
        Version("v1.3.0-eksbuild.1", ("1.30", "1.31"), ("1.30",), agent="0.1.6"),
    )),
)}

# what CreateCluster installs as self-managed add-ons unless bootstrapSelfManagedAddons is false
SELF_MANAGED = ("vpc-cni", "kube-proxy", "coredns")


def lookup(name: str, kubernetes: str, cluster: str) -> Addon:
    """The add-on `name`, which must run on a cluster of this Kubernetes version; otherwise EKS's error."""
    addon = ADDONS.get(name)
    if addon is None or not any(kubernetes in v.clusters for v in addon.versions):
        raise invalid_parameter(f"Addon {name} specified is not supported in {kubernetes} kubernetes version",
                                clusterName=cluster, addonName=name)
    return addon


def compatible_version(addon: Addon, version: str | None, kubernetes: str, cluster: str) -> Version:
    """The version asked for (the default for the cluster's Kubernetes version if none), which must run on
    it: "Addon version specified is not supported" otherwise, as EKS says for both an unknown version and
    one of another Kubernetes version."""
    if not version:
        return addon.default(kubernetes)
    found = addon.version(version)
    if found is None or kubernetes not in found.clusters:
        raise invalid_parameter("Addon version specified is not supported", clusterName=cluster,
                                addonName=addon.name)
    return found


def image(region: str, repository: str, tag: str) -> str:
    """An image of EKS's registry in the cluster's region, e.g. 602401143452.dkr.ecr.us-east-1.amazonaws.com/
    eks/coredns:v1.11.4-eksbuild.2."""
    account = _REGISTRY_ACCOUNTS.get(region, _DEFAULT_REGISTRY_ACCOUNT)
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{repository}:{tag}"


def describe_versions(params: dict) -> tuple[list[dict], str | None]:
    """DescribeAddonVersions: the add-ons (AddonInfo) that pass its filters, a page of them. With a
    kubernetesVersion, only the versions that run on it, each with that one compatibility."""
    kubernetes = params.get("kubernetesVersion")
    infos = []
    for addon in ADDONS.values():
        if params.get("addonName") and addon.name != params["addonName"]:
            continue
        if not all(not params.get(key) or value in params[key]
                   for key, value in (("types", addon.type), ("publishers", PUBLISHER), ("owners", OWNER))):
            continue
        versions = [_version_info(addon, v, kubernetes) for v in addon.versions
                    if kubernetes is None or kubernetes in v.clusters]
        if versions:
            infos.append({"addonName": addon.name, "type": addon.type, "addonVersions": versions,
                          "publisher": PUBLISHER, "owner": OWNER, "defaultNamespace": NAMESPACE})
    return page(infos, params)


def _version_info(addon: Addon, version: Version, kubernetes: str | None) -> dict:
    return {"addonVersion": version.name, "architecture": ARCHITECTURES,
            "compatibilities": [{"clusterVersion": k, "platformVersions": ["*"],
                                 "defaultVersion": k in version.default_for}
                                for k in version.clusters if kubernetes in (None, k)],
            "requiresConfiguration": False, "requiresIamPermissions": addon.requires_iam}
