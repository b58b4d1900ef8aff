"""Access entries and access policies, EKS's cluster access management API: which IAM principals may sign
in to a cluster (with `aws eks get-token`'s tokens, checked by the service as the cluster's token webhook:
see webhook and usermapping), as which Kubernetes user and groups, and with which of EKS's access policies.

Our mechanism for access policies: EKS evaluates them in an authorizer of its own; here each association is
RBAC the service writes in the cluster as its super-admin, binding the policy's ClusterRole (cluster-admin,
admin, edit, view, or one of the service's own for the policies with no upstream counterpart) to the
entry's username, a ClusterRoleBinding for the cluster scope and RoleBindings in the named namespaces for
the namespace scope, removed when the association or the entry goes (see access_bindings).

The entries API answers in the API and API_AND_CONFIG_MAP authentication modes only, as EKS's. The cluster
creator's entry, with AmazonEKSClusterAdminPolicy, is made at creation in every mode unless
accessConfig.bootstrapClusterCreatorAdminPermissions is false (bootstrap_access), as EKS makes it."""

from __future__ import annotations

import re
import time
import uuid

from timoneiro.eks import access_bindings
from timoneiro.eks.access_policies import CLUSTER_ADMIN, POLICIES
from timoneiro.eks.errors import in_use, invalid_parameter, invalid_request, not_found
from timoneiro.eks.iam import Principal
from timoneiro.eks.operations import Request, operation
from timoneiro.eks.paging import page
from timoneiro.eks.service import STARTUP, Eks
from timoneiro.eks.tokens import canonical_arn

API_MODES = ("API", "API_AND_CONFIG_MAP")
STANDARD = "STANDARD"
# the other types are for nodes' roles: what EKS sets for them
NODE_USERNAMES = {"EC2_LINUX": "system:node:{{EC2PrivateDNSName}}", "EC2_WINDOWS": "system:node:{{EC2PrivateDNSName}}",
                  "EC2": "system:node:{{SessionName}}", "FARGATE_LINUX": "system:node:{{SessionName}}",
                  "HYBRID_LINUX": "system:node:{{SessionName}}"}
NODE_GROUPS = ["system:nodes"]
RESERVED_USERNAME_PREFIXES = ("system:", "eks:", "aws:", "amazon:", "iam:")
RESERVED_GROUP_PREFIX = "system:"
SESSION_PLACEHOLDERS = ("{{SessionName}}", "{{SessionNameRaw}}")
PRINCIPAL_ARN = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):(user|role)/([\w+=,.@/-]+)")
NAMESPACE = re.compile(r"[a-z0-9*]([-a-z0-9*]*[a-z0-9*])?")
NO_ENTRY = "The specified principalArn could not be found. You can view your available access entries with " \
           "'list-access-entries'."


def _entries_doc(eks: Eks, cluster: str) -> dict:
    """The cluster's document, if its authentication mode has the access entries API."""
    doc = eks.doc(cluster)
    if doc["cluster"]["accessConfig"]["authenticationMode"] not in API_MODES:
        raise invalid_request("The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] "
                              "to perform this operation.", clusterName=cluster)
    return doc


def _entry(doc: dict, principal_arn: str) -> dict:
    entry = doc["accessEntries"].get(principal_arn)
    if entry is None:
        raise not_found(NO_ENTRY, clusterName=doc["cluster"]["name"])
    return entry


def _addressed(eks: Eks, request: Request) -> tuple[dict, dict]:
    """The document of the call's cluster, and the access entry of its principal."""
    doc = _entries_doc(eks, request.params["clusterName"])
    return doc, _entry(doc, request.params["principalArn"])


async def _changed(eks: Eks, cluster: str) -> None:
    """Keep a change to a cluster's access, and put it in effect."""
    eks.store.save(cluster)
    await access_bindings.sync_soon(eks, cluster)


def _standard(entry: dict) -> dict:
    if entry["type"] != STANDARD:
        raise invalid_parameter('This operation can only be performed on Access Entries with a type of "STANDARD".',
                                clusterName=entry["clusterName"])
    return entry


def _check_username(username: str, cluster: str) -> None:
    prefix = next((p for p in RESERVED_USERNAME_PREFIXES if username.startswith(p)), None)
    if prefix:
        raise invalid_parameter(f"The username {username} is invalid, it cannot start with {prefix}",
                                clusterName=cluster)
    for placeholder in SESSION_PLACEHOLDERS:
        if placeholder in username and ":" not in username.partition(placeholder)[0]:
            raise invalid_parameter(f"The username {username} is invalid, {placeholder} must be preceded by a colon",
                                    clusterName=cluster)


def _check_groups(groups: list[str], cluster: str) -> list[str]:
    for group in groups:
        if group.startswith(RESERVED_GROUP_PREFIX):
            raise invalid_parameter(f"The kubernetes group name {group} is invalid, it cannot start with "
                                    f"{RESERVED_GROUP_PREFIX}", clusterName=cluster)
    return list(dict.fromkeys(groups))


