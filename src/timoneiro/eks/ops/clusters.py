"""Clusters: CreateCluster starts a real control plane (CREATING until its API server answers and the
creator's access and the default add-ons are in, then ACTIVE); DeleteCluster stops it (DELETING, then
gone) once no node group is left, as EKS requires."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import secrets
import time
from dataclasses import asdict

from timoneiro.apiserver.authn.serviceaccount import ISSUER
from timoneiro.apiserver.server import free_port
from timoneiro.eks import versions
from timoneiro.eks.errors import AwsError, in_use, invalid_parameter
from timoneiro.eks.iam import Principal
from timoneiro.eks.operations import Request, operation
from timoneiro.eks.paging import page
from timoneiro.eks.service import Eks
from timoneiro.eks.state import new_doc
from timoneiro.eks.zones import subnet_zones

NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9\-_]*$")
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
DEFAULT_SERVICE_CIDR = "10.100.0.0/16"  # one of the two EKS picks from
PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
CLUSTER_ROLE_SERVICE = "eks.amazonaws.com"  # who must be trusted to assume a cluster role of our own account
_bringing_up: dict[str, asyncio.Task] = {}  # by cluster name, while CREATING: a deletion waits for it


@operation("CreateCluster")
async def create_cluster(eks: Eks, request: Request) -> dict:
    p = request.params
    name = p["name"]
    existing = eks.store.clusters.get(name)
    if existing is not None:
        token = p.get("clientRequestToken")
        if token and existing["cluster"].get("clientRequestToken") == token:  # a retry of the same call
            return {"cluster": existing["cluster"]}
        raise in_use(f"Cluster already exists with name: {name}", clusterName=name)
    cluster = _new_cluster(eks, p)
    cluster["_creator"] = asdict(request.principal)
    eks.store.add(new_doc(cluster))
    _create(eks, name)
    return {"cluster": cluster}


def _create(eks: Eks, name: str) -> None:
    _bringing_up[name] = eks.spawn(_bring_up(eks, name), f"creating cluster {name}")


def _new_cluster(eks: Eks, p: dict) -> dict:
    name = p["name"]
    if not 1 <= len(name) <= 100 or not NAME.match(name):
        raise invalid_parameter(f"The cluster name {name!r} is invalid: it must be 1 to 100 characters, begin "
                                "with a letter or digit and hold only letters, digits, hyphens and underscores.",
                                clusterName=name)
    version = p.get("version") or versions.DEFAULT
    versions.check_supported(version, name)
    if not p.get("roleArn", "").startswith("arn:aws:iam::"):
        raise invalid_parameter(f"Invalid role arn: {p.get('roleArn')!r}", clusterName=name)
    if eks.iam.owns(p["roleArn"]) and not eks.iam.trusts_service(p["roleArn"], CLUSTER_ROLE_SERVICE):
        raise invalid_parameter(f"Role with arn: {p['roleArn']}, could not be assumed because it does not exist or "
                                "the trusted entity is not correct", clusterName=name)
    vpc = p.get("resourcesVpcConfig") or {}
    subnets = vpc.get("subnetIds") or []
    if len(set(subnet_zones(subnets, eks.region).values())) < 2:
        raise invalid_parameter("Subnets specified must be in at least two different AZs", clusterName=name)
    network = p.get("kubernetesNetworkConfig") or {}
    access = p.get("accessConfig") or {}
    mode = access.get("authenticationMode") or "CONFIG_MAP"
    if mode == "CONFIG_MAP" and access.get("bootstrapClusterCreatorAdminPermissions") is False:
        raise invalid_parameter("bootstrapClusterCreatorAdminPermissions must be true if cluster authentication "
                                "mode is set to CONFIG_MAP", clusterName=name)
    return {
        "name": name, "arn": eks.arn(f"cluster/{name}"), "createdAt": time.time(), "version": version,
        "roleArn": p["roleArn"],
        "resourcesVpcConfig": {
            "subnetIds": subnets, "securityGroupIds": vpc.get("securityGroupIds") or [],
            "clusterSecurityGroupId": "sg-0" + secrets.token_hex(8), "vpcId": "vpc-0" + secrets.token_hex(8),
            "endpointPublicAccess": vpc.get("endpointPublicAccess", True),
            "endpointPrivateAccess": vpc.get("endpointPrivateAccess", False),
            "publicAccessCidrs": vpc.get("publicAccessCidrs") or ["0.0.0.0/0"]},
        "kubernetesNetworkConfig": {"serviceIpv4Cidr": _service_cidr(network, name), "ipFamily": "ipv4",
                                    "elasticLoadBalancing": {"enabled": False}},
        "logging": {"clusterLogging": normalized_logging((p.get("logging") or {}).get("clusterLogging") or [])},
        "identity": {"oidc": {"issuer": ISSUER}},
        "status": "CREATING", "certificateAuthority": {},
        "clientRequestToken": p.get("clientRequestToken"), "platformVersion": versions.PLATFORM_VERSION,
        "tags": p.get("tags") or {}, "encryptionConfig": p.get("encryptionConfig") or None,
        "health": {"issues": []},
        "accessConfig": {"bootstrapClusterCreatorAdminPermissions":
                         access.get("bootstrapClusterCreatorAdminPermissions", True),
                         "authenticationMode": mode},
        "upgradePolicy": {"supportType": (p.get("upgradePolicy") or {}).get("supportType") or "EXTENDED"},
        "deletionProtection": bool(p.get("deletionProtection", False)),
        "_port": free_port(), "_bootstrapSelfManagedAddons": p.get("bootstrapSelfManagedAddons", True),
    }


def _service_cidr(network: dict, cluster: str) -> str:
    """EKS's rules for serviceIpv4Cidr: a private block between /24 and /12."""
    text = network.get("serviceIpv4Cidr")
    if not text:
        return DEFAULT_SERVICE_CIDR
    try:
        cidr = ipaddress.ip_network(text)
    except ValueError:
        raise invalid_parameter(f"Invalid serviceIpv4Cidr: {text}", clusterName=cluster) from None
    if cidr.version != 4 or not 12 <= cidr.prefixlen <= 24 or not any(cidr.subnet_of(n) for n in PRIVATE):
        raise invalid_parameter("The serviceIpv4Cidr must be within 10.0.0.0/8, 172.16.0.0/12 or "
                                "192.168.0.0/16, between /24 and /12", clusterName=cluster)
    return str(cidr)


