"""Service-account tokens: the JWTs kube-apiserver issues for ServiceAccounts (TokenRequest, the tokens
projected into pods) and accepts as bearer tokens.

They are signed ES256 with the cluster's service-account key (pki/sa.key), their `kid` the unpadded
base64url SHA-256 of the public key's DER, as upstream derives it, and carry 1.32's bound-token claims. A
token is checked as upstream checks it: signature, issuer, audience, times (with go-jose's minute of
leeway), then that its ServiceAccount and the object it is bound to are still there with the UIDs it
names. Those are read from the watch cache on every request, so deleting a pod revokes its tokens at once;
only the signature check is remembered per token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from timoneiro.apiserver.authn import Unauthorized, UserInfo, authenticated, bearer_token

if TYPE_CHECKING:
    from timoneiro.apiserver.http import Request
    from timoneiro.storage.cache import WatchCache

ISSUER = "https://kubernetes.default.svc.cluster.local"  # kubeadm's --service-account-issuer
ALGORITHM = "ES256"
# what ServiceAccount admission projects into pods: such a token, bound to a pod for the API server's own
# audiences, lives a year but is reported stale after this (upstream's safe rollout of bound tokens)
WARN_ONLY_EXPIRATION = 60 * 60 + 7
EXTENDED_EXPIRATION = 365 * 24 * 60 * 60
LEEWAY = 60  # seconds of clock skew go-jose allows on exp, nbf and iat, and on deletion of bound objects
# ASGI scope keys: the audiences a TokenReview asks a token to be valid for (a request to this server asks
# for the server's own), and the ones the authenticator found it valid for
REQUESTED_AUDIENCES = "timoneiro.audiences"
AUTHENTICATED_AUDIENCES = "timoneiro.authenticated_audiences"
EXTRA = "authentication.kubernetes.io/"
GROUP = "system:serviceaccounts"
SIGNATURE_FAILED = "go-jose/go-jose: error in cryptographic primitive"
INVALIDATED = "service account token has been invalidated"
CACHE_SIZE = 4096


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url(hashlib.sha256(der).digest())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def username(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def go_quoted(values: list[str] | tuple[str, ...]) -> str:
    """A string list as Go's %q prints it: ["a" "b"]."""
    return "[" + " ".join(orjson.dumps(v).decode() for v in values) + "]"


def _ref(metadata: dict) -> dict:
    return {k: v for k, v in (("name", metadata.get("name")), ("uid", metadata.get("uid"))) if v}