def default_username(principal_arn: str) -> str:
    """EKS's username for a STANDARD entry: a user's ARN; for a role, its sessions' ARN (without the
    role's path) ending in {{SessionName}}."""
    match = PRINCIPAL_ARN.fullmatch(principal_arn)
    if match is None or match.group(3) == "user":
        return principal_arn
    partition, account, _, name = match.groups()
    return f"arn:{partition}:sts::{account}:assumed-role/{name.rpartition('/')[2]}/{{{{SessionName}}}}"


def new_entry(eks: Eks, cluster: str, principal_arn: str, kind: str = STANDARD, username: str | None = None,
              groups: list[str] | None = None, tags: dict | None = None) -> dict:
    """An AccessEntry, its input checked as EKS checks it."""
    match = PRINCIPAL_ARN.fullmatch(principal_arn)
    if match is None or match.group(4).startswith("aws-service-role/"):
        raise invalid_parameter("The specified principalArn is invalid: invalid principal.", clusterName=cluster)
    if kind not in (STANDARD, *NODE_USERNAMES):
        raise invalid_parameter(f"The access entry type {kind} is invalid, it must be one of "
                                f"[{', '.join([STANDARD, *NODE_USERNAMES])}]", clusterName=cluster)
    if kind != STANDARD:
        if username or groups:
            raise invalid_parameter(f"The username and kubernetesGroups can't be specified for an access entry "
                                    f"of type {kind}.", clusterName=cluster)
        if match.group(3) != "role" or match.group(2) != eks.account:
            raise invalid_parameter(f"The principalArn of an access entry of type {kind} must be an IAM role of "
                                    f"this account.", clusterName=cluster)
    elif username:
        _check_username(username, cluster)
    now = time.time()
    return {"clusterName": cluster, "principalArn": principal_arn,
            "kubernetesGroups": list(NODE_GROUPS) if kind != STANDARD else _check_groups(groups or [], cluster),
            "accessEntryArn": eks.arn(f"access-entry/{cluster}/{match.group(3)}/{match.group(2)}/"
                                      f"{match.group(4).rpartition('/')[2]}/{uuid.uuid4()}"),
            "createdAt": now, "modifiedAt": now, "tags": tags or {},
            "username": NODE_USERNAMES.get(kind) or username or default_username(principal_arn), "type": kind}


@operation("CreateAccessEntry")
async def create_access_entry(eks: Eks, request: Request) -> dict:
    p = request.params
    cluster, arn = p["clusterName"], p["principalArn"]
    doc = _entries_doc(eks, cluster)
    existing = doc["accessEntries"].get(arn)
    if existing is not None:
        if p.get("clientRequestToken") and existing.get("_clientRequestToken") == p["clientRequestToken"]:
            return {"accessEntry": existing}  # a retry of the same call
        raise in_use("The specified access entry resource is already in use on this cluster.", clusterName=cluster)
    entry = new_entry(eks, cluster, arn, p.get("type") or STANDARD, p.get("username"), p.get("kubernetesGroups"),
                      p.get("tags"))
    entry["_clientRequestToken"] = p.get("clientRequestToken")
    doc["accessEntries"][arn] = entry
    eks.store.save(cluster)
    return {"accessEntry": entry}


@operation("DescribeAccessEntry")
async def describe_access_entry(eks: Eks, request: Request) -> dict:
    return {"accessEntry": _addressed(eks, request)[1]}


@operation("ListAccessEntries")
async def list_access_entries(eks: Eks, request: Request) -> dict:
    p = request.params
    doc = _entries_doc(eks, p["clusterName"])
    arns = list(doc["accessEntries"])
    if p.get("associatedPolicyArn"):
        arns = [a for a in arns if any(association["policyArn"] == p["associatedPolicyArn"]
                                       for association in doc["associatedPolicies"].get(a, ()))]
    names, token = page(arns, p)
    return {"accessEntries": names, "nextToken": token}


@operation("UpdateAccessEntry")
async def update_access_entry(eks: Eks, request: Request) -> dict:
    p = request.params
    cluster = p["clusterName"]
    entry = _standard(_addressed(eks, request)[1])
    if p.get("username"):
        _check_username(p["username"], cluster)
        entry["username"] = p["username"]
    if p.get("kubernetesGroups") is not None:
        entry["kubernetesGroups"] = _check_groups(p["kubernetesGroups"], cluster)
    entry["modifiedAt"] = time.time()
    await _changed(eks, cluster)
    return {"accessEntry": entry}


@operation("DeleteAccessEntry")
async def delete_access_entry(eks: Eks, request: Request) -> dict:
    doc, entry = _addressed(eks, request)
    del doc["accessEntries"][entry["principalArn"]]
    doc["associatedPolicies"].pop(entry["principalArn"], None)
    await _changed(eks, entry["clusterName"])
    return {}


