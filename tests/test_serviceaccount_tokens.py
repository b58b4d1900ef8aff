"""Service-account tokens end to end: TokenRequest through kubectl, the tokens as bearer credentials,
their revocation, TokenReview through the official Python client, and issuer discovery used as an outside
OIDC consumer would use it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kubernetes import client as k8s
from kubernetes import config as kube_config

from conftest import Kubectl
from controller_testing import Api, eventually, http_client
from timoneiro.apiserver.authn.serviceaccount import ServiceAccountTokens
from timoneiro.client import ClientConfig

ISSUER = "https://kubernetes.default.svc.cluster.local"
UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
                "reason": "Unauthorized", "code": 401}


def claims_of(token: str) -> tuple[dict, dict]:
    def part(segment: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))

    header, payload, _ = token.split(".")
    return part(header), part(payload)


def as_token(server, token: str) -> ClientConfig:
    return ClientConfig(server=server.url, ca_data=server.admin.ca_data, token=token)


def token_kubectl(server, tmp_path, token: str) -> Kubectl:
    home = tmp_path / f"home-{uuid.uuid4().hex[:8]}"
    home.mkdir()
    return Kubectl(home, as_token(server, token))


def review(server, token: str, audiences: list[str] | None = None):
    """A TokenReview through the official client, as the administrator."""
    config = k8s.Configuration()
    kube_config.load_kube_config(os.path.join(server.data_dir, "admin.conf"), client_configuration=config)
    with k8s.ApiClient(config) as c:
        body = k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token, audiences=audiences))
        return k8s.AuthenticationV1Api(c).create_token_review(body).status


def default_account(api: Api, namespace: str = "default") -> dict:
    return eventually(lambda: api.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default", ok=(404,))
                      .get("metadata"))


def status_of(server, token: str, path: str = "/api/v1/namespaces/default/pods") -> tuple[int, dict]:
    with http_client(as_token(server, token)) as http:
        r = http.get(path)
        return r.status_code, r.json()


def test_kubectl_create_token_gives_upstreams_claims_and_authenticates(server, kubectl, api, tmp_path):
    account = default_account(api)
    token = kubectl("create", "token", "default").strip()
    header, claims = claims_of(token)
    with open(os.path.join(server.data_dir, "pki", "sa.pub"), "rb") as f:
        public = serialization.load_pem_public_key(f.read())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kubectl("create", "rolebinding", "default-view", "--clusterrole=view", "--serviceaccount=default:default")
    assert header == {"alg": "ES256", "kid": base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()}
    assert sorted(claims) == ["aud", "exp", "iat", "iss", "jti", "kubernetes.io", "nbf", "sub"]
    assert claims["iss"] == ISSUER and claims["aud"] == [ISSUER]
    assert claims["sub"] == "system:serviceaccount:default:default"
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    assert uuid.UUID(claims["jti"])
    assert claims["kubernetes.io"] == {"namespace": "default",
                                       "serviceaccount": {"name": "default", "uid": account["uid"]}}

    as_account = token_kubectl(server, tmp_path, token)
    assert "No resources found" in as_account.run("get", "pods").stderr
    status = review(server, token)
    assert status.authenticated and status.audiences == [ISSUER]
    assert status.user.username == "system:serviceaccount:default:default" and status.user.uid == account["uid"]
    assert status.user.groups == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]
    assert status.user.extra == {"authentication.kubernetes.io/credential-id": [f"JTI={claims['jti']}"]}


def test_token_request_defaults_validation_and_errors(server, kubectl, api):
    default_account(api)
    path = "/api/v1/namespaces/default/serviceaccounts/default/token"
    answer = api.post(path, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                             "spec": {"audiences": ["vault"], "expirationSeconds": 1200}})
    assert answer["kind"] == "TokenRequest" and answer["apiVersion"] == "authentication.k8s.io/v1"
    assert answer["metadata"]["name"] == "default" and answer["metadata"]["namespace"] == "default"
    assert answer["spec"] == {"audiences": ["vault"], "expirationSeconds": 1200}
    _, claims = claims_of(answer["status"]["token"])
    assert claims["aud"] == ["vault"] and claims["exp"] - claims["iat"] == 1200
    assert answer["status"]["expirationTimestamp"].endswith("Z")

    short = kubectl.run("create", "token", "default", "--duration", "5m", check=False)
    assert short.returncode != 0
    assert 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 300: ' \
           "may not specify a duration less than 10 minutes" in short.stderr
    missing = api.post("/api/v1/namespaces/default/serviceaccounts/nobody/token", {"spec": {}}, ok=(404,))
    assert missing["message"] == 'serviceaccounts "nobody" not found'
    wrong_name = api.post(path, {"metadata": {"name": "other"}, "spec": {}}, ok=(422,))
    assert wrong_name["message"] == 'TokenRequest.authentication.k8s.io "default" is invalid: metadata.name: ' \
                                    'Invalid value: "other": must match the service account name if specified'
    bad_kind = api.post(path, {"spec": {"boundObjectRef": {"kind": "Deployment", "apiVersion": "apps/v1",
                                                           "name": "x"}}}, ok=(400,))
    assert bad_kind["message"] == "cannot bind token to object of type apps/v1, Kind=Deployment"
    api.post("/api/v1/namespaces/default/pods", {"metadata": {"name": "p"}, "spec": {
        "serviceAccountName": "default", "containers": [{"name": "c", "image": "nginx"}]}})
    stale_uid = api.post(path, {"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p",
                                                            "uid": "0000"}}}, ok=(409,))
    assert stale_uid["message"].startswith('Operation cannot be fulfilled on Pod "p": the UID in the bound object '
                                           "reference (0000) does not match the UID in record.")
    api.post("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "other"}})
    other = api.post("/api/v1/namespaces/default/serviceaccounts/other/token",
                     {"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}}}, ok=(400,))
    assert other["message"] == 'cannot bind token for serviceaccount "other" to pod running with different ' \
                               "serviceaccount name."


def test_pod_bound_token_stops_working_when_the_pod_is_deleted(server, kubectl, api, tmp_path):
    default_account(api)
    kubectl("create", "rolebinding", "default-view", "--clusterrole=view", "--serviceaccount=default:default")
    kubectl("run", "web", "--image", "nginx")
    pod = api.get("/api/v1/namespaces/default/pods/web")
    token = kubectl("create", "token", "default", "--duration", "20m", "--bound-object-kind", "Pod",
                    "--bound-object-name", "web").strip()
    _, claims = claims_of(token)
    assert claims["kubernetes.io"]["pod"] == {"name": "web", "uid": pod["metadata"]["uid"]}
    assert claims["exp"] - claims["iat"] == 1200
    status = review(server, token)
    assert status.user.extra["authentication.kubernetes.io/pod-name"] == ["web"]
    assert status.user.extra["authentication.kubernetes.io/pod-uid"] == [pod["metadata"]["uid"]]
    as_pod = token_kubectl(server, tmp_path, token)
    as_pod("get", "pods")

    kubectl("delete", "pod", "web", "--grace-period=0", "--force")
    failed = as_pod.run("get", "pods", check=False)
    assert failed.returncode != 0 and "Unauthorized" in failed.stderr
    assert status_of(server, token) == (401, UNAUTHORIZED)
    gone = review(server, token)
    assert not gone.authenticated and gone.error == "service account token has been invalidated"


def test_pod_bound_token_of_a_scheduled_pod_names_its_node_and_lives_long_if_warn_only(server, api):
    default_account(api)
    api.post("/api/v1/nodes", {"metadata": {"name": "node-1"}})
    node = api.get("/api/v1/nodes/node-1")
    api.post("/api/v1/namespaces/default/pods", {"metadata": {"name": "p"}, "spec": {
        "nodeName": "node-1", "containers": [{"name": "c", "image": "nginx"}]}})
    answer = api.post("/api/v1/namespaces/default/serviceaccounts/default/token", {"spec": {
        "expirationSeconds": 3607, "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p"}}})
    _, claims = claims_of(answer["status"]["token"])
    assert claims["kubernetes.io"]["node"] == {"name": "node-1", "uid": node["metadata"]["uid"]}
    assert claims["exp"] - claims["iat"] == 365 * 24 * 3600  # the projected volume's token: a year,
    assert claims["kubernetes.io"]["warnafter"] - claims["iat"] == 3607  # reported stale after the hour
    extra = review(server, answer["status"]["token"]).user.extra
    assert extra["authentication.kubernetes.io/node-name"] == ["node-1"]
    assert extra["authentication.kubernetes.io/node-uid"] == [node["metadata"]["uid"]]


def test_token_of_a_deleted_and_recreated_account_is_refused(server, kubectl, tmp_path):
    kubectl("create", "serviceaccount", "robot")
    kubectl("create", "rolebinding", "robot-view", "--clusterrole=view", "--serviceaccount=default:robot")
    token = kubectl("create", "token", "robot").strip()
    as_robot = token_kubectl(server, tmp_path, token)
    as_robot("get", "configmaps")
    old_uid = claims_of(token)[1]["kubernetes.io"]["serviceaccount"]["uid"]
    kubectl("delete", "serviceaccount", "robot")
    assert status_of(server, token) == (401, UNAUTHORIZED)
    assert review(server, token).error == 'serviceaccounts "robot" not found'
    kubectl("create", "serviceaccount", "robot")
    new_uid = kubectl.json("get", "serviceaccount", "robot")["metadata"]["uid"]
    failed = as_robot.run("get", "configmaps", check=False)
    assert failed.returncode != 0 and "Unauthorized" in failed.stderr
    assert review(server, token).error == f"service account UID ({new_uid}) does not match claim ({old_uid})"


def test_expired_and_foreign_tokens_get_401(server, api):
    account = default_account(api)
    tokens = server.api.service_accounts
    expired = tokens.issue(account, 600, [ISSUER], now=int(time.time()) - 3600)
    assert status_of(server, expired) == (401, UNAUTHORIZED)
    assert review(server, expired).error == "service account token has expired"

    foreign_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    forged = ServiceAccountTokens(foreign_key).issue(account, 3600, [ISSUER])
    assert status_of(server, forged) == (401, UNAUTHORIZED)
    assert review(server, forged).error == "go-jose/go-jose: error in cryptographic primitive"

    garbage = review(server, "not-a-token")
    assert not garbage.authenticated and garbage.error == "invalid bearer token"
    assert status_of(server, "not-a-token") == (401, UNAUTHORIZED)


def test_token_review_honours_audiences(server, api):
    account = default_account(api)
    vault = server.api.service_accounts.issue(account, 3600, ["vault"])
    status = review(server, vault, ["vault", "other"])
    assert status.authenticated and status.audiences == ["vault"]
    refused = review(server, vault)  # for the API server's own audience it is not valid
    assert not refused.authenticated
    assert refused.error == f'token audiences ["vault"] is invalid for the target audiences ["{ISSUER}"]'
    assert status_of(server, vault) == (401, UNAUTHORIZED)
    empty = api.post("/apis/authentication.k8s.io/v1/tokenreviews", {"spec": {}}, ok=(400,))
    assert empty["message"] == "token is required for TokenReview in authentication"


def test_issuer_discovery_verifies_tokens_as_an_oidc_consumer_would(server, api):
    account = default_account(api)
    with http_client(server.admin) as http:
        config = http.get("/.well-known/openid-configuration")
        keys = http.get("/openid/v1/jwks")
    assert config.headers["content-type"] == "application/json"
    assert keys.headers["content-type"] == "application/jwk-set+json"
    assert config.headers["cache-control"] == keys.headers["cache-control"] == "public, max-age=3600"
    assert config.json() == {"issuer": ISSUER, "jwks_uri": f"https://127.0.0.1:{server.port}/openid/v1/jwks",
                             "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                             "id_token_signing_alg_values_supported": ["ES256"]}
    [key] = keys.json()["keys"]
    assert {k: key[k] for k in ("use", "kty", "crv", "alg")} == {"use": "sig", "kty": "EC", "crv": "P-256",
                                                                 "alg": "ES256"}
    token = server.api.service_accounts.issue(account, 3600, ["sts.amazonaws.com"])
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    verified = jwt.decode(token, jwt.PyJWK(key).key, algorithms=config.json()["id_token_signing_alg_values_supported"],
                          audience="sts.amazonaws.com", issuer=config.json()["issuer"])
    assert verified["sub"] == "system:serviceaccount:default:default"
    foreign = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(ServiceAccountTokens(foreign).issue(account, 3600, ["sts.amazonaws.com"]), jwt.PyJWK(key).key,
                   algorithms=["ES256"], audience="sts.amazonaws.com")