def normalized_logging(setups: list[dict]) -> list[dict]:
    """As EKS describes logging: one entry of the enabled types (if any), one of the disabled."""
    enabled = {t for s in setups if s.get("enabled") for t in s.get("types") or []}
    disabled = [t for t in LOG_TYPES if t not in enabled]
    return ([{"types": [t for t in LOG_TYPES if t in enabled], "enabled": True}] if enabled else []) + \
        ([{"types": disabled, "enabled": False}] if disabled else [])


async def _bring_up(eks: Eks, name: str) -> None:
    """Start the control plane; give the creator access and install the default add-ons; then ACTIVE.
    FAILED, with the reason as a health issue, if any of it fails."""
    from timoneiro.eks.addon_manifests import bootstrap_self_managed
    from timoneiro.eks.ops.access import bootstrap_access

    cluster = eks.doc(name)["cluster"]
    try:
        await start_control_plane(eks, name)
        await bootstrap_access(eks, name, Principal(**cluster["_creator"]))
        if cluster.get("_bootstrapSelfManagedAddons", True):
            await bootstrap_self_managed(eks, name)
    except Exception as e:
        if cluster["status"] == "CREATING":
            cluster["status"] = "FAILED"
            cluster["health"] = {"issues": [{"code": "ClusterUnreachable", "message": str(e),
                                             "resourceIds": [name]}]}
            eks.store.save(name)
        raise
    finally:
        _bringing_up.pop(name, None)
    if cluster["status"] == "CREATING":
        cluster["status"] = "ACTIVE"
        eks.store.save(name)


async def start_control_plane(eks: Eks, name: str) -> None:
    """Start (or find running) the cluster's control plane, with the service as its token webhook; publish
    its endpoint and CA."""
    from timoneiro.eks.webhook import webhook_options

    plane = eks.control_plane(name)
    cluster = eks.doc(name)["cluster"]
    await plane.start([*webhook_options(eks, name),
                       "--service-cluster-ip-range", cluster["kubernetesNetworkConfig"]["serviceIpv4Cidr"]])
    cluster["endpoint"] = plane.url
    cluster["certificateAuthority"] = {"data": plane.certificate_authority}
    eks.store.save(name)


async def resume(eks: Eks) -> None:
    """After a restart: every cluster goes on from where it was (see Eks.start). The control planes that
    were running start together, each in its own processes; this returns once all serve."""
    running = []
    for name, doc in list(eks.store.clusters.items()):
        status = doc["cluster"]["status"]
        if status == "DELETING":
            eks.spawn(_tear_down(eks, name), f"deleting cluster {name}")
        elif status == "CREATING":
            _create(eks, name)
        elif status in ("ACTIVE", "UPDATING"):
            running.append(start_control_plane(eks, name))
    await asyncio.gather(*running)


@operation("DescribeCluster")
async def describe_cluster(eks: Eks, request: Request) -> dict:
    return {"cluster": eks.doc(request.params["name"])["cluster"]}


@operation("ListClusters")
async def list_clusters(eks: Eks, request: Request) -> dict:
    names, token = page(sorted(eks.store.clusters), request.params)
    return {"clusters": names, "nextToken": token}


@operation("DeleteCluster")
async def delete_cluster(eks: Eks, request: Request) -> dict:
    name = request.params["name"]
    doc = eks.doc(name)
    cluster = doc["cluster"]
    if doc["nodegroups"]:
        raise in_use("Cluster has nodegroups attached", clusterName=name)
    if cluster.get("deletionProtection"):
        raise AwsError("InvalidRequestException", "Cluster has deletion protection enabled; disable it with "
                       "UpdateClusterConfig first.", 400, clusterName=name)
    if cluster["status"] != "DELETING":
        cluster["status"] = "DELETING"
        eks.store.save(name)
        eks.spawn(_tear_down(eks, name), f"deleting cluster {name}")
    return {"cluster": cluster}


async def _tear_down(eks: Eks, name: str) -> None:
    creating = _bringing_up.get(name)
    if creating is not None:
        with contextlib.suppress(BaseException):
            await creating
    await eks.control_plane(name).stop()
    eks.store.drop(name)
