"""Whether the caller may make a call, as IAM decides it: the action (SERVICE:OPERATION, and iam:PassRole
for the roles a call hands to EKS) on the resource the operation names is evaluated against the caller's
identity policies (a user's attached and inline policies; for a role's session, the role's, narrowed by the
session's policies if it was given any): an explicit Deny wins, then an Allow, else the implicit deny.
Denied calls get AccessDeniedException (EKS) or AccessDenied (Query services) with AWS's message, naming
the caller (a user's ARN, or the session's arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) and the resource.

STS is not evaluated here: GetCallerIdentity is never denied (as on AWS), GetSessionToken is not governed
by policies, and AssumeRole is decided by may_assume (the role's trust policy and the caller's policies).
Condition blocks are not evaluated (see policy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.eks import policy, sigv4
from timoneiro.eks.iam import Principal
from timoneiro.eks.protocol import CommonError
from timoneiro.eks.sessions import USER

if TYPE_CHECKING:
    from timoneiro.eks.service import Eks

ASSUME_ROLE = "sts:AssumeRole"
# services whose denials say why (IAM's do; EKS's, STS's and Auto Scaling's only say when a Deny decided)
EXPLAINED = frozenset({"iam"})
# EKS operations that name no resource of their own, and those that create one inside a cluster
EKS_ACCOUNT_WIDE = frozenset({"DescribeAddonVersions", "DescribeAddonConfiguration", "ListAccessPolicies",
                              "DescribeClusterVersions"})
EKS_CREATING = frozenset({"CreateNodegroup", "CreateAddon", "CreateAccessEntry"})
# the role a call hands to EKS, which the caller must be allowed to pass
PASSED_ROLES = {"CreateCluster": "roleArn", "CreateNodegroup": "nodeRole", "CreateAddon": "serviceAccountRoleArn",
                "UpdateAddon": "serviceAccountRoleArn"}
# IAM operations that act on the caller's own user when no UserName is given
IAM_SELF = frozenset({"GetUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey"})
IAM_LISTS = {"ListUsers": "user", "ListRoles": "role", "ListPolicies": "policy"}
AUTOSCALING_GROUP_OPERATIONS = frozenset({"SetDesiredCapacity", "UpdateAutoScalingGroup"})


def denied(caller: str, action: str, resource: str, explicit: bool, policies: str = "identity-based") -> CommonError:
    message = f"User: {caller} is not authorized to perform: {action}"
    if resource != "*":
        message += f" on resource: {resource}"
    if action.partition(":")[0] in EXPLAINED:
        message += (f" with an explicit deny in an {policies} policy" if explicit
                    else f" because no {policies} policy allows the {action} action")
    elif explicit:
        message += " with an explicit deny"
    return CommonError("AccessDeniedException", "AccessDenied", message, 403)


def authorize(eks: Eks, principal: Principal, service: str, operation: str, params: dict) -> None:
    """AccessDenied unless the caller's policies allow the call (see the module's docstring)."""
    if service == "sts":
        return
    session = eks.iam.session_of(principal)
    if service == "iam" and session is not None and session["_kind"] == USER:
        raise sigv4.unrecognized()  # GetSessionToken's credentials call IAM only with MFA, which is not had here
    checks = [(f"{service}:{operation}", _resource(eks, principal, service, operation, params))]
    role = params.get(PASSED_ROLES.get(operation, "")) if service == "eks" else None
    if role:
        checks.append(("iam:PassRole", role))
    for action, resource in checks:
        decision, policies = identity_decision(eks, principal, action, resource)
        if decision != policy.ALLOW:
            raise denied(principal.arn, action, resource, decision == policy.DENY, policies)


def identity_decision(eks: Eks, principal: Principal, action: str, resource: str) -> tuple[str | None, str]:
    """The caller's policies' decision on the action (policy.ALLOW, DENY or None), and which policies made
    it ("identity-based", or "session" when the session's policies withheld what the role's allow)."""
    decision = policy.decide(eks.iam.identity_policies(principal), action, resource)
    narrowing = eks.iam.session_policies(principal)
    if decision == policy.ALLOW and narrowing is not None:
        narrowed = policy.decide(narrowing, action, resource)
        if narrowed != policy.ALLOW:
            return narrowed, "session"
    return decision, "identity-based"


def may_assume(eks: Eks, principal: Principal, role_arn: str) -> dict:
    """The role the caller may assume, as STS decides: the role's trust policy must let the caller in, by
    name (or everyone) or by its account, and in the latter case the caller's policies must allow
    sts:AssumeRole on the role; a Deny in either refuses. AccessDenied otherwise (also for an unknown role)."""
    role = eks.iam.role_by_arn(role_arn)
    decision, policies = identity_decision(eks, principal, ASSUME_ROLE, role_arn)
    how = None
    if role is not None:
        how = policy.trusted(policy.parsed(role["AssumeRolePolicyDocument"], trust=True), principal.arn,
                             role["Arn"])
    if how is None or decision == policy.DENY or (how == policy.BY_ACCOUNT and decision != policy.ALLOW):
        raise denied(principal.arn, ASSUME_ROLE, role_arn, decision == policy.DENY, policies)
    return role


def _resource(eks: Eks, principal: Principal, service: str, operation: str, params: dict) -> str:
    if service == "eks":
        return _eks_resource(eks, operation, params)
    if service == "iam":
        return _iam_resource(eks, principal, operation, params)
    if service == "autoscaling" and operation in AUTOSCALING_GROUP_OPERATIONS:
        return _auto_scaling_group(eks, params["AutoScalingGroupName"])
    return "*"  # Auto Scaling's Describe* name no resource


def _eks_resource(eks: Eks, operation: str, p: dict) -> str:
    """The ARN an EKS operation is authorized on: its cluster's, node group's, add-on's or access entry's
    (unknown ones with * for their unique suffix), the tagged resource's; cluster/* for ListClusters."""
    if operation == "ListClusters":
        return eks.arn("cluster/*")
    if operation in EKS_ACCOUNT_WIDE:
        return eks.arn("*")
    if p.get("resourceArn"):
        return p["resourceArn"]
    cluster = p.get("clusterName") or p.get("name") or ""
    doc = eks.store.clusters.get(cluster) or {}
    if operation not in EKS_CREATING:
        for key, section, arn_key, kind in (("nodegroupName", "nodegroups", "nodegroupArn", "nodegroup"),
                                            ("addonName", "addons", "addonArn", "addon"),
                                            ("principalArn", "accessEntries", "accessEntryArn", "access-entry")):
            if p.get(key):
                record = doc.get(section, {}).get(p[key])
                return record[arn_key] if record else eks.arn(f"{kind}/{cluster}/{_entry_path(kind, p[key])}*")
    return eks.arn(f"cluster/{cluster}")


