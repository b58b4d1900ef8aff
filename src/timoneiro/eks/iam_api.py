"""What IAM's operations share: Marker/MaxItems paging, the user a call is about (UserName, or the caller
itself), and records as IAM answers them: policy documents URL-encoded (botocore decodes every member of
IAM's policyDocumentType so), managed policies with their attachment counts."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from timoneiro.eks.errors import AwsError
from timoneiro.eks.iam import no_such_entity
from timoneiro.eks.operations import Request
from timoneiro.eks.service import Eks

DEFAULT_MAX_ITEMS = 100


def listing(key: str, items: Sequence, params: dict) -> dict:
    """{key: this page, "IsTruncated": ..., "Marker": where the next page starts, while one does}."""
    start = params.get("Marker") or "0"
    if not start.isdigit():
        raise AwsError("ValidationError", f"Invalid Marker: {start}", 400)
    end = int(start) + (params.get("MaxItems") or DEFAULT_MAX_ITEMS)
    truncated = end < len(items)
    return {key: list(items[int(start):end]), "IsTruncated": truncated, "Marker": str(end) if truncated else None}


def by_name(records: dict[str, dict], prefix: str | None = None) -> list[dict]:
    """Records sorted by name (case-blind), those under a path prefix if one is given."""
    return [records[k] for k in sorted(records) if not prefix or records[k]["Path"].startswith(prefix)]


def target_user(eks: Eks, request: Request) -> dict:
    """The user a call names, or the calling user when it names none, as IAM reads a missing UserName."""
    name = request.params.get("UserName")
    if name:
        return eks.iam.user(name)
    caller = next((u for u in eks.iam.users.values() if u["Arn"] == request.principal.arn), None)
    if caller is None:
        raise AwsError("ValidationError", "Must specify userName when calling with non-User credentials", 400)
    return caller


def encoded(document: str) -> str:
    return quote(document, safe="")


def role_view(role: dict) -> dict:
    return {**role, "AssumeRolePolicyDocument": encoded(role["AssumeRolePolicyDocument"])}


def policy_view(eks: Eks, arn: str) -> dict:
    """The Policy shape of a managed policy; NoSuchEntity as GetPolicy answers for an unknown one."""
    found = eks.iam.managed_policy(arn)
    if found is None:
        raise no_such_entity(f"Policy {arn} was not found.")
    return {**found[0], "AttachmentCount": eks.iam.attachment_count(arn), "PermissionsBoundaryUsageCount": 0}
