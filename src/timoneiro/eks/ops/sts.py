"""STS, as far as EKS needs it: GetCallerIdentity, which `aws sts get-caller-identity` calls and which an
EKS token (`aws eks get-token`) is a presigned URL of; AssumeRole, whose temporary credentials act with the
role's permissions (and sign in to clusters as the role: see usermapping); GetSessionToken, temporary
credentials of the calling user."""

from __future__ import annotations

from timoneiro.eks import policy
from timoneiro.eks.authorization import may_assume
from timoneiro.eks.errors import AwsError
from timoneiro.eks.operations import Request, operation
from timoneiro.eks.service import Eks
from timoneiro.eks.sessions import ROLE, USER

DEFAULT_ROLE_SESSION = 3600
CHAINED_MAX = 3600  # a role's session assuming a role gets an hour at most
SESSION_TOKEN_DURATION = 43200  # GetSessionToken's default
MAX_SESSION_POLICY_ARNS = 10


def _validation(message: str) -> AwsError:
    return AwsError("ValidationError", message, 400)


def _credentials(session: dict) -> dict:
    return {key: session[key] for key in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")}


@operation("GetCallerIdentity", service="sts")
async def get_caller_identity(eks: Eks, request: Request) -> dict:
    caller = request.principal
    return {"UserId": caller.user_id, "Account": caller.account, "Arn": caller.arn}


@operation("AssumeRole", service="sts")
async def assume_role(eks: Eks, request: Request) -> dict:
    p = request.params
    role = may_assume(eks, request.principal, p["RoleArn"])
    caller_session = eks.iam.session_of(request.principal)
    chained = caller_session is not None and caller_session["_kind"] == ROLE
    duration = p.get("DurationSeconds") or DEFAULT_ROLE_SESSION
    if chained and duration > CHAINED_MAX:
        raise _validation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
                          "role chaining.")
    if duration > role["MaxSessionDuration"]:
        raise _validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    session_policies = _session_policies(eks, p)
    name = p["RoleSessionName"]
    session = eks.iam.sessions.issue(ROLE, role["RoleName"],
                                     f"arn:aws:sts::{eks.account}:assumed-role/{role['RoleName']}/{name}",
                                     f"{role['RoleId']}:{name}", duration, session_policies, chained)
    return {"Credentials": _credentials(session),
            "AssumedRoleUser": {"AssumedRoleId": session["UserId"], "Arn": session["Arn"]}}


def _session_policies(eks: Eks, p: dict) -> list[str]:
    """The documents of the session policies a call gives (Policy, and the managed ones PolicyArns names)."""
    documents = []
    if p.get("Policy"):
        policy.parse(p["Policy"])
        documents.append(p["Policy"])
    arns = [item["arn"] for item in p.get("PolicyArns") or () if item.get("arn")]
    if len(arns) > MAX_SESSION_POLICY_ARNS:
        raise _validation(f"The number of policy ARNs exceeds the limit of {MAX_SESSION_POLICY_ARNS}.")
    for arn in arns:
        found = eks.iam.managed_policy(arn)
        if found is None:
            raise _validation(f"The policy {arn} does not exist or is not attachable.")
        documents.append(found[1])
    return documents


@operation("GetSessionToken", service="sts")
async def get_session_token(eks: Eks, request: Request) -> dict:
    caller = request.principal
    user = next((u for u in eks.iam.users.values() if u["Arn"] == caller.arn), None)
    if eks.iam.session_of(caller) is not None or user is None:
        raise AwsError("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
    duration = request.params.get("DurationSeconds") or SESSION_TOKEN_DURATION  # its bounds: the model's
    session = eks.iam.sessions.issue(USER, user["UserName"], user["Arn"], user["UserId"], duration)
    return {"Credentials": _credentials(session)}
