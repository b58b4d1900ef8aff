"""IAM policy documents: read and checked as IAM checks them (MalformedPolicyDocument, with IAM's words), and
evaluated as IAM evaluates them: a statement applies when its Action (or NotAction) matches the action and
its Resource (or NotResource) matches the resource; an applying Deny wins, else an applying Allow allows,
else the request is implicitly denied. Actions match case-blind with the * and ? wildcards; resources match
ARN segment by segment (the resource segment whole, colons and slashes included), case-sensitively.

Not evaluated: Condition blocks (accepted, and a statement applies as if its conditions held), policy
variables such as ${aws:username} (matched literally) and NotPrincipal (refused as a syntax error)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from timoneiro.eks.errors import AwsError

ALLOW, DENY = "Allow", "Deny"
VERSIONS = ("2012-10-17", "2008-10-17")
STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal",
                            "Condition"})
PRINCIPAL_KINDS = ("AWS", "Service", "Federated", "CanonicalUser")
ACCOUNT = re.compile(r"\d{12}")
AWS_PRINCIPAL = re.compile(r"arn:aws:(iam::(\d{12}):(root|user/.+|role/.+)|sts::(\d{12}):assumed-role/[^/]+/.+)")
SYNTAX = "Syntax errors in policy."
# how a trust policy lets a caller in: by naming it (or everyone), or by naming its account, which hands the
# decision to the caller's own policies
NAMED, BY_ACCOUNT = "named", "account"


def malformed(message: str) -> AwsError:
    return AwsError("MalformedPolicyDocument", message, 400)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None  # None in a trust policy: the role itself
    not_resources: tuple[str, ...] | None = None
    principals: tuple[tuple[str, str], ...] = ()  # (kind, value), e.g. ("AWS", "arn:aws:iam::1:root"); "*"

    def applies(self, action: str, resource: str) -> bool:
        if self.actions is not None:
            acted = any(action_matches(pattern, action) for pattern in self.actions)
        else:
            acted = not any(action_matches(pattern, action) for pattern in self.not_actions or ())
        if not acted:
            return False
        if self.resources is not None:
            return any(resource_matches(pattern, resource) for pattern in self.resources)
        if self.not_resources is not None:
            return not any(resource_matches(pattern, resource) for pattern in self.not_resources)
        return True


Policy = tuple[Statement, ...]


def parse(text: str, trust: bool = False, known: Callable[[str], bool] | None = None) -> Policy:
    """A policy document's statements, or MalformedPolicyDocument. `trust`: a role's trust policy (Principal
    required, Resource prohibited), else an identity policy (the reverse). `known(arn)` says whether an AWS
    principal of the service's own account exists (IAM refuses a trust policy naming one that does not)."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise malformed("This policy contains invalid Json") from None
    if not isinstance(doc, dict) or not set(doc) <= {"Version", "Id", "Statement"}:
        raise malformed(SYNTAX)
    if "Version" in doc and doc["Version"] not in VERSIONS:
        raise malformed(SYNTAX)
    statements = doc.get("Statement")
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list) or not statements:
        raise malformed(SYNTAX)
    return tuple(_statement(item, trust, known) for item in statements)


@functools.lru_cache(maxsize=512)
def parsed(text: str, trust: bool = False) -> Policy:
    """parse() of a stored document (already checked when stored), remembered."""
    return parse(text, trust)


