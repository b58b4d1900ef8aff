"""Managed node groups: CreateNodegroup makes an Auto Scaling group and launches its nodes (real kubelets
of the group's node agent), CREATING until desiredSize nodes are Ready, then ACTIVE; UpdateNodegroupConfig
(sizes, labels, taints, update config) and UpdateNodegroupVersion (a rolling replacement of the nodes) are
Updates, the node group UPDATING until their work is done; DeleteNodegroup drains and removes every node
(DELETING, then gone). The group's size set through Auto Scaling (set_desired) scales it too."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
import uuid

from timoneiro.client import Client
from timoneiro.eks import asg, ec2, instances, versions
from timoneiro.eks import nodegroup_config as config
from timoneiro.eks.errors import AwsError, in_use, invalid_parameter, invalid_request, not_found
from timoneiro.eks.node_labels import relabel
from timoneiro.eks.nodegroup_scaling import (
    NodesFailedToJoin,
    agent,
    converge,
    forget,
    group_of,
    kube_taints,
    nodegroup_dir,
    nodegroup_zones,
)
from timoneiro.eks.nodegroup_upgrade import UpdateFailed, roll
from timoneiro.eks.operations import Request, operation
from timoneiro.eks.paging import names_page
from timoneiro.eks.protocol import service_model
from timoneiro.eks.service import SHUTDOWN, STARTUP, Eks, log
from timoneiro.eks.updates import begin_update, end_update, in_progress

UPDATABLE = ("ACTIVE", "DEGRADED")
NODE_ROLE_SERVICE = "ec2.amazonaws.com"  # who must be trusted to assume a node role of our own account


def _nodegroup(eks: Eks, cluster: str, name: str) -> dict:
    nodegroup = eks.doc(cluster)["nodegroups"].get(name)
    if nodegroup is None:
        raise not_found(f"No node group found for name: {name}.", clusterName=cluster, nodegroupName=name)
    return nodegroup


# creating


@operation("CreateNodegroup")
async def create_nodegroup(eks: Eks, request: Request) -> dict:
    p = request.params
    cluster, name = p["clusterName"], p["nodegroupName"]
    doc = eks.doc(cluster)
    existing = doc["nodegroups"].get(name)
    if existing is not None:
        if p.get("clientRequestToken") and existing.get("_token") == p["clientRequestToken"]:
            return {"nodegroup": existing}  # a retry of the same call
        raise in_use(f"NodeGroup already exists with name {name} and cluster name {cluster}",
                     clusterName=cluster, nodegroupName=name)
    if doc["cluster"]["status"] != "ACTIVE":
        raise invalid_request(f"Cluster '{cluster}' is not in ACTIVE status", clusterName=cluster)
    nodegroup = _new_nodegroup(eks, doc["cluster"], p)
    group = asg.new_group(eks, cluster, nodegroup, nodegroup_zones(eks, cluster, nodegroup),
                          _launch_template(nodegroup))
    group["_release"] = nodegroup["releaseVersion"]
    doc["nodegroups"][name] = nodegroup
    doc["autoScalingGroups"][group["AutoScalingGroupName"]] = group
    eks.store.save(cluster)
    eks.spawn(_create(eks, cluster, name), f"creating node group {name} of {cluster}")
    return {"nodegroup": nodegroup}


def _check_own_node_role(eks: Eks, arn: str, fields: dict) -> None:
    """A node role of the service's own account must exist and trust EC2 (its instances assume it), as EKS
    requires; other accounts' roles are taken as given."""
    if not eks.iam.owns(arn):
        return
    if eks.iam.role_by_arn(arn) is None:
        raise invalid_parameter(f"The role with name {arn.rpartition('/')[2]} cannot be found.", **fields)
    if not eks.iam.trusts_service(arn, NODE_ROLE_SERVICE):
        raise invalid_parameter(f"Following required service principals [{NODE_ROLE_SERVICE}] were not found in "
                                f"the trust relationships of nodeRole {arn}", **fields)


