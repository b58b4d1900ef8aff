"""The service as its clusters' token webhook, the part of EKS that aws-iam-authenticator is: each
cluster's API server is started with --authentication-token-webhook-config-file naming
SERVICE/webhooks/authentication/CLUSTER and a bearer token of its own, and sends there the bearer tokens it
does not know, as TokenReviews. An EKS token (see tokens) signed by a user the cluster maps (see
usermapping) is authenticated as that user, with aws-iam-authenticator's uid and extra; anything else is
refused as aws-iam-authenticator refuses it, 403 with authenticated false, which the API server takes as
an error: the request is 401 Unauthorized."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from typing import TYPE_CHECKING

import orjson
import yaml

from timoneiro.eks import tokens
from timoneiro.eks.usermapping import user_of
from timoneiro.files import write_private

if TYPE_CHECKING:
    from timoneiro.eks.service import Eks

log = logging.getLogger("timoneiro.eks")
PATH = "/webhooks/authentication/"
KUBECONFIG = "authentication-webhook.conf"  # in the cluster's directory
TOKEN = "_webhookToken"  # in the cluster's record: what its API server presents to the webhook
DEFAULT_API_VERSION = "authentication.k8s.io/v1"
AUTHENTICATOR = "sigs.k8s.io/aws-iam-authenticator/"


def webhook_options(eks: Eks, cluster: str) -> list[str]:
    """The API server options that make the service the cluster's token webhook; writes the webhook's
    kubeconfig (0600) into the cluster's directory, with the cluster's webhook token (made once)."""
    if eks.url is None:
        raise RuntimeError("the service's URL is not known before it listens")
    record = eks.doc(cluster)["cluster"]
    if not record.get(TOKEN):
        record[TOKEN] = secrets.token_urlsafe(32)
        eks.store.save(cluster)
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "webhook",
              "clusters": [{"name": "eks", "cluster": {"server": f"{eks.url.rstrip('/')}{PATH}{cluster}"}}],
              "users": [{"name": "kube-apiserver", "user": {"token": record[TOKEN]}}],
              "contexts": [{"name": "webhook", "context": {"cluster": "eks", "user": "kube-apiserver"}}]}
    path = os.path.join(eks.store.cluster_dir(cluster), KUBECONFIG)
    write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
    return ["--authentication-token-webhook-config-file", path]


async def token_review(eks: Eks, cluster: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
    """(HTTP status, body) for a cluster's TokenReview."""
    doc = eks.store.clusters.get(cluster)
    expected = doc["cluster"].get(TOKEN) if doc else None
    scheme, _, presented = headers.get("authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        return 401, _status(401, "Unauthorized", "Unauthorized")
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError:
        review = None
    if not isinstance(review, dict) or review.get("kind", "TokenReview") != "TokenReview":
        return 400, _status(400, "BadRequest", "expected a request body to be a TokenReview")
    api_version = review.get("apiVersion") or DEFAULT_API_VERSION
    denied = 403, {"apiVersion": api_version, "kind": "TokenReview", "status": {"authenticated": False}}
    try:
        identity = tokens.verify(eks.iam, str((review.get("spec") or {}).get("token") or ""), cluster)
    except tokens.TokenError as e:
        log.info("cluster %s: access denied: %s", cluster, e)
        return denied
    mapped = await user_of(eks, cluster, identity)
    if mapped is None:
        log.info("cluster %s: access denied: %s is not mapped", cluster, identity.arn)
        return denied
    username, groups = mapped
    extra = {"arn": [identity.arn], "canonicalArn": [identity.canonical_arn], "sessionName": [identity.session_name],
             "accessKeyId": [identity.access_key_id], "principalId": [identity.user_id],
             AUTHENTICATOR + "principalId": [identity.user_id]}
    user = {"username": username, "uid": f"aws-iam-authenticator:{identity.account}:{identity.user_id}",
            "groups": groups, "extra": extra}
    return 200, {"apiVersion": api_version, "kind": "TokenReview", "status": {"authenticated": True, "user": user}}


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
