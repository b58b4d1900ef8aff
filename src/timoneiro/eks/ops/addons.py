"""Add-ons: CreateAddon, DescribeAddon, ListAddons, UpdateAddon, DeleteAddon, DescribeAddonVersions and
DescribeAddonConfiguration. An add-on is its objects in the cluster's kube-system (see addon_manifests),
applied in the background once the cluster serves: CREATING, then ACTIVE or DEGRADED as its workload says
(see addon_health), CREATE_FAILED when resolveConflicts forbids taking over fields someone else changed.
UpdateAddon is an Update (AddonUpdate) that ends with the add-on ACTIVE again; DeleteAddon removes the
objects unless asked to preserve them."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import TypeVar

from timoneiro.client import ApiError, Client, TransportError
from timoneiro.eks import addon_config
from timoneiro.eks.addon_apply import ConfigurationConflict, apply, delete, reference
from timoneiro.eks.addon_catalogue import ADDONS, NAMESPACE, compatible_version, describe_versions, lookup
from timoneiro.eks.addon_health import watch
from timoneiro.eks.addon_manifests import WORKLOADS, install_for, objects
from timoneiro.eks.errors import in_use, invalid_parameter, not_found
from timoneiro.eks.operations import Request, operation
from timoneiro.eks.paging import names_page
from timoneiro.eks.service import STARTUP, Eks
from timoneiro.eks.updates import begin_update, end_update

T = TypeVar("T")
UPDATABLE = ("ACTIVE", "DEGRADED", "UPDATE_FAILED")
_RETRY = 0.25  # seconds between tries while the cluster's API server does not answer (starting, upgrading)
_work: dict[tuple[int, str, str], asyncio.Task] = {}  # (service, cluster, add-on): the applying or removing
# DescribeAddonConfiguration: the service accounts that call AWS, the IAM policies EKS recommends for them
_POD_IDENTITY = {"vpc-cni": [{"serviceAccount": "aws-node", "recommendedManagedPolicies": [
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"]}]}


@operation("CreateAddon")
async def create_addon(eks: Eks, request: Request) -> dict:
    p = request.params
    cluster_name, name = p["clusterName"], p["addonName"]
    doc = eks.doc(cluster_name)
    cluster = doc["cluster"]
    existing = doc["addons"].get(name)
    if existing is not None:
        if p.get("clientRequestToken") and existing.get("_clientRequestToken") == p["clientRequestToken"]:
            return {"addon": existing}  # a retry of the same call
        raise in_use("Addon already exists.", clusterName=cluster_name, addonName=name)
    if cluster["status"] in ("DELETING", "FAILED"):
        raise in_use(f"Cluster {cluster_name} is in {cluster['status']} state", clusterName=cluster_name)
    addon = lookup(name, cluster["version"], cluster_name)
    version = compatible_version(addon, p.get("addonVersion"), cluster["version"], cluster_name)
    _check_extras(p, cluster_name, name)
    addon_config.parse(name, p.get("configurationValues"), cluster_name)
    now = time.time()
    record = {
        "addonName": name, "clusterName": cluster_name, "status": "CREATING", "addonVersion": version.name,
        "health": {"issues": []}, "addonArn": eks.arn(f"addon/{cluster_name}/{name}/{uuid.uuid4()}"),
        "createdAt": now, "modifiedAt": now, "serviceAccountRoleArn": p.get("serviceAccountRoleArn"),
        "tags": p.get("tags") or {}, "configurationValues": p.get("configurationValues"),
        # on creation PRESERVE is NONE: there is nothing of the add-on's own to keep yet
        "_resolveConflicts": "OVERWRITE" if p.get("resolveConflicts") == "OVERWRITE" else "NONE",
        "_clientRequestToken": p.get("clientRequestToken"), "_objects": []}
    doc["addons"][name] = record
    eks.store.save(cluster_name)
    _begin(eks, cluster_name, name, _install(eks, cluster_name, name))
    return {"addon": record}


def _check_extras(p: dict, cluster: str, name: str) -> None:
    """What this service does not do for the core add-ons: other namespaces, Pod Identity associations."""
    namespace = (p.get("namespaceConfig") or {}).get("namespace")
    if namespace and namespace != NAMESPACE:
        raise invalid_parameter(f"Addon {name} does not support custom namespace configuration",
                                clusterName=cluster, addonName=name)
    if p.get("podIdentityAssociations"):
        raise invalid_parameter("podIdentityAssociations are not supported: there are no pod identity "
                                "associations in this service", clusterName=cluster, addonName=name)
    role = p.get("serviceAccountRoleArn")
    if role is not None and not (role.startswith("arn:aws:iam::") and ":role/" in role):
        raise invalid_parameter(f"Invalid serviceAccountRoleArn: {role}", clusterName=cluster, addonName=name)


@operation("DescribeAddon")
async def describe_addon(eks: Eks, request: Request) -> dict:
    return {"addon": _addon(eks, request.params["clusterName"], request.params["addonName"])}


@operation("ListAddons")
async def list_addons(eks: Eks, request: Request) -> dict:
    return names_page(eks.doc(request.params["clusterName"])["addons"], "addons", request.params)


@operation("UpdateAddon")
async def update_addon(eks: Eks, request: Request) -> dict:
    p = request.params
    cluster_name, name = p["clusterName"], p["addonName"]
    record = _addon(eks, cluster_name, name)
    if record["status"] not in UPDATABLE:
        raise in_use(f"Addon {name} is in {record['status']} state", clusterName=cluster_name, addonName=name)
    kubernetes = eks.doc(cluster_name)["cluster"]["version"]
    if p.get("addonVersion"):
        compatible_version(ADDONS[name], p["addonVersion"], kubernetes, cluster_name)
    _check_extras(p, cluster_name, name)
    if "configurationValues" in p:
        addon_config.parse(name, p["configurationValues"], cluster_name)
    given = [("AddonVersion", "addonVersion"), ("ServiceAccountRoleArn", "serviceAccountRoleArn"),
             ("ResolveConflicts", "resolveConflicts"), ("ConfigurationValues", "configurationValues")]
    params = [(kind, p[key]) for kind, key in given if key in p]
    update = begin_update(eks, cluster_name, "AddonUpdate", params, resource=name)
    if p.get("addonVersion"):
        record["addonVersion"] = p["addonVersion"]
    for key in ("serviceAccountRoleArn", "configurationValues"):
        if key in p:
            record[key] = p[key] or None
    record.update(status="UPDATING", modifiedAt=time.time(), _applied=False, _update=update["id"],
                  _resolveConflicts=p.get("resolveConflicts") or "NONE")
    eks.store.save(cluster_name)
    _begin(eks, cluster_name, name, _install(eks, cluster_name, name))
    return {"update": update}


@operation("DeleteAddon")
async def delete_addon(eks: Eks, request: Request) -> dict:
    p = request.params
    cluster_name, name = p["clusterName"], p["addonName"]
    record = _addon(eks, cluster_name, name)
    if record["status"] != "DELETING":
        pending = record.pop("_update", None)
        if pending:
            eks.doc(cluster_name)["updates"][pending]["status"] = "Cancelled"
        record.update(status="DELETING", modifiedAt=time.time(), _preserve=bool(p.get("preserve")))
        eks.store.save(cluster_name)
        _begin(eks, cluster_name, name, _remove(eks, cluster_name, name))
    return {"addon": record}


@operation("DescribeAddonVersions")
async def describe_addon_versions(eks: Eks, request: Request) -> dict:
    addons, token = describe_versions(request.params)
    return {"addons": addons, "nextToken": token}


@operation("DescribeAddonConfiguration")
async def describe_addon_configuration(eks: Eks, request: Request) -> dict:
    name, version = request.params["addonName"], request.params["addonVersion"]
    addon = ADDONS.get(name)
    if addon is None:
        raise invalid_parameter("Addon specified is not supported", addonName=name)
    if addon.version(version) is None:
        raise invalid_parameter("Addon version specified is not supported", addonName=name)
    return {"addonName": name, "addonVersion": version, "configurationSchema": addon_config.schema_text(name),
            "podIdentityConfiguration": _POD_IDENTITY.get(name, [])}


def _addon(eks: Eks, cluster: str, name: str) -> dict:
    record = eks.doc(cluster)["addons"].get(name)
    if record is None:
        raise not_found(f"No addon: {name} found in cluster: {cluster}", clusterName=cluster, addonName=name)
    return record


# the work behind the calls


def _begin(eks: Eks, cluster: str, name: str, work: Coroutine[None, None, None]) -> None:
    """Run an add-on's work in the background, in place of any it had under way."""
    key = (id(eks), cluster, name)
    previous = _work.pop(key, None)
    if previous is not None:
        previous.cancel()
    task = _work[key] = eks.spawn(work, f"add-on {name} of cluster {cluster}")
    task.add_done_callback(lambda t: _work.pop(key, None) if _work.get(key) is t else None)


