"""IAM users and their access keys (service "iam", the Query protocol): `aws iam create-user`,
`create-access-key` (two keys at most), `update-access-key` (an Inactive key signs nothing until made Active
again), and the rest of their life as IAM has it; a user with keys or policies is not deleted."""

from __future__ import annotations

from timoneiro.eks.errors import AwsError
from timoneiro.eks.iam import ACTIVE, delete_conflict, no_such_entity
from timoneiro.eks.iam_api import by_name, listing, target_user
from timoneiro.eks.operations import Request, operation
from timoneiro.eks.protocol.shapes import Invalid
from timoneiro.eks.service import Eks

SETTABLE_STATUSES = (ACTIVE, "Inactive")


@operation("CreateUser", service="iam")
async def create_user(eks: Eks, request: Request) -> dict:
    p = request.params
    return {"User": eks.iam.add_user(p["UserName"], p.get("Path") or "/", p.get("Tags"))}


@operation("GetUser", service="iam")
async def get_user(eks: Eks, request: Request) -> dict:
    return {"User": target_user(eks, request)}


@operation("ListUsers", service="iam")
async def list_users(eks: Eks, request: Request) -> dict:
    return listing("Users", by_name(eks.iam.users, request.params.get("PathPrefix")), request.params)


@operation("DeleteUser", service="iam")
async def delete_user(eks: Eks, request: Request) -> dict:
    user = eks.iam.user(request.params["UserName"])
    eks.iam.check_unattached(user)
    if user["_accessKeys"]:
        raise delete_conflict("Cannot delete entity, must delete access keys first.")
    del eks.iam.users[user["UserName"].lower()]
    eks.iam.save()
    return {}


@operation("CreateAccessKey", service="iam")
async def create_access_key(eks: Eks, request: Request) -> dict:
    return {"AccessKey": eks.iam.add_access_key(target_user(eks, request))}


@operation("ListAccessKeys", service="iam")
async def list_access_keys(eks: Eks, request: Request) -> dict:
    return listing("AccessKeyMetadata", target_user(eks, request)["_accessKeys"], request.params)


def _key(eks: Eks, request: Request) -> tuple[dict, dict]:
    user, key_id = target_user(eks, request), request.params["AccessKeyId"]
    key = next((k for k in user["_accessKeys"] if k["AccessKeyId"] == key_id), None)
    if key is None:
        raise no_such_entity(f"The Access Key with id {key_id} cannot be found.")
    return user, key


@operation("UpdateAccessKey", service="iam")
async def update_access_key(eks: Eks, request: Request) -> dict:
    status = request.params["Status"]
    if status not in SETTABLE_STATUSES:  # the model's enum has Expired too, which only IAM sets
        raise AwsError("ValidationError", str(Invalid("status", status, "Member must satisfy enum value set: "
                                                                        f"[{', '.join(SETTABLE_STATUSES)}]")), 400)
    _, key = _key(eks, request)
    key["Status"] = status
    eks.iam.save()
    return {}


@operation("DeleteAccessKey", service="iam")
async def delete_access_key(eks: Eks, request: Request) -> dict:
    user, key = _key(eks, request)
    user["_accessKeys"].remove(key)
    eks.iam.save()
    return {}
