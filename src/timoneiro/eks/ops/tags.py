"""Tags on EKS resources by ARN: clusters, node groups, add-ons (and anything else whose record carries
its ARN and a `tags` map). A malformed ARN is BadRequestException, an unknown one NotFoundException."""

from __future__ import annotations

from timoneiro.eks.errors import AwsError
from timoneiro.eks.operations import Request, operation
from timoneiro.eks.service import Eks

ARN_KEYS = {"cluster": ("cluster", "arn"), "nodegroups": ("nodegroup", "nodegroupArn"),
            "addons": ("addon", "addonArn"), "accessEntries": ("access-entry", "accessEntryArn")}


def _tagged(eks: Eks, arn: str) -> tuple[str, dict]:
    """(cluster name, the record) of the resource with this ARN."""
    prefix = f"arn:aws:eks:{eks.region}:{eks.account}:"
    kind, _, path = arn.removeprefix(prefix).partition("/") if arn.startswith(prefix) else ("", "", "")
    if not path:
        raise AwsError("BadRequestException", f"Invalid ARN: {arn}", 400)
    cluster = path.split("/")[0]
    doc = eks.store.clusters.get(cluster)
    for section, (arn_kind, key) in ARN_KEYS.items():
        if doc is None or arn_kind != kind:
            continue
        records = [doc[section]] if section == "cluster" else doc[section].values()
        for record in records:
            if record.get(key) == arn:
                return cluster, record
    raise AwsError("NotFoundException", f"Resource not found: {arn}", 404)


@operation("TagResource")
async def tag_resource(eks: Eks, request: Request) -> dict:
    cluster, record = _tagged(eks, request.params["resourceArn"])
    tags = {**(record.get("tags") or {}), **request.params["tags"]}
    if len(tags) > 50:
        raise AwsError("BadRequestException", "A resource can have at most 50 tags", 400)
    record["tags"] = tags
    eks.store.save(cluster)
    return {}


@operation("UntagResource")
async def untag_resource(eks: Eks, request: Request) -> dict:
    cluster, record = _tagged(eks, request.params["resourceArn"])
    record["tags"] = {k: v for k, v in (record.get("tags") or {}).items() if k not in request.params["tagKeys"]}
    eks.store.save(cluster)
    return {}


@operation("ListTagsForResource")
async def list_tags_for_resource(eks: Eks, request: Request) -> dict:
    return {"tags": _tagged(eks, request.params["resourceArn"])[1].get("tags") or {}}