def unverified_issuer(token: str) -> str | None:
    """The `iss` of a JWT before its signature is checked: whether it is ours to check at all."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


class ServiceAccountTokens:
    """Issues and verifies the cluster's service-account JWTs."""

    def __init__(self, private_pem: bytes, issuer: str = ISSUER) -> None:
        key = serialization.load_pem_private_key(private_pem, None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("the service-account key must be an EC P-256 key")
        self.key = key
        self.public_key = key.public_key()
        self.kid = key_id(self.public_key)
        self.issuer = issuer
        self.audiences: tuple[str, ...] = (issuer,)  # --api-audiences defaults to the issuer
        self._jws = jwt.PyJWS(algorithms=[ALGORITHM])
        self._verified: dict[str, dict] = {}

    def issue(self, account: dict, expiration_seconds: int, audiences: list[str], *, pod: dict | None = None,
              secret: dict | None = None, node: dict | None = None, warn_after: int = 0,
              now: int | None = None) -> str:
        """A token for ServiceAccount metadata `account`, bound to the pod, secret or node (metadata) given:
        a pod-bound token also names the pod's node when it has one. Claims serialize in sorted order, as
        upstream's merged claims do."""
        issued = int(time.time()) if now is None else now
        private: dict = {"namespace": account["namespace"], "serviceaccount": _ref(account)}
        if pod is not None:
            private["pod"] = _ref(pod)
        elif secret is not None:
            private["secret"] = _ref(secret)
        if node is not None:
            private["node"] = _ref(node)
        if warn_after:
            private["warnafter"] = issued + warn_after
        claims = {"aud": list(audiences), "exp": issued + expiration_seconds, "iat": issued, "iss": self.issuer,
                  "jti": str(uuid.uuid4()), "kubernetes.io": private, "nbf": issued,
                  "sub": username(account["namespace"], account["name"])}
        return self._jws.encode(orjson.dumps(claims, option=orjson.OPT_SORT_KEYS), self.key, ALGORITHM,
                                headers={"kid": self.kid, "typ": None})

    def claims(self, token: str) -> dict | None:
        """The claims of a token signed by this issuer's key; None for a token that is not a JWT of this
        issuer (another authenticator's); Unauthorized for one that says it is and is not."""
        claims = self._verified.get(token)
        if claims is not None:
            return claims
        if unverified_issuer(token) != self.issuer:
            return None
        try:
            payload = self._jws.decode(token, self.public_key, algorithms=[ALGORITHM])
        except jwt.InvalidTokenError as e:
            if type(e) is jwt.DecodeError:  # not a JWS after all (InvalidSignatureError is a DecodeError too)
                return None
            raise Unauthorized(SIGNATURE_FAILED) from None
        claims = orjson.loads(payload)
        if len(self._verified) >= CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def check(self, claims: dict, requested: tuple[str, ...] | list[str]) -> list[str]:
        """The requested audiences the token is valid for, raising Unauthorized if none or if it is not
        valid now (upstream's audience check, then its time validation)."""
        aud = claims.get("aud")
        token_audiences = [aud] if isinstance(aud, str) else list(aud or ()) or list(self.audiences)
        audiences = [a for a in token_audiences if a in requested]
        if not audiences:
            raise Unauthorized(f"token audiences {go_quoted(token_audiences)} is invalid for the target audiences "
                               f"{go_quoted(list(requested))}")
        now = time.time()
        if _number(claims, "nbf") > now + LEEWAY:
            raise Unauthorized("service account token is not valid yet")
        if _number(claims, "exp", float("inf")) < now - LEEWAY:
            raise Unauthorized("service account token has expired")
        if _number(claims, "iat") > now + LEEWAY:
            raise Unauthorized("service account token is issued in the future")
        return audiences

    def jwk(self) -> dict:
        """The public key as a JSON Web Key, its members in go-jose's order."""
        numbers = self.public_key.public_numbers()
        return {"use": "sig", "kty": "EC", "kid": self.kid, "crv": "P-256", "alg": ALGORITHM,
                "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))}


def _number(claims: dict, name: str, default: float = 0) -> float:
    value = claims.get(name)
    return value if isinstance(value, int | float) else default


class ServiceAccountAuthenticator:
    """Bearer tokens of this server's issuer, for ServiceAccounts that still exist, bound to objects that
    still exist (upstream's service-account token authenticator and validator)."""

    def __init__(self, tokens: ServiceAccountTokens, cache: WatchCache) -> None:
        self.tokens = tokens
        self.cache = cache

    def authenticate(self, req: Request) -> UserInfo | None:
        token = bearer_token(req)
        claims = self.tokens.claims(token) if token else None
        if claims is None:
            return None
        audiences = self.tokens.check(claims, req.scope.get(REQUESTED_AUDIENCES) or self.tokens.audiences)
        user = self.user(claims)
        req.scope[AUTHENTICATED_AUDIENCES] = audiences
        return user

    def user(self, claims: dict) -> UserInfo:
        private = claims.get("kubernetes.io") or {}
        namespace = private.get("namespace", "")
        account_ref = private.get("serviceaccount") or {}
        name = account_ref.get("name", "")
        account = self._metadata(f"/core/serviceaccounts/{namespace}/{name}")
        if account is None:
            raise Unauthorized(f'serviceaccounts "{name}" not found')
        if account.get("uid") != account_ref.get("uid"):
            raise Unauthorized(f"service account UID ({account.get('uid')}) does not match claim "
                               f"({account_ref.get('uid')})")
        if _deleted(account):
            raise Unauthorized(f"service account {namespace}/{name} has been deleted")
        extra: dict[str, tuple[str, ...]] = {}
        if secret_ref := private.get("secret"):
            self._check_bound("secret", f"/core/secrets/{namespace}/{secret_ref.get('name')}", secret_ref)
        node_ref = private.get("node")
        if pod_ref := private.get("pod"):
            self._check_bound("pod", f"/core/pods/{namespace}/{pod_ref.get('name')}", pod_ref)
            extra[EXTRA + "pod-name"] = (pod_ref.get("name", ""),)
            extra[EXTRA + "pod-uid"] = (pod_ref.get("uid", ""),)
        elif node_ref:
            self._check_bound("node", f"/core/nodes/{node_ref.get('name')}", node_ref)
        if claims.get("jti"):
            extra[EXTRA + "credential-id"] = (f"JTI={claims['jti']}",)
        if node_ref:
            extra[EXTRA + "node-name"] = (node_ref.get("name", ""),)
            if node_ref.get("uid"):
                extra[EXTRA + "node-uid"] = (node_ref["uid"],)
        return authenticated(username(namespace, name), (GROUP, f"{GROUP}:{namespace}"), account.get("uid", ""),
                             extra)

    def _check_bound(self, what: str, key: str, ref: dict) -> None:
        found = self._metadata(key)
        if found is None:
            raise Unauthorized(INVALIDATED)
        if found.get("uid") != ref.get("uid"):
            raise Unauthorized(f"{what} UID ({found.get('uid')}) does not match service account {what} ref claim "
                               f"({ref.get('uid')})")
        if _deleted(found):
            raise Unauthorized(INVALIDATED)

    def _metadata(self, key: str) -> dict | None:
        entry = self.cache.get(key)
        return (orjson.loads(entry.data).get("metadata") or {}) if entry is not None else None


def _deleted(metadata: dict) -> bool:
    """Deleted longer ago than the leeway: upstream still honours tokens of objects in graceful deletion."""
    stamp = metadata.get("deletionTimestamp")
    if not stamp:
        return False
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() < time.time() - LEEWAY
