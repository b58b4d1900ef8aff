"""AWS Signature Version 4, checked on the receiving side: the signature a request carries (in its
Authorization header, or in its query string for a presigned URL such as `aws eks get-token`'s) is
recomputed with botocore's own SigV4 code over exactly what the client signed, with the secret of the access
key it names (an Active user key, or temporary credentials with their session token, X-Amz-Security-Token,
until they expire). Success gives the caller and the credential scope's service and region; failure raises
what AWS answers (MissingAuthenticationToken, UnrecognizedClient, InvalidSignature, Signature expired,
ExpiredToken...)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import time
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit, urlunsplit

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from timoneiro.eks.iam import IAM, Principal
from timoneiro.eks.protocol import CommonError

ALGORITHM = "AWS4-HMAC-SHA256"
# how far a request's time may be from ours: EKS allows 5 minutes, STS and the other Query services 15
SKEW = {"eks": 300}
DEFAULT_SKEW = 900
# a presigned STS URL is good for 15 minutes whatever its X-Amz-Expires says, as STS (and so an EKS
# token, which kubectl caches for 14 minutes although `aws eks get-token` presigns it for 60 seconds)
PRESIGNED_LIFETIME = 900
MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.")


def missing() -> CommonError:
    return CommonError("MissingAuthenticationTokenException", "MissingAuthenticationToken",
                       "Missing Authentication Token", 403)


def unrecognized() -> CommonError:
    return CommonError("UnrecognizedClientException", "InvalidClientTokenId",
                       "The security token included in the request is invalid.", 403)


def expired() -> CommonError:
    return CommonError("ExpiredTokenException", "ExpiredToken",
                       "The security token included in the request is expired", 403)


def mismatch(message: str = MISMATCH) -> CommonError:
    return CommonError("InvalidSignatureException", "SignatureDoesNotMatch", message, 403)


def incomplete(message: str) -> CommonError:
    return CommonError("IncompleteSignatureException", "IncompleteSignature", message, 403)


Verified = tuple[Principal, str, str]  # the caller, the signing service, the region


def verify_request(iam: IAM, method: str, url: str, headers: dict[str, str], body: bytes,
                   now: float | None = None) -> Verified:
    """A request signed in its Authorization header. `url` is the full URL as the client addressed it
    (scheme, the Host header, the raw path and query)."""
    headers = {k.lower(): v for k, v in headers.items()}
    authorization = headers.get("authorization")
    if not authorization:
        raise missing()
    algorithm, _, rest = authorization.partition(" ")
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(",") if "=" in part)
    problems = [f"Authorization header requires '{name}' parameter." for name in
                ("Credential", "Signature", "SignedHeaders") if not fields.get(name)]
    stamp = headers.get("x-amz-date") or _amz_date(headers.get("date"))
    if not stamp:
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                        "header.")
    if algorithm != ALGORITHM or problems:
        raise incomplete(" ".join(problems or [f"Unsupported AWS 'algorithm': '{algorithm}'."])
                         + f" Authorization={authorization}")
    digest = headers.get("x-amz-content-sha256")
    if digest is not None and digest != hashlib.sha256(body).hexdigest():
        raise mismatch("The provided 'x-amz-content-sha256' header does not match what was computed.")
    return _verify(iam, method, url, headers, body, list(_pairs(urlsplit(url).query)), fields["Credential"],
                   fields["SignedHeaders"], fields["Signature"], stamp, now, presigned=False)


def verify_presigned(iam: IAM, method: str, url: str, headers: dict[str, str],
                     now: float | None = None) -> Verified:
    """A presigned URL (X-Amz-Algorithm, -Credential, -Date, -SignedHeaders, -Signature in its query), with
    the headers sent along with it (e.g. x-k8s-aws-id for an EKS token; Host defaults to the URL's)."""
    pairs = list(_pairs(urlsplit(url).query))
    params = dict(pairs)
    required = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
    absent = [name for name in required if not params.get(name)]
    if len(absent) == len(required):
        raise missing()
    if absent:
        raise incomplete(" ".join(f"AWS query-string parameters must include '{name}'." for name in absent)
                         + " Re-examine the query-string parameters.")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise incomplete(f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'.")
    headers = {k.lower(): v for k, v in headers.items()}
    headers.setdefault("host", urlsplit(url).netloc)
    query = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
    return _verify(iam, method, url, headers, b"", query, params["X-Amz-Credential"],
                   params["X-Amz-SignedHeaders"], params["X-Amz-Signature"], params["X-Amz-Date"], now,
                   presigned=True)


def _verify(iam: IAM, method: str, url: str, headers: dict[str, str], body: bytes,
            query: list[tuple[str, str]], credential: str, signed_headers: str, signature: str, stamp: str,
            now: float | None, presigned: bool) -> Verified:
    access_key_id, date, region, service, terminator = (credential.split("/") + [""] * 5)[:5]
    if terminator != "aws4_request" or credential.count("/") != 4:
        raise incomplete(f"Credential should be scoped with a valid terminator: 'aws4_request', not "
                         f"'{credential.rpartition('/')[2]}'.")
    try:
        moment = datetime.datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=datetime.UTC)
    except ValueError:
        raise incomplete(f"Date must be in ISO-8601 'basic format'. Got '{stamp}'.") from None
    _check_time(moment, stamp, service, now, presigned)
    key = iam.lookup(access_key_id)
    token = headers.get("x-amz-security-token") or dict(query).get("X-Amz-Security-Token")
    if key is None or not _token_matches(token, key.session_token):
        raise unrecognized()  # unknown, inactive, or temporary credentials without their token (or the reverse)
    names = [name for name in signed_headers.lower().split(";") if name]
    if "host" not in names:
        raise mismatch("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    absent = [name for name in names if name not in headers]
    if absent:
        raise mismatch(f"The request does not carry the signed header(s) {', '.join(absent)}.")
    parts = urlsplit(url)
    request = AWSRequest(method=method, url=urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
                         headers={name: headers[name] for name in names}, data=body, params=query)
    request.context["timestamp"] = stamp
    signer = _Signer(Credentials(access_key_id, key.secret_access_key), service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if date != stamp[:8] or not hmac.compare_digest(expected, signature):
        raise mismatch()
    if key.expiration is not None and (time.time() if now is None else now) >= key.expiration:
        raise expired()
    return key.principal, service, region


def _token_matches(given: str | None, expected: str | None) -> bool:
    """A session token comes with temporary credentials, and only with them."""
    if not expected:
        return not given
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


class _Signer(SigV4Auth):
    """botocore's SigV4 over exactly the headers the client signed (its own choice is for signing)."""

    def headers_to_sign(self, request: AWSRequest):
        return request.headers


def _check_time(moment: datetime.datetime, stamp: str, service: str, now: float | None,
                presigned: bool) -> None:
    skew = PRESIGNED_LIFETIME if presigned else SKEW.get(service, DEFAULT_SKEW)
    current = datetime.datetime.fromtimestamp(time.time() if now is None else now, datetime.UTC)
    window = datetime.timedelta(seconds=skew)
    fmt = lambda t: t.strftime(SIGV4_TIMESTAMP)  # noqa: E731
    minutes = skew // 60
    if moment < current - window:
        raise mismatch(f"Signature expired: {stamp} is now earlier than {fmt(current - window)} "
                       f"({fmt(current)} - {minutes} min.)")
    if moment > current + window:
        raise mismatch(f"Signature not yet current: {stamp} is still later than {fmt(current + window)} "
                       f"({fmt(current)} + {minutes} min.)")


def _amz_date(date: str | None) -> str | None:
    """An HTTP Date header's time in SigV4's form, which the signature covers when X-Amz-Date is absent."""
    if not date:
        return None
    try:
        return parsedate_to_datetime(date).astimezone(datetime.UTC).strftime(SIGV4_TIMESTAMP)
    except (TypeError, ValueError):
        return None


def _pairs(query: str):
    """The query's key/value pairs, decoded (SigV4 re-encodes them canonically), in order."""
    for pair in query.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            yield unquote(key), unquote(value)