def _scope(scope: dict, cluster: str) -> dict:
    kind, namespaces = scope.get("type"), list(scope.get("namespaces") or [])
    if kind == "cluster":
        if namespaces:
            raise invalid_parameter("Namespaces can't be specified for an access scope of type cluster.",
                                    clusterName=cluster)
        return {"type": "cluster", "namespaces": []}
    if kind != "namespace":
        raise invalid_parameter(f"The access scope type {kind} is invalid, it must be one of [cluster, namespace]",
                                clusterName=cluster)
    if not namespaces:
        raise invalid_parameter("At least one namespace must be specified for an access scope of type namespace.",
                                clusterName=cluster)
    bad = next((n for n in namespaces if len(n) > 63 or not NAMESPACE.fullmatch(n)), None)
    if bad is not None:
        raise invalid_parameter(f"The namespace {bad} is invalid.", clusterName=cluster)
    return {"type": "namespace", "namespaces": list(dict.fromkeys(namespaces))}


def associate(doc: dict, principal_arn: str, policy_arn: str, scope: dict) -> dict:
    """Associate a policy with an entry, or give an associated one its new scope, as EKS does."""
    cluster = doc["cluster"]["name"]
    policy = POLICIES.get(policy_arn)
    if policy is None:
        raise invalid_parameter(f"The specified policyArn {policy_arn} is invalid.", clusterName=cluster)
    if policy.cluster_role is None:
        raise invalid_parameter(f"{policy.name} grants AWS services' own components access; this service does not "
                                f"run them and cannot associate it.", clusterName=cluster)
    associations = doc["associatedPolicies"].setdefault(principal_arn, [])
    now = time.time()
    association = next((a for a in associations if a["policyArn"] == policy_arn), None)
    if association is None:
        association = {"policyArn": policy_arn, "associatedAt": now}
        associations.append(association)
    association.update(accessScope=_scope(scope, cluster), modifiedAt=now)
    return association


@operation("AssociateAccessPolicy")
async def associate_access_policy(eks: Eks, request: Request) -> dict:
    p = request.params
    doc, entry = _addressed(eks, request)
    association = associate(doc, _standard(entry)["principalArn"], p["policyArn"], p["accessScope"])
    await _changed(eks, entry["clusterName"])
    return {"clusterName": entry["clusterName"], "principalArn": entry["principalArn"],
            "associatedAccessPolicy": association}


@operation("DisassociateAccessPolicy")
async def disassociate_access_policy(eks: Eks, request: Request) -> dict:
    policy_arn = request.params["policyArn"]
    doc, entry = _addressed(eks, request)
    associations = doc["associatedPolicies"].get(entry["principalArn"], [])
    remaining = [a for a in associations if a["policyArn"] != policy_arn]
    if len(remaining) == len(associations):
        raise not_found(f"The specified policyArn {policy_arn} is not associated with the access entry.",
                        clusterName=entry["clusterName"])
    doc["associatedPolicies"][entry["principalArn"]] = remaining
    await _changed(eks, entry["clusterName"])
    return {}


@operation("ListAssociatedAccessPolicies")
async def list_associated_access_policies(eks: Eks, request: Request) -> dict:
    doc, entry = _addressed(eks, request)
    associations, token = page(doc["associatedPolicies"].get(entry["principalArn"], []), request.params)
    return {"clusterName": entry["clusterName"], "principalArn": entry["principalArn"],
            "associatedAccessPolicies": associations, "nextToken": token}


@operation("ListAccessPolicies")
async def list_access_policies(eks: Eks, request: Request) -> dict:
    policies, token = page([policy.as_api() for policy in POLICIES.values()], request.params)
    return {"accessPolicies": policies, "nextToken": token}


async def bootstrap_access(eks: Eks, cluster: str, creator: Principal) -> None:
    """Once a new cluster's API server answers: unless accessConfig.bootstrapClusterCreatorAdminPermissions
    is false, the creator's access entry with AmazonEKSClusterAdminPolicy for the whole cluster (for a
    role's session, the role's); then its access policies in effect, kept so as namespaces come."""
    doc = eks.doc(cluster)
    if doc["cluster"]["accessConfig"].get("bootstrapClusterCreatorAdminPermissions", True):
        arn = canonical_arn(creator.arn)
        if arn not in doc["accessEntries"]:
            doc["accessEntries"][arn] = new_entry(eks, cluster, arn)
            associate(doc, arn, CLUSTER_ADMIN, {"type": "cluster"})
            eks.store.save(cluster)
    await access_bindings.sync(eks, cluster)
    access_bindings.keep_in_effect(eks, cluster)


async def _resume(eks: Eks) -> None:
    """After a restart: keep the serving clusters' access policies in effect as namespaces come."""
    for name, doc in list(eks.store.clusters.items()):
        if doc["cluster"]["status"] in access_bindings.SERVING:
            access_bindings.keep_in_effect(eks, name)


STARTUP.append(_resume)
