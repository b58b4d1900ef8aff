"""Changing a cluster: UpdateClusterConfig (endpoint access, logging, authentication mode, upgrade policy,
deletion protection; one kind at a time) and UpdateClusterVersion (the control plane restarted, as EKS
replaces its API servers), each an Update that DescribeUpdate and ListUpdates report; the cluster is
UPDATING meanwhile. Logging and endpoint access are kept as asked and reported; with no CloudWatch and an
API server on loopback here, they change nothing else."""

from __future__ import annotations

import json

from timoneiro.eks import versions
from timoneiro.eks.errors import in_use, invalid_parameter, not_found
from timoneiro.eks.operations import Request, operation
from timoneiro.eks.ops.clusters import normalized_logging, start_control_plane
from timoneiro.eks.paging import page
from timoneiro.eks.service import STARTUP, Eks
from timoneiro.eks.updates import begin_update, end_update, in_progress

MODES = ["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"]  # the only way authentication modes may change


@operation("UpdateClusterConfig")
async def update_cluster_config(eks: Eks, request: Request) -> dict:
    p = request.params
    name = p["name"]
    cluster = _updatable(eks, name)
    asked = [key for key in ("resourcesVpcConfig", "logging", "accessConfig", "upgradePolicy",
                             "deletionProtection") if p.get(key) is not None]
    if len(asked) != 1:
        raise invalid_parameter("Only one type of update can be allowed." if asked else
                                "No changes needed for the cluster configuration provided", clusterName=name)
    kind, params, change = _PLANS[asked[0]](cluster, p[asked[0]], name)
    update = begin_update(eks, name, kind, params)
    update["_work"] = {"change": change}  # for a restart to finish it
    cluster["status"] = "UPDATING"
    eks.store.save(name)
    eks.spawn(_apply(eks, name, update["id"], change), f"updating cluster {name}")
    return {"update": update}


def _updatable(eks: Eks, name: str) -> dict:
    cluster = eks.doc(name)["cluster"]
    if cluster["status"] != "ACTIVE" or in_progress(eks, name):
        raise in_use(f"Cluster {name} is in {cluster['status']} state and has an update in progress"
                     if cluster["status"] == "UPDATING" else
                     f"Cluster {name} is in {cluster['status']} state", clusterName=name)
    return cluster


def _endpoint_plan(cluster: dict, asked: dict, name: str) -> tuple[str, list, dict]:
    vpc = cluster["resourcesVpcConfig"]
    public = asked.get("endpointPublicAccess", vpc["endpointPublicAccess"])
    private = asked.get("endpointPrivateAccess", vpc["endpointPrivateAccess"])
    cidrs = asked.get("publicAccessCidrs") or vpc["publicAccessCidrs"]
    if not public and not private:
        raise invalid_parameter("Invalid endpoint access configuration: the public and the private endpoint "
                                "cannot both be disabled", clusterName=name)
    if (public, private, cidrs) == (vpc["endpointPublicAccess"], vpc["endpointPrivateAccess"],
                                    vpc["publicAccessCidrs"]):
        raise invalid_parameter(
            f"Cluster is already at the desired configuration with endpointPrivateAccess: {str(private).lower()} , "
            f"endpointPublicAccess: {str(public).lower()}, and Public Endpoint Restrictions: [{', '.join(cidrs)}]",
            clusterName=name)
    params = [("EndpointPublicAccess", str(public).lower()), ("EndpointPrivateAccess", str(private).lower()),
              ("PublicAccessCidrs", json.dumps(cidrs))]
    return "EndpointAccessUpdate", params, {"resourcesVpcConfig": {
        **vpc, "endpointPublicAccess": public, "endpointPrivateAccess": private, "publicAccessCidrs": cidrs}}


def _logging_plan(cluster: dict, asked: dict, name: str) -> tuple[str, list, dict]:
    wanted = {t: s.get("enabled", False) for s in cluster["logging"]["clusterLogging"] for t in s["types"]}
    for setup in asked.get("clusterLogging") or []:
        wanted.update({t: bool(setup.get("enabled")) for t in setup.get("types") or []})
    logging = normalized_logging([{"types": [t for t, on in wanted.items() if on], "enabled": True}])
    if logging == cluster["logging"]["clusterLogging"]:
        raise invalid_parameter("No changes needed for the logging config provided", clusterName=name)
    return "LoggingUpdate", [("ClusterLogging", json.dumps(logging))], {"logging": {"clusterLogging": logging}}


def _access_plan(cluster: dict, asked: dict, name: str) -> tuple[str, list, dict]:
    current = cluster["accessConfig"]["authenticationMode"]
    wanted = asked.get("authenticationMode") or current
    if wanted == current:
        raise invalid_parameter(f"Cluster already has authentication mode {current}", clusterName=name)
    if MODES.index(wanted) < MODES.index(current):
        raise invalid_parameter(f"Unsupported authentication mode update from {current} to {wanted}",
                                clusterName=name)
    return "AccessConfigUpdate", [("AuthenticationMode", wanted)], {
        "accessConfig": {**cluster["accessConfig"], "authenticationMode": wanted}}


