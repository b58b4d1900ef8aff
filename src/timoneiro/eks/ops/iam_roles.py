"""IAM roles (service "iam", the Query protocol): `aws iam create-role --assume-role-policy-document
file://trust.json` and the rest of their life as IAM has it. The trust policy says who may assume the role
(see authorization.may_assume and ops/sts); a role with policies is not deleted."""

from __future__ import annotations

from timoneiro.eks.iam_api import by_name, listing, role_view
from timoneiro.eks.operations import Request, operation
from timoneiro.eks.service import Eks

DEFAULT_MAX_SESSION = 3600


@operation("CreateRole", service="iam")
async def create_role(eks: Eks, request: Request) -> dict:
    p = request.params
    role = eks.iam.add_role(p["RoleName"], p["AssumeRolePolicyDocument"], p.get("Path") or "/",
                            p.get("Description"), p.get("MaxSessionDuration") or DEFAULT_MAX_SESSION, p.get("Tags"))
    return {"Role": role_view(role)}


@operation("GetRole", service="iam")
async def get_role(eks: Eks, request: Request) -> dict:
    return {"Role": role_view(eks.iam.role(request.params["RoleName"]))}


@operation("ListRoles", service="iam")
async def list_roles(eks: Eks, request: Request) -> dict:
    roles = [role_view(role) for role in by_name(eks.iam.roles, request.params.get("PathPrefix"))]
    return listing("Roles", roles, request.params)


@operation("DeleteRole", service="iam")
async def delete_role(eks: Eks, request: Request) -> dict:
    role = eks.iam.role(request.params["RoleName"])
    eks.iam.check_unattached(role)
    del eks.iam.roles[role["RoleName"].lower()]
    eks.iam.save()
    return {}


@operation("UpdateAssumeRolePolicy", service="iam")
async def update_assume_role_policy(eks: Eks, request: Request) -> dict:
    role = eks.iam.role(request.params["RoleName"])
    eks.iam.check_trust(request.params["PolicyDocument"])
    role["AssumeRolePolicyDocument"] = request.params["PolicyDocument"]
    eks.iam.save()
    return {}
