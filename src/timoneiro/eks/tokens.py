"""EKS bearer tokens, as `aws eks get-token` makes them and EKS's aws-iam-authenticator checks them:
"k8s-aws-v1." and the unpadded base64url of a presigned STS GetCallerIdentity URL whose signature covers the
x-k8s-aws-id header, set to the cluster's name. The authenticator sends that URL to STS, which answers who
signed it; this service is STS here, so the signature is checked where it is made, against the service's
own IAM users, and the URL's host (sts.REGION.amazonaws.com, or the service itself when the client's
AWS_ENDPOINT_URL points there) is never contacted.

The checks and their words are aws-iam-authenticator's (size, prefix, base64, path, the allowed query
parameters, Action, the signed cluster header, X-Amz-Expires within 15 minutes, X-Amz-Date not older than
15 minutes whatever X-Amz-Expires says), then STS's (Version, the signature's service, the signature).
Plain http is accepted besides https: the service answers on loopback, where clients reach it so."""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from timoneiro.eks import sigv4
from timoneiro.eks.errors import AwsError
from timoneiro.eks.iam import IAM

PREFIX = "k8s-aws-v1."
MAX_LENGTH = 4 * 1024
CLUSTER_HEADER = "x-k8s-aws-id"
ACTION, VERSION = "GetCallerIdentity", "2011-06-15"
LIFETIME = datetime.timedelta(minutes=15)  # a presigned STS URL's, whatever its X-Amz-Expires
MAX_EXPIRES = 900
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
ALLOWED_PARAMETERS = frozenset({"action", "version", "x-amz-algorithm", "x-amz-credential", "x-amz-date",
                                "x-amz-expires", "x-amz-security-token", "x-amz-signature", "x-amz-signedheaders"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class TokenError(Exception):
    """Why a token is refused."""


@dataclass(frozen=True)
class Identity:
    """Who signed a token, as STS's GetCallerIdentity and aws-iam-authenticator describe them."""

    arn: str  # as GetCallerIdentity answers: a user's ARN, or an assumed role's session ARN
    canonical_arn: str  # the IAM principal: a user's ARN, or arn:aws:iam::ACCOUNT:role/ROLE for a session
    account: str
    user_id: str  # AIDA... for a user, the role's AROA... for a session
    session_name: str  # a role session's name; "" for a user
    access_key_id: str


def verify(iam: IAM, token: str, cluster: str, now: float | None = None) -> Identity:
    """The identity that signed `token` for `cluster`, or TokenError."""
    url = _url(token)
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise TokenError(f'unexpected scheme "{parts.scheme}" in pre-signed URL')
    if parts.path != "/":
        raise TokenError("unexpected path in pre-signed URL")
    params = _parameters(parts.query)
    if params.get("action") != ACTION:
        raise TokenError("unexpected action parameter in pre-signed URL")
    if params.get("version") != VERSION:
        raise TokenError("unexpected version parameter in pre-signed URL")
    if CLUSTER_HEADER not in params.get("x-amz-signedheaders", "").lower().split(";"):
        raise TokenError(f"client did not sign the {CLUSTER_HEADER} header in the pre-signed URL")
    expires = params.get("x-amz-expires", "")
    if not expires.isdigit() or int(expires) > MAX_EXPIRES:
        raise TokenError(f"invalid X-Amz-Expires parameter in pre-signed URL: {expires or 0}")
    _check_date(params.get("x-amz-date", ""), now)
    try:
        principal, service, _ = sigv4.verify_presigned(iam, "GET", url, {CLUSTER_HEADER: cluster}, now)
        if service != "sts":
            raise sigv4.mismatch("Credential should be scoped to correct service: 'sts'.")
    except AwsError as e:  # what STS would have answered the authenticator
        raise TokenError(f"error from AWS (expected 200, got {e.status}). Body: "
                         f"{getattr(e, 'query_code', e.code)}: {e.message}") from None
    return _identity(principal.arn, principal.user_id, principal.account, principal.access_key_id)


def make(sts, cluster: str) -> str:
    """A token for `cluster`, signed by the credentials of `sts` (a botocore STS client): GetCallerIdentity
    presigned for a minute, with the cluster's name in a signed header, as `aws eks get-token` makes it."""
    def name_cluster(request, **_) -> None:
        request.headers[CLUSTER_HEADER] = cluster

    sts.meta.events.register_first("before-sign.sts.GetCallerIdentity", name_cluster)
    try:
        url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    finally:
        sts.meta.events.unregister("before-sign.sts.GetCallerIdentity", name_cluster)
    return PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def _url(token: str) -> str:
    if len(token) > MAX_LENGTH:
        raise TokenError("token is too large")
    if not token.startswith(PREFIX):
        raise TokenError(f'token is missing expected "{PREFIX}" prefix')
    body = token[len(PREFIX):]
    if not _BASE64URL.fullmatch(body):
        raise TokenError("illegal base64 data in token")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise TokenError("illegal base64 data in token") from None


def _parameters(query: str) -> dict[str, str]:
    """The query's parameters by lower-case name: only allowed ones, each once."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        name = key.lower()
        if name in params:
            raise TokenError(f'duplicate query parameter found: "{key}"')
        if name not in ALLOWED_PARAMETERS:
            raise TokenError(f'non-whitelisted query parameter "{key}"')
        params[name] = value
    return params


def _check_date(date: str, now: float | None) -> None:
    if not date:
        raise TokenError("X-Amz-Date parameter must be present in pre-signed URL")
    try:
        signed = datetime.datetime.strptime(date, DATE_FORMAT).replace(tzinfo=datetime.UTC)
    except ValueError:
        raise TokenError(f"error parsing X-Amz-Date parameter {date} into format 20060102T150405Z") from None
    current = datetime.datetime.now(datetime.UTC) if now is None else \
        datetime.datetime.fromtimestamp(now, datetime.UTC)
    if current > signed + LIFETIME:
        raise TokenError(f"X-Amz-Date parameter is expired (15 minute expiration) "
                         f"{signed.strftime('%Y-%m-%d %H:%M:%S +0000 UTC')}")


def _identity(arn: str, user_id: str, account: str, access_key_id: str) -> Identity:
    """GetCallerIdentity's answer read as aws-iam-authenticator reads it: a role session's UserId is
    ROLEID:SESSION, its principal the role."""
    canonical = canonical_arn(arn)
    if ":assumed-role/" in arn:
        role_id, _, session = user_id.partition(":")
        return Identity(arn, canonical, account, role_id, session, access_key_id)
    return Identity(arn, canonical, account, user_id, "", access_key_id)


def canonical_arn(arn: str) -> str:
    """The IAM principal behind an ARN: an assumed role's session is its role (without the path, which a
    session's ARN does not carry); anything else is itself."""
    prefix, _, resource = arn.partition(":assumed-role/")
    if not resource or "/" not in resource:
        return arn
    partition = prefix.split(":")[1]
    account = prefix.split(":")[4]
    return f"arn:{partition}:iam::{account}:role/{resource.rpartition('/')[0]}"