def _entry_path(kind: str, name: str) -> str:
    """What an ARN of the kind holds between the cluster's name and its unique suffix."""
    if kind != "access-entry":
        return f"{name}/"
    parts = name.split(":", 5)  # an access entry's: TYPE/ACCOUNT/NAME/ from its principal's ARN
    if len(parts) != 6:
        return ""
    kind_, _, path = parts[5].partition("/")
    return f"{kind_}/{parts[4]}/{path.rpartition('/')[2]}/"


def _iam_resource(eks: Eks, principal: Principal, operation: str, p: dict) -> str:
    iam = eks.iam
    if operation in IAM_LISTS:
        return iam.arn(IAM_LISTS[operation], "")
    if operation == "CreatePolicy":
        return iam.arn("policy", p["PolicyName"], p.get("Path") or "/")
    if p.get("PolicyArn") and not (p.get("UserName") or p.get("RoleName")):
        return p["PolicyArn"]
    for key, kind, records in (("RoleName", "role", iam.roles), ("UserName", "user", iam.users)):
        if p.get(key):
            record = records.get(p[key].lower())
            return record["Arn"] if record else iam.arn(kind, p[key], p.get("Path") or "/")
    return principal.arn if operation in IAM_SELF else "*"


def _auto_scaling_group(eks: Eks, name: str) -> str:
    for doc in eks.store.clusters.values():
        group = doc.get("autoScalingGroups", {}).get(name)
        if group is not None:
            return group["AutoScalingGroupARN"]
    return f"arn:aws:autoscaling:{eks.region}:{eks.account}:autoScalingGroup:*:autoScalingGroupName/{name}"