class _ClusterGone(Exception):
    pass


async def _when_serving(eks: Eks, cluster: str, work: Callable[[Client], Awaitable[T]]) -> T:
    """Run `work(client)` against the cluster once it is ACTIVE (the self-managed add-ons in, which ours must
    come after) and its API server answers, trying again while it does not (an upgrade restarts it)."""
    while True:
        doc = eks.store.clusters.get(cluster)
        if doc is None or doc["cluster"]["status"] in ("DELETING", "FAILED"):
            raise _ClusterGone(cluster)
        if doc["cluster"]["status"] in ("ACTIVE", "UPDATING"):
            try:
                async with Client(eks.control_plane(cluster).admin) as client:
                    return await work(client)
            except TransportError:
                pass
        await asyncio.sleep(_RETRY)


async def _install(eks: Eks, cluster: str, name: str) -> None:
    """Apply the add-on's objects as its record now says; the health watcher takes it from there."""
    record = eks.doc(cluster)["addons"][name]
    failed = "CREATE_FAILED" if record["status"] == "CREATING" else "UPDATE_FAILED"
    install = install_for(eks, cluster, name, ADDONS[name].version(record["addonVersion"]),
                          addon_config.parse(name, record.get("configurationValues"), cluster),
                          record.get("serviceAccountRoleArn"))
    wanted = objects(install)
    stale = [ref for ref in record["_objects"] if ref not in [reference(o) for o in wanted]]

    async def put(client: Client) -> list[dict]:
        applied = await apply(client, wanted, record["_resolveConflicts"])
        await delete(client, stale)  # what the new configuration no longer has (a disabled PDB)
        return applied

    try:
        applied = await _when_serving(eks, cluster, put)
    except _ClusterGone:
        return
    except (ConfigurationConflict, ApiError) as e:
        code = "ConfigurationConflict" if isinstance(e, ConfigurationConflict) else _issue_code(e)
        message = str(e) if isinstance(e, ConfigurationConflict) else e.message
        _failed(eks, cluster, record, failed, code, message)
        return
    workload = WORKLOADS[name]
    record["_generation"] = next(o["metadata"].get("generation", 0) for o in applied
                                 if (o["kind"], o["metadata"]["name"]) == (workload.kind, workload.name))
    record["_objects"] = [reference(o) for o in wanted]
    record["_applied"] = True
    eks.store.save(cluster)
    watch(eks, cluster)