def _new_nodegroup(eks: Eks, cluster: dict, p: dict) -> dict:
    name, cluster_name = p["nodegroupName"], cluster["name"]
    fields = {"clusterName": cluster_name, "nodegroupName": name}
    config.check_name(name, cluster_name)
    config.check_role(p.get("nodeRole", ""), cluster_name, name)
    _check_own_node_role(eks, p["nodeRole"], fields)
    if not p.get("subnets"):
        raise invalid_parameter("Subnets are required", **fields)
    template = p.get("launchTemplate")
    if template:
        _check_launch_template(p, fields)
    version = p.get("version") or cluster["version"]
    if version != cluster["version"]:
        raise invalid_parameter(f"Requested Nodegroup Kubernetes Version {version} is not the same as Cluster "
                                f"version {cluster['version']}", **fields)
    release = p.get("releaseVersion") or ec2.release_version(version)
    _check_release(release, version, fields)
    types = p.get("instanceTypes") or [instances.DEFAULT]
    ami_type = p.get("amiType") or config.default_ami_type(version, types[0])
    if ami_type not in _ami_types():
        raise invalid_parameter(f"Invalid AMI type: {ami_type}", **fields)
    for kind in types:
        instances.lookup(kind, ami_type)
    scaling = config.new_scaling(p.get("scalingConfig"), cluster_name, name)
    labels, taints = p.get("labels") or {}, p.get("taints") or []
    config.check_labels(labels, cluster_name, name)
    config.check_taints(taints, cluster_name, name)
    ng_uuid = str(uuid.uuid4())
    arn = eks.arn(f"nodegroup/{cluster_name}/{name}/{ng_uuid}")
    resources: dict = {"autoScalingGroups": [{"name": asg.group_name(name, ng_uuid)}]}
    if p.get("remoteAccess"):
        resources["remoteAccessSecurityGroup"] = ec2.resource_id("sg", arn)
    now = time.time()
    nodegroup = {
        "nodegroupName": name, "nodegroupArn": arn, "clusterName": cluster_name, "version": version,
        "releaseVersion": release, "createdAt": now, "modifiedAt": now, "status": "CREATING",
        "capacityType": p.get("capacityType") or "ON_DEMAND", "scalingConfig": scaling, "instanceTypes": types,
        "subnets": p["subnets"], "remoteAccess": p.get("remoteAccess"), "amiType": ami_type,
        "nodeRole": p["nodeRole"], "labels": labels, "taints": taints, "resources": resources,
        "diskSize": None if template else (p.get("diskSize") or config.default_disk(ami_type)),
        "health": {"issues": []},
        "updateConfig": config.update_config(p.get("updateConfig"), scaling, cluster_name, name),
        "nodeRepairConfig": p.get("nodeRepairConfig") or {"enabled": False},
        "launchTemplate": ({**template, "id": template.get("id") or ec2.resource_id("lt", template["name"]),
                            "name": template.get("name") or f"eks-{ng_uuid}",
                            "version": str(template.get("version") or "1")} if template else None),
        "tags": p.get("tags") or {}, "_token": p.get("clientRequestToken"),
    }
    return nodegroup


def _check_launch_template(p: dict, fields: dict) -> None:
    """A launch template holds the disk and remote access itself, and is named by its id or its name."""
    if p.get("diskSize") is not None:
        raise invalid_parameter("Disk size must be specified within the launch template.", **fields)
    if p.get("remoteAccess"):
        raise invalid_parameter("Remote access configuration cannot be specified with a launch template.",
                                **fields)
    if bool(p["launchTemplate"].get("id")) == bool(p["launchTemplate"].get("name")):
        raise invalid_parameter("Either launch template ID or launch template name must be specified, but not "
                                "both.", **fields)


def _launch_template(nodegroup: dict) -> dict:
    """The Auto Scaling group's launch template: the user's, or the one EKS makes for the node group."""
    if template := nodegroup.get("launchTemplate"):
        return {"LaunchTemplateId": template["id"], "LaunchTemplateName": template["name"],
                "Version": template["version"]}
    arn = nodegroup["nodegroupArn"]
    return {"LaunchTemplateId": ec2.resource_id("lt", arn), "LaunchTemplateName": f"eks-{arn.rsplit('/', 1)[1]}",
            "Version": "1"}


def _ami_types() -> list[str]:
    return service_model("eks").shape_for("AMITypes").enum


def _check_release(release: str, version: str, fields: dict) -> None:
    if not release.startswith(version + "."):
        raise invalid_parameter(f"Requested release version {release} is not valid for kubernetes version "
                                f"{version}.", **fields)


async def _create(eks: Eks, cluster: str, name: str) -> None:
    """CREATING until the nodes are Ready: then ACTIVE, or CREATE_FAILED if they never were."""
    nodegroup = _nodegroup(eks, cluster, name)
    try:
        await converge(eks, cluster, name)
    except NodesFailedToJoin:
        nodegroup["status"] = "CREATE_FAILED"
        eks.store.save(cluster)
        return
    _settle(eks, cluster, nodegroup)