def _statement(item: object, trust: bool, known: Callable[[str], bool] | None) -> Statement:
    if not isinstance(item, dict) or not set(item) <= STATEMENT_KEYS:
        raise malformed(SYNTAX)
    if item.get("Effect") not in (ALLOW, DENY):
        raise malformed(SYNTAX)
    if ("Action" in item) == ("NotAction" in item):
        raise malformed("Policy statement must contain actions." if "Action" not in item else SYNTAX)
    actions, not_actions = _strings(item, "Action"), _strings(item, "NotAction")
    for action in actions or not_actions or ():
        if action != "*" and ":" not in action:
            raise malformed("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
    if "Condition" in item and not isinstance(item["Condition"], dict):
        raise malformed(SYNTAX)
    has_resource = "Resource" in item or "NotResource" in item
    if trust:
        if has_resource:
            raise malformed("Has prohibited field Resource")
        if "Principal" not in item:
            raise malformed("Missing required field Principal")
        return Statement(item["Effect"], actions, not_actions, principals=_principals(item["Principal"], known))
    if "Principal" in item:
        raise malformed("Policy document should not specify a principal.")
    if not has_resource:
        raise malformed("Policy statement must contain resources.")
    if "Resource" in item and "NotResource" in item:
        raise malformed(SYNTAX)
    resources, not_resources = _strings(item, "Resource"), _strings(item, "NotResource")
    for resource in resources or not_resources or ():
        if resource != "*" and (not resource.startswith("arn:") or resource.count(":") < 5):
            raise malformed(f'Resource {resource} must be in ARN format or "*".')
    return Statement(item["Effect"], actions, not_actions, resources, not_resources)


def _strings(item: dict, key: str) -> tuple[str, ...] | None:
    if key not in item:
        return None
    value = item[key]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise malformed(SYNTAX)
    return tuple(values)


def _principals(value: object, known: Callable[[str], bool] | None) -> tuple[tuple[str, str], ...]:
    if value == "*":
        return (("AWS", "*"),)
    if not isinstance(value, dict) or not value or not set(value) <= set(PRINCIPAL_KINDS):
        raise malformed(SYNTAX)
    found = []
    for kind, names in value.items():
        for name in [names] if isinstance(names, str) else names if isinstance(names, list) else [None]:
            if not isinstance(name, str) or not name:
                raise malformed(SYNTAX)
            if kind == "AWS" and not _valid_aws_principal(name, known):
                raise malformed(f'Invalid principal in policy: "AWS":"{name}"')
            found.append((kind, name))
    return tuple(found)


def _valid_aws_principal(name: str, known: Callable[[str], bool] | None) -> bool:
    if name == "*" or ACCOUNT.fullmatch(name):
        return True
    match = AWS_PRINCIPAL.fullmatch(name)
    if match is None:
        return False
    return match.group(3) == "root" or match.group(4) is not None or known is None or known(name)


def decide(policies: Iterable[Policy], action: str, resource: str) -> str | None:
    """DENY if a statement of the policies denies `action` on `resource`, else ALLOW if one allows it, else
    None (the implicit deny)."""
    allowed = False
    for policy in policies:
        for statement in policy:
            if statement.applies(action, resource):
                if statement.effect == DENY:
                    return DENY
                allowed = True
    return ALLOW if allowed else None


def trusted(policy: Policy, caller_arn: str, role_arn: str, action: str = "sts:AssumeRole") -> str | None:
    """How a role's trust policy lets the caller (a user's ARN, or a role session's) perform `action`: NAMED
    (the caller, its role, or everyone is a principal), BY_ACCOUNT (its account is), or None (not at all, or a
    Deny names it)."""
    how = None
    for statement in policy:
        if not statement.applies(action, role_arn):
            continue
        matched = [m for m in (_principal_match(kind, name, caller_arn) for kind, name in statement.principals) if m]
        if not matched:
            continue
        if statement.effect == DENY:
            return None
        how = NAMED if NAMED in matched or how == NAMED else BY_ACCOUNT
    return how


def trusts_service(policy: Policy, service: str, action: str = "sts:AssumeRole") -> bool:
    """Whether the trust policy lets an AWS service (e.g. "eks.amazonaws.com") assume the role."""
    return any(statement.effect == ALLOW and statement.applies(action, "*") and ("Service", service) in
               statement.principals for statement in policy)


def _principal_match(kind: str, name: str, caller_arn: str) -> str | None:
    if kind != "AWS":
        return None
    if name == "*":
        return NAMED
    account = caller_arn.split(":")[4]
    if name in (account, f"arn:aws:iam::{account}:root"):
        return BY_ACCOUNT
    if name == caller_arn:
        return NAMED
    session = re.fullmatch(r"arn:aws:sts::(\d{12}):assumed-role/([^/]+)/.+", caller_arn)
    if session and name.startswith(f"arn:aws:iam::{session.group(1)}:role/") and \
            name.rpartition("/")[2] == session.group(2):
        return NAMED  # a role's sessions are the role, its path aside (a session's ARN has none)
    return None


@functools.lru_cache(maxsize=1024)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    return _wildcard(pattern, True).fullmatch(action) is not None


def resource_matches(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    wanted, actual = pattern.split(":", 5), resource.split(":", 5)
    if len(wanted) != 6 or len(actual) != 6:
        return _wildcard(pattern, False).fullmatch(resource) is not None
    return all(_wildcard(w, False).fullmatch(a) is not None for w, a in zip(wanted, actual, strict=True))