def _issue_code(e: ApiError) -> str:
    """The AddonIssueCode of a refusal by the cluster's API server."""
    if e.code == 403:
        return "AdmissionRequestDenied" if "admission webhook" in e.message else "AccessDenied"
    return "InternalFailure"


def _failed(eks: Eks, cluster: str, record: dict, status: str, code: str, message: str) -> None:
    record.update(status=status, health={"issues": [{"code": code, "message": message, "resourceIds": []}]},
                  modifiedAt=time.time())
    update = record.pop("_update", None)
    if update:
        known = code in ("ConfigurationConflict", "AdmissionRequestDenied", "AccessDenied")  # also ErrorCodes
        end_update(eks, cluster, update, {"errorCode": code if known else "Unknown", "errorMessage": message,
                                          "resourceIds": []})
    eks.store.save(cluster)


async def _remove(eks: Eks, cluster: str, name: str) -> None:
    """DeleteAddon's work: the objects go unless preserved; then the add-on is gone from the API."""
    record = eks.doc(cluster)["addons"][name]
    if not record.get("_preserve") and record["_objects"]:
        with contextlib.suppress(_ClusterGone):
            await _when_serving(eks, cluster, lambda client: delete(client, record["_objects"]))
    doc = eks.store.clusters.get(cluster)
    if doc is not None and doc["addons"].get(name) is record:
        del doc["addons"][name]
        eks.store.save(cluster)


async def _resume(eks: Eks) -> None:
    """After a restart, finish what add-ons were in the middle of, and follow their health again."""
    for cluster, doc in list(eks.store.clusters.items()):
        for name, record in doc["addons"].items():
            if record["status"] == "DELETING":
                _begin(eks, cluster, name, _remove(eks, cluster, name))
            elif record["status"] in ("CREATING", "UPDATING") and not record.get("_applied"):
                _begin(eks, cluster, name, _install(eks, cluster, name))
        if doc["addons"]:
            watch(eks, cluster)


STARTUP.append(_resume)