def _settle(eks: Eks, cluster: str, nodegroup: dict) -> None:
    """Back to ACTIVE (DEGRADED if it has health issues) once the work on it is done."""
    if nodegroup["status"] != "DELETING":
        nodegroup["status"] = "DEGRADED" if nodegroup["health"]["issues"] else "ACTIVE"
        nodegroup["modifiedAt"] = time.time()
        eks.store.save(cluster)


# reading


@operation("DescribeNodegroup")
async def describe_nodegroup(eks: Eks, request: Request) -> dict:
    return {"nodegroup": _nodegroup(eks, request.params["clusterName"], request.params["nodegroupName"])}


@operation("ListNodegroups")
async def list_nodegroups(eks: Eks, request: Request) -> dict:
    return names_page(eks.doc(request.params["clusterName"])["nodegroups"], "nodegroups", request.params)


# sizes, as Auto Scaling sets them


async def set_desired(eks: Eks, cluster: str, nodegroup: str, desired: int, min: int | None = None,
                      max: int | None = None) -> None:
    """The node group's Auto Scaling group resized (SetDesiredCapacity, UpdateAutoScalingGroup): its
    scalingConfig follows, and the nodes are launched or drained and removed in the background. The
    caller has checked the sizes, as Auto Scaling does."""
    ng = _nodegroup(eks, cluster, nodegroup)
    group = group_of(eks, cluster, nodegroup)
    if ng["status"] == "DELETING":
        raise AwsError("ValidationError", f"AutoScalingGroup {group['AutoScalingGroupName']} is pending delete.", 400)
    low = group["MinSize"] if min is None else min
    high = group["MaxSize"] if max is None else max
    _resize(eks, cluster, ng, {"minSize": low, "maxSize": high, "desiredSize": desired},
            explicit=min is None and max is None)
    eks.spawn(_scale(eks, cluster, nodegroup), f"scaling node group {nodegroup} of {cluster}")


def _resize(eks: Eks, cluster: str, nodegroup: dict, scaling: dict, explicit: bool = False) -> None:
    group = group_of(eks, cluster, nodegroup["nodegroupName"])
    asg.resize(group, scaling["minSize"], scaling["maxSize"], scaling["desiredSize"], explicit)
    nodegroup["scalingConfig"] = scaling
    eks.store.save(cluster)


async def _scale(eks: Eks, cluster: str, name: str) -> None:
    with contextlib.suppress(NodesFailedToJoin):  # recorded as the node group's health issue
        await converge(eks, cluster, name)


# updating


def _updatable(eks: Eks, cluster: str, name: str) -> dict:
    nodegroup = _nodegroup(eks, cluster, name)
    if nodegroup["status"] not in UPDATABLE or in_progress(eks, cluster, name):
        raise in_use("Nodegroup cannot be updated as it is currently not in Active State",
                     clusterName=cluster, nodegroupName=name)
    return nodegroup


@operation("UpdateNodegroupConfig")
async def update_nodegroup_config(eks: Eks, request: Request) -> dict:
    p = request.params
    cluster, name = p["clusterName"], p["nodegroupName"]
    nodegroup = _updatable(eks, cluster, name)
    fields = {"clusterName": cluster, "nodegroupName": name}
    labels, taints = p.get("labels") or {}, p.get("taints") or {}
    add_labels, remove_labels = labels.get("addOrUpdateLabels") or {}, labels.get("removeLabels") or []
    add_taints, remove_taints = taints.get("addOrUpdateTaints") or [], taints.get("removeTaints") or []
    scaling, update_config = p.get("scalingConfig") or {}, p.get("updateConfig") or {}
    if not (add_labels or remove_labels or add_taints or remove_taints or scaling or update_config
            or p.get("nodeRepairConfig")):
        raise invalid_parameter("No changes needed for the nodegroup configuration provided", **fields)
    if both := set(add_labels) & set(remove_labels):
        raise invalid_parameter(f"The label keys {sorted(both)} cannot be both added and removed", **fields)
    config.check_labels(add_labels, cluster, name)
    config.check_taints([*add_taints, *remove_taints], cluster, name)
    new_taints = config.merge_taints(nodegroup["taints"], add_taints, remove_taints)
    config.check_taints(new_taints, cluster, name)
    new_scaling = config.changed_scaling(nodegroup["scalingConfig"], scaling, cluster, name)
    new_update_config = config.update_config(update_config or nodegroup["updateConfig"], new_scaling, cluster,
                                             name)
    params = [(kind, json.dumps(value)) for kind, value in (
        ("LabelsToAdd", add_labels), ("LabelsToRemove", remove_labels), ("TaintsToAdd", add_taints),
        ("TaintsToRemove", remove_taints)) if value]
    params += [(kind, str(scaling[key])) for kind, key in (("MinSize", "minSize"), ("MaxSize", "maxSize"),
                                                          ("DesiredSize", "desiredSize")) if key in scaling]
    params += [(kind, str(update_config[key])) for kind, key in (("MaxUnavailable", "maxUnavailable"),
                                                                ("MaxUnavailablePercentage",
                                                                 "maxUnavailablePercentage")) if key in update_config]
    if p.get("nodeRepairConfig"):
        params.append(("NodeRepairEnabled", str(bool(p["nodeRepairConfig"].get("enabled"))).lower()))
        nodegroup["nodeRepairConfig"] = p["nodeRepairConfig"]
    update = begin_update(eks, cluster, "ConfigUpdate", params, resource=name)
    changes = (add_labels, remove_labels, add_taints, remove_taints)
    update["_work"] = {"changes": changes}  # to go on with after a restart
    nodegroup["status"] = "UPDATING"
    nodegroup["labels"] = {k: v for k, v in nodegroup["labels"].items() if k not in remove_labels} | add_labels
    nodegroup["taints"] = new_taints
    nodegroup["updateConfig"] = new_update_config
    if new_scaling != nodegroup["scalingConfig"]:
        _resize(eks, cluster, nodegroup, new_scaling)
    eks.store.save(cluster)
    eks.spawn(_reconfigure(eks, cluster, name, update["id"], changes), f"updating node group {name} of {cluster}")
    return {"update": update}


