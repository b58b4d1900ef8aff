"""Bootstrap tokens as upstream's k8s.io/cluster-bootstrap defines them: the `ID.SECRET` form, the
kube-system Secrets that hold them, and the detached JWS signatures of the cluster-info ConfigMap that let a
joining node check, with nothing but its token, that it talks to the cluster that issued it.

The server side (authentication, the signer and cleaner controllers) and the client side (`timoneiro token`,
`timoneiro join`) share this module, so that both read a token Secret the same way."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from datetime import UTC, datetime, timedelta

# upstream's patterns, as its messages print them (Go's \z is Python's \Z)
TOKEN_PATTERN = r"\A([a-z0-9]{6})\.([a-z0-9]{16})\z"
ID_PATTERN = r"\A([a-z0-9]{6})\z"
GROUP_PATTERN = r"\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\z"
_TOKEN, _ID, _GROUP = (re.compile(p.replace(r"\z", r"\Z"))
                       for p in (TOKEN_PATTERN, ID_PATTERN, GROUP_PATTERN))
_SECRET_NAME = re.compile(r"\Abootstrap-token-([a-z0-9]{6})\Z")
_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")

NAMESPACE = "kube-system"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
USER_PREFIX = "system:bootstrap:"
DEFAULT_GROUP = "system:bootstrappers"
# the group kubeadm puts the tokens of `init` and `token create` in, which its RBAC objects bind
NODE_GROUP = "system:bootstrappers:kubeadm:default-node-token"
USAGES = ("signing", "authentication")
DEFAULT_TTL = timedelta(hours=24)

# the Secret's keys
ID_KEY, SECRET_KEY = "token-id", "token-secret"
EXPIRATION_KEY, DESCRIPTION_KEY, GROUPS_KEY = "expiration", "description", "auth-extra-groups"
USAGE_PREFIX = "usage-bootstrap-"

# the ConfigMap a joining node reads anonymously, and its keys
CLUSTER_INFO = "cluster-info"
CLUSTER_INFO_NAMESPACE = "kube-public"
KUBECONFIG_KEY = "kubeconfig"
JWS_PREFIX = "jws-kubeconfig-"


def parse(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed token, else None."""
    m = _TOKEN.match(token)
    return (m.group(1), m.group(2)) if m else None


def is_id(text: str) -> bool:
    return _ID.match(text) is not None


def generate() -> str:
    """A random token, each character drawn evenly from [a-z0-9]."""
    return f"{_random(6)}.{_random(16)}"


def _random(length: int) -> str:
    out = []
    while len(out) < length:
        b = secrets.randbelow(256)
        if b < 252:  # 252 = 7 * 36: larger bytes would favour the first characters
            out.append(_CHARS[b % len(_CHARS)])
    return "".join(out)


def secret_name(token_id: str) -> str:
    return SECRET_PREFIX + token_id


def id_of_secret_name(name: str) -> str | None:
    m = _SECRET_NAME.match(name)
    return m.group(1) if m else None


def group_error(group: str) -> str | None:
    if _GROUP.match(group):
        return None
    return f'bootstrap group "{group}" is invalid (must match {GROUP_PATTERN})'


def usages_error(usages: list[str]) -> str | None:
    invalid = sorted(set(usages) - set(USAGES))
    if invalid:
        return (f"invalid bootstrap token usage string: {','.join(invalid)}, "
                f"valid usage options: {','.join(USAGES)}")
    return None


def token_secret(token: str, *, ttl: timedelta | None = DEFAULT_TTL, usages: tuple[str, ...] = USAGES,
                 groups: tuple[str, ...] = (NODE_GROUP,), description: str = "",
                 now: datetime | None = None) -> dict:
    """The Secret that makes `token` valid, as kubeadm writes it (a ttl of None or 0: it never expires)."""
    token_id, token_value = parse(token) or ("", "")
    data = {ID_KEY: token_id, SECRET_KEY: token_value}
    if description:
        data[DESCRIPTION_KEY] = description
    if ttl:
        data[EXPIRATION_KEY] = rfc3339((now or datetime.now(UTC)) + ttl)
    for usage in usages:
        data[USAGE_PREFIX + usage] = "true"
    if groups:
        data[GROUPS_KEY] = ",".join(groups)
    return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": secret_name(token_id), "namespace": NAMESPACE},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime | None:
    """An RFC 3339 time as Go's time.Parse(time.RFC3339) reads it, None if it is not one."""
    if not _RFC3339.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def data_of(secret: dict) -> dict[str, str]:
    """A Secret's data decoded (values that are not base64 text read as empty, as a missing key does)."""
    out = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value or "", validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            out[key] = ""
    return out


def expiration(data: dict[str, str], now: datetime) -> tuple[timedelta | None, bool]:
    """(time left, expired) as upstream's GetExpiration: no expiration never expires, an unparseable one
    has expired."""
    text = data.get(EXPIRATION_KEY, "")
    if not text:
        return None, False
    expires = parse_time(text)
    if expires is None:  # upstream logs it and treats the token as expired
        return None, True
    left = expires - now
    return (left, False) if left > timedelta(0) else (None, True)


def groups(data: dict[str, str]) -> list[str]:
    """The groups a token authenticates with: system:bootstrappers and its valid extra groups, sorted and
    without repeats; ValueError if one of the extra groups is not a bootstrap group."""
    out = {DEFAULT_GROUP}
    extra = data.get(GROUPS_KEY, "")
    for group in extra.split(",") if extra else ():
        if error := group_error(group):
            raise ValueError(error)
        out.add(group)
    return sorted(out)


def usages(data: dict[str, str]) -> list[str]:
    return sorted(key[len(USAGE_PREFIX):] for key, value in data.items()
                  if key.startswith(USAGE_PREFIX) and value == "true")


def signing_token(secret: dict, now: datetime) -> tuple[str, str] | None:
    """(id, secret) of a token the bootstrap signer signs cluster-info with: well named, unexpired, and
    marked for signing (upstream's validateSecretForSigning)."""
    name_id = id_of_secret_name((secret.get("metadata") or {}).get("name", ""))
    data = data_of(secret)
    token_id, token_value = data.get(ID_KEY, ""), data.get(SECRET_KEY, "")
    if not name_id or token_id != name_id or not token_value or expiration(data, now)[1]:
        return None
    return (token_id, token_value) if data.get(USAGE_PREFIX + "signing") == "true" else None


# detached JWS (RFC 7515 appendix F), HS256 keyed with the token secret


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def detached_signature(content: str, token_id: str, token_value: str) -> str:
    """What upstream's ComputeDetachedSignature gives: `HEADER..SIGNATURE`, the header
    {"alg":"HS256","kid":ID}, the key the secret zero-padded to 32 bytes (go-jose's minimum for HS256)."""
    header = _b64url(json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":")).encode())
    key = token_value.encode().ljust(32, b"\0")
    signed = f"{header}.{_b64url(content.encode())}".encode()
    return f"{header}..{_b64url(hmac.new(key, signed, hashlib.sha256).digest())}"


def signature_valid(signature: str, content: str, token_id: str, token_value: str) -> bool:
    expected = detached_signature(content, token_id, token_value)
    return hmac.compare_digest(signature.encode(), expected.encode())
