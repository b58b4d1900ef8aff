"""IAM policies (service "iam", the Query protocol): managed policies (AWS's, see managed_policies, and the
account's own from CreatePolicy) attached to users and roles, and inline policies written into them, as
`aws iam attach-user-policy`, `put-role-policy`, `get-policy` and the rest answer. What they allow is
evaluated on every call (see authorization)."""

from __future__ import annotations

from timoneiro.eks import policy
from timoneiro.eks.iam import delete_conflict, limit_exceeded, no_such_entity
from timoneiro.eks.iam_api import encoded, listing, policy_view
from timoneiro.eks.managed_policies import POLICIES
from timoneiro.eks.operations import Request, operation
from timoneiro.eks.service import Eks

MAX_ATTACHED = 10  # managed policies per user or role, IAM's default quota
VERSION = "v1"  # managed policies have one version here


@operation("GetPolicy", service="iam")
async def get_policy(eks: Eks, request: Request) -> dict:
    return {"Policy": policy_view(eks, request.params["PolicyArn"])}


@operation("GetPolicyVersion", service="iam")
async def get_policy_version(eks: Eks, request: Request) -> dict:
    arn, version = request.params["PolicyArn"], request.params["VersionId"]
    found = eks.iam.managed_policy(arn)
    if found is None or version != VERSION:
        raise no_such_entity(f"Policy {arn} version {version} does not exist or is not attachable.")
    public, document = found
    return {"PolicyVersion": {"Document": encoded(document), "VersionId": VERSION, "IsDefaultVersion": True,
                              "CreateDate": public["CreateDate"]}}


@operation("CreatePolicy", service="iam")
async def create_policy(eks: Eks, request: Request) -> dict:
    p = request.params
    record = eks.iam.add_policy(p["PolicyName"], p["PolicyDocument"], p.get("Path") or "/", p.get("Description"),
                                p.get("Tags"))
    return {"Policy": policy_view(eks, record["Arn"])}


@operation("DeletePolicy", service="iam")
async def delete_policy(eks: Eks, request: Request) -> dict:
    arn = request.params["PolicyArn"]
    if arn not in eks.iam.policies:
        raise no_such_entity(f"Policy {arn} was not found.")
    if eks.iam.attachment_count(arn):
        raise delete_conflict("Cannot delete a policy attached to entities.")
    del eks.iam.policies[arn]
    eks.iam.save()
    return {}


@operation("ListPolicies", service="iam")
async def list_policies(eks: Eks, request: Request) -> dict:
    p = request.params
    scope = p.get("Scope") or "All"
    arns = [*(POLICIES if scope in ("All", "AWS") else ()), *(eks.iam.policies if scope in ("All", "Local") else ())]
    views = [policy_view(eks, arn) for arn in arns]
    chosen = [v for v in views if v["Path"].startswith(p.get("PathPrefix") or "/")
              and (not p.get("OnlyAttached") or v["AttachmentCount"])]
    return listing("Policies", sorted(chosen, key=lambda v: v["PolicyName"].lower()), p)


def _register(kind: str) -> None:
    """The attach, detach and inline policy operations of users (kind "User") or roles ("Role")."""
    name_key = f"{kind}Name"

    def entity(eks: Eks, request: Request) -> dict:
        name = request.params[name_key]
        return eks.iam.user(name) if kind == "User" else eks.iam.role(name)

    @operation(f"Attach{kind}Policy", service="iam")
    async def attach(eks: Eks, request: Request) -> dict:
        target, arn = entity(eks, request), request.params["PolicyArn"]
        if eks.iam.managed_policy(arn) is None:
            raise no_such_entity(f"Policy {arn} does not exist or is not attachable.")
        if arn not in target["_attached"]:
            if len(target["_attached"]) >= MAX_ATTACHED:
                raise limit_exceeded(f"Cannot exceed quota for PoliciesPer{kind}: {MAX_ATTACHED}")
            target["_attached"].append(arn)
            eks.iam.save()
        return {}

    @operation(f"Detach{kind}Policy", service="iam")
    async def detach(eks: Eks, request: Request) -> dict:
        target, arn = entity(eks, request), request.params["PolicyArn"]
        if arn not in target["_attached"]:
            raise no_such_entity(f"Policy {arn} was not found.")
        target["_attached"].remove(arn)
        eks.iam.save()
        return {}

    @operation(f"ListAttached{kind}Policies", service="iam")
    async def list_attached(eks: Eks, request: Request) -> dict:
        views = [policy_view(eks, arn) for arn in entity(eks, request)["_attached"]]
        attached = [{"PolicyName": v["PolicyName"], "PolicyArn": v["Arn"]} for v in views
                    if v["Path"].startswith(request.params.get("PathPrefix") or "/")]
        return listing("AttachedPolicies", attached, request.params)

    @operation(f"Put{kind}Policy", service="iam")
    async def put(eks: Eks, request: Request) -> dict:
        target, document = entity(eks, request), request.params["PolicyDocument"]
        policy.parse(document)
        target["_inline"][request.params["PolicyName"]] = document
        eks.iam.save()
        return {}

    def inline(target: dict, name: str) -> str:
        if name not in target["_inline"]:
            raise no_such_entity(f"The {kind.lower()} policy with name {name} cannot be found.")
        return target["_inline"][name]

    @operation(f"Get{kind}Policy", service="iam")
    async def get(eks: Eks, request: Request) -> dict:
        target, name = entity(eks, request), request.params["PolicyName"]
        return {name_key: target[name_key], "PolicyName": name, "PolicyDocument": encoded(inline(target, name))}

    @operation(f"Delete{kind}Policy", service="iam")
    async def delete(eks: Eks, request: Request) -> dict:
        target, name = entity(eks, request), request.params["PolicyName"]
        inline(target, name)
        del target["_inline"][name]
        eks.iam.save()
        return {}

    @operation(f"List{kind}Policies", service="iam")
    async def list_inline(eks: Eks, request: Request) -> dict:
        return listing("PolicyNames", sorted(entity(eks, request)["_inline"]), request.params)


_register("User")
_register("Role")