def _upgrade_policy_plan(cluster: dict, asked: dict, name: str) -> tuple[str, list, dict]:
    wanted = asked.get("supportType") or "EXTENDED"
    if wanted == cluster["upgradePolicy"]["supportType"]:
        raise invalid_parameter(f"Cluster already has upgrade policy support type {wanted}", clusterName=name)
    return "UpgradePolicyUpdate", [("UpgradePolicy", json.dumps({"supportType": wanted}))], {
        "upgradePolicy": {"supportType": wanted}}


def _deletion_protection_plan(cluster: dict, asked: bool, name: str) -> tuple[str, list, dict]:
    if asked == cluster.get("deletionProtection", False):
        raise invalid_parameter(f"Cluster already has deletion protection {'enabled' if asked else 'disabled'}",
                                clusterName=name)
    return "DeletionProtectionUpdate", [("DeletionProtection", str(asked).lower())], {"deletionProtection": asked}


_PLANS = {"resourcesVpcConfig": _endpoint_plan, "logging": _logging_plan, "accessConfig": _access_plan,
          "upgradePolicy": _upgrade_policy_plan, "deletionProtection": _deletion_protection_plan}


async def _apply(eks: Eks, name: str, update_id: str, change: dict) -> None:
    cluster = eks.doc(name)["cluster"]
    cluster.update(change)
    cluster["status"] = "ACTIVE"
    end_update(eks, name, update_id)


@operation("UpdateClusterVersion")
async def update_cluster_version(eks: Eks, request: Request) -> dict:
    name, wanted = request.params["name"], request.params["version"]
    cluster = _updatable(eks, name)
    versions.check_upgrade(cluster["version"], wanted, name)
    update = begin_update(eks, name, "VersionUpdate",
                          [("Version", wanted), ("PlatformVersion", versions.PLATFORM_VERSION)])
    update["_work"] = {"version": wanted}
    cluster["status"] = "UPDATING"
    eks.store.save(name)
    eks.spawn(_upgrade(eks, name, update["id"], wanted), f"upgrading cluster {name}")
    return {"update": update}


async def _upgrade(eks: Eks, name: str, update_id: str, version: str) -> None:
    """Replace the control plane: stop its processes and start them again on the same storage; nodes and
    their pods carry on, their kubelets reconnecting."""
    cluster = eks.doc(name)["cluster"]
    try:
        await eks.control_plane(name).stop()
        await start_control_plane(eks, name)
    except Exception as e:
        end_update(eks, name, update_id, {"errorCode": "Unknown", "errorMessage": str(e), "resourceIds": [name]})
        cluster["status"] = "FAILED"
        eks.store.save(name)
        raise
    cluster["version"] = version
    cluster["status"] = "ACTIVE"
    end_update(eks, name, update_id)


async def _resume(eks: Eks) -> None:
    """After a restart, finish the cluster updates that were in progress, from the start (each step is
    idempotent: a change applied again, a control plane replaced again)."""
    for name, doc in list(eks.store.clusters.items()):
        for update in list(doc["updates"].values()):
            if update["_resource"] or update["status"] != "InProgress":
                continue
            work = update.get("_work")
            if work is None:  # recorded by a version that kept no work to finish: it ends here
                end_update(eks, name, update["id"], {"errorCode": "Unknown", "resourceIds": [name],
                                                     "errorMessage": "The service restarted during the update"})
                doc["cluster"]["status"] = "ACTIVE"
                eks.store.save(name)
            elif "version" in work:
                eks.spawn(_upgrade(eks, name, update["id"], work["version"]), f"upgrading cluster {name}")
            else:
                eks.spawn(_apply(eks, name, update["id"], work["change"]), f"updating cluster {name}")


STARTUP.append(_resume)


@operation("DescribeUpdate")
async def describe_update(eks: Eks, request: Request) -> dict:
    p = request.params
    update = eks.doc(p["name"])["updates"].get(p["updateId"])
    if update is None or update["_resource"] != _resource(p):
        raise not_found(f"No update found for ID: {p['updateId']}", clusterName=p["name"])
    return {"update": update}


@operation("ListUpdates")
async def list_updates(eks: Eks, request: Request) -> dict:
    p = request.params
    doc = eks.doc(p["name"])
    resource = _resource(p)
    for section, key in (("nodegroups", "nodegroupName"), ("addons", "addonName")):
        if p.get(key) and p[key] not in doc[section]:
            raise not_found(f"No {key[:-4]} found for name: {p[key]}.", clusterName=p["name"])
    ids = [u["id"] for u in sorted(doc["updates"].values(), key=lambda u: u["createdAt"])
           if u["_resource"] == resource]
    ids, token = page(ids, p)
    return {"updateIds": ids, "nextToken": token}


def _resource(p: dict) -> str:
    return p.get("nodegroupName") or p.get("addonName") or ""
