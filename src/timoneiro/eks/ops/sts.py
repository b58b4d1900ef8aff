"""STS, as far as EKS needs it: GetCallerIdentity, which `aws sts get-caller-identity` calls and which an
EKS token (`aws eks get-token`) is a presigned URL of."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.eks.operations import Request, operation

if TYPE_CHECKING:
    from timoneiro.eks.service import Eks


@operation("GetCallerIdentity", service="sts")
async def get_caller_identity(eks: Eks, request: Request) -> dict:
    caller = request.principal
    return {"UserId": caller.user_id, "Account": caller.account, "Arn": caller.arn}