async def _reconfigure(eks: Eks, cluster: str, name: str, update_id: str,
                       changes: tuple[dict, list, list, list]) -> None:
    """Label and taint the running nodes, tell the agent (for nodes it starts again), then scale."""
    add_labels, remove_labels, add_taints, remove_taints = changes
    nodegroup = _nodegroup(eks, cluster, name)
    error = None
    try:
        nodes = [i["_node"] for i in group_of(eks, cluster, name)["Instances"]]
        if any(changes) and nodes:
            async with Client(eks.control_plane(cluster).admin) as client:
                await relabel(client, nodes, add_labels, remove_labels, kube_taints(add_taints),
                              kube_taints(remove_taints))
        await converge(eks, cluster, name)
    except NodesFailedToJoin as e:
        error = e.detail
    end_update(eks, cluster, update_id, error)
    _settle(eks, cluster, nodegroup)


@operation("UpdateNodegroupVersion")
async def update_nodegroup_version(eks: Eks, request: Request) -> dict:
    p = request.params
    cluster, name = p["clusterName"], p["nodegroupName"]
    nodegroup = _updatable(eks, cluster, name)
    fields = {"clusterName": cluster, "nodegroupName": name}
    cluster_version = eks.doc(cluster)["cluster"]["version"]
    version = p.get("version") or cluster_version
    if versions.minor(version) > versions.minor(cluster_version):
        raise invalid_parameter(f"Requested Nodegroup Kubernetes Version {version} is greater than current Cluster "
                                f"version {cluster_version}", **fields)
    if versions.minor(version) < versions.minor(nodegroup["version"]):
        raise invalid_parameter(f"Requested Nodegroup Kubernetes Version {version} is lower than current "
                                f"Nodegroup version {nodegroup['version']}", **fields)
    release = p.get("releaseVersion") or ec2.release_version(version)
    _check_release(release, version, fields)
    template, asked_template = nodegroup.get("launchTemplate"), p.get("launchTemplate")
    if asked_template and not template:
        raise invalid_parameter("A launch template can only be given to a node group created with one", **fields)
    group = group_of(eks, cluster, name)
    current = group["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]["Version"]
    if template:  # the user's template, at the version asked for
        template_version = str((asked_template or {}).get("version") or current)
    else:  # EKS's own template gets a new version for the new AMI
        template_version = str(int(current) + 1)
    if (version, release) == (nodegroup["version"], nodegroup["releaseVersion"]) and \
            (not template or template_version == current):
        raise invalid_parameter(f"Nodegroup {name} is already at version {version} and release version {release}",
                                **fields)
    params = [("Version", version), ("ReleaseVersion", release)]
    if template:
        params += [("LaunchTemplateName", template["name"]), ("LaunchTemplateVersion", template_version)]
    update = begin_update(eks, cluster, "VersionUpdate", params, resource=name)
    update["_work"] = {"version": version, "release": release, "template_version": template_version,
                       "force": bool(p.get("force"))}
    nodegroup["status"] = "UPDATING"
    eks.store.save(cluster)
    eks.spawn(_upgrade(eks, cluster, name, update["id"], **update["_work"]), f"upgrading node group {name} of {cluster}")
    return {"update": update}


async def _upgrade(eks: Eks, cluster: str, name: str, update_id: str, version: str, release: str,
                   template_version: str, force: bool) -> None:
    nodegroup = _nodegroup(eks, cluster, name)
    error = None
    try:
        await roll(eks, cluster, name, release, template_version, force)
        nodegroup.update(version=version, releaseVersion=release)
        if nodegroup.get("launchTemplate"):
            nodegroup["launchTemplate"]["version"] = template_version
    except (UpdateFailed, NodesFailedToJoin) as e:
        error = e.detail
    end_update(eks, cluster, update_id, error)
    _settle(eks, cluster, nodegroup)


# deleting


@operation("DeleteNodegroup")
async def delete_nodegroup(eks: Eks, request: Request) -> dict:
    cluster, name = request.params["clusterName"], request.params["nodegroupName"]
    nodegroup = _nodegroup(eks, cluster, name)
    if nodegroup["status"] != "DELETING":
        nodegroup["status"] = "DELETING"
        nodegroup["modifiedAt"] = time.time()
        eks.store.save(cluster)
        eks.spawn(_delete(eks, cluster, name), f"deleting node group {name} of {cluster}")
    return {"nodegroup": nodegroup}


async def _delete(eks: Eks, cluster: str, name: str) -> None:
    """Every node drained (each for up to EKS's 5 minutes) and removed, then the agent, the group and the
    node group's record and updates."""
    group = group_of(eks, cluster, name)
    asg.resize(group, 0, group["MaxSize"], 0)
    eks.store.save(cluster)
    with contextlib.suppress(NodesFailedToJoin):
        await converge(eks, cluster, name)
    await asyncio.to_thread(agent(eks, cluster, name).stop)
    doc = eks.doc(cluster)
    doc["autoScalingGroups"].pop(group["AutoScalingGroupName"], None)
    doc["nodegroups"].pop(name, None)
    for update_id in [u["id"] for u in doc["updates"].values()
                      if u["_resource"] == name and u["type"] in ("ConfigUpdate", "VersionUpdate")]:
        del doc["updates"][update_id]
    eks.store.save(cluster)
    await asyncio.to_thread(shutil.rmtree, nodegroup_dir(eks, cluster, name), True)
    forget(eks, cluster, name)


# the service's start and stop


async def _resume(eks: Eks) -> None:
    """After a restart: the agents of node groups with nodes run again, and unfinished work goes on
    (an update that was in progress ends once its node group is back at its size)."""
    for cluster, doc in list(eks.store.clusters.items()):
        if doc["cluster"]["status"] not in ("ACTIVE", "UPDATING"):
            continue
        for name, nodegroup in list(doc["nodegroups"].items()):
            if group_of(eks, cluster, name)["Instances"]:
                await asyncio.to_thread(agent(eks, cluster, name).start)
            status = nodegroup["status"]
            if status == "DELETING":
                eks.spawn(_delete(eks, cluster, name), f"deleting node group {name} of {cluster}")
            elif status == "CREATING":
                eks.spawn(_create(eks, cluster, name), f"creating node group {name} of {cluster}")
            else:
                eks.spawn(_finish(eks, cluster, name), f"resuming node group {name} of {cluster}")


async def _finish(eks: Eks, cluster: str, name: str) -> None:
    """Go on with the update in progress, if any (from the start: each of its steps is idempotent), else
    with whatever scaling was under way."""
    update = next((u for u in eks.doc(cluster)["updates"].values() if u["_resource"] == name
                   and u["status"] == "InProgress" and u["type"] in ("ConfigUpdate", "VersionUpdate")), None)
    if update is None:
        await _scale(eks, cluster, name)
    elif update["type"] == "VersionUpdate":
        await _upgrade(eks, cluster, name, update["id"], **update["_work"])
    else:
        await _reconfigure(eks, cluster, name, update["id"], tuple(update["_work"]["changes"]))


async def _stop_agents(eks: Eks) -> None:
    """Stop every node group's nodes; their records stay, for the next start."""
    stops = [asyncio.to_thread(agent(eks, cluster, name).stop)
             for cluster, doc in eks.store.clusters.items() for name in doc["nodegroups"]]
    for result in await asyncio.gather(*stops, return_exceptions=True):
        if isinstance(result, Exception):
            log.error("stopping a node agent failed: %s", result)


STARTUP.append(_resume)
SHUTDOWN.append(_stop_agents)
