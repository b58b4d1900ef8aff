"""EKS tokens and who they name, without servers: tokens made by the `aws` CLI's own `eks get-token` code
are verified locally (aws-iam-authenticator's checks, then the STS signature), whatever STS endpoint they
were presigned for; tampered, expired, misdirected and malformed ones are refused with the authenticator's
words; identities map through access entries and aws-auth as aws-iam-authenticator maps them."""

from __future__ import annotations

import base64
import time
from urllib.parse import urlencode

import botocore.session
import pytest
from awscli.customizations.eks.get_token import STSClientFactory, TokenGenerator
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from timoneiro.eks import tokens
from timoneiro.eks.iam import IAM, AccessKey
from timoneiro.eks.tokens import Identity, TokenError, canonical_arn
from timoneiro.eks.usermapping import access_entry, config_map_mapping, render


@pytest.fixture
def iam(tmp_path) -> IAM:
    return IAM(str(tmp_path))


def get_token(key: AccessKey, cluster: str, endpoint: str | None = None) -> str:
    """What `aws eks get-token --cluster-name CLUSTER` prints as the token, for this key."""
    session = botocore.session.Session()
    session.set_config_variable("config_file", "/nonexistent")
    session.set_config_variable("credentials_file", "/nonexistent")
    session.set_credentials(key.principal.access_key_id, key.secret_access_key)
    if endpoint:
        session.set_config_variable("endpoint_url", endpoint)
    return TokenGenerator(STSClientFactory(session).get_sts_client(region_name="us-east-1")).get_token(cluster)


def presign(key: AccessKey, query: dict, headers: dict | None = None, service: str = "sts", expires: int = 60,
            path: str = "/", host: str = "sts.us-east-1.amazonaws.com") -> str:
    """A token of a URL presigned by hand, for what the CLI never makes."""
    request = AWSRequest("GET", f"https://{host}{path}?{urlencode(query)}", headers=headers or {})
    credentials = Credentials(key.principal.access_key_id, key.secret_access_key)
    SigV4QueryAuth(credentials, service, "us-east-1", expires=expires).add_auth(request)
    return tokens.PREFIX + base64.urlsafe_b64encode(request.url.encode()).decode().rstrip("=")


CALLER = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
SIGNED = {"x-k8s-aws-id": "demo"}


def refusal(iam: IAM, token: str, cluster: str = "demo", now: float | None = None) -> str:
    with pytest.raises(TokenError) as caught:
        tokens.verify(iam, token, cluster, now)
    return str(caught.value)


def test_get_token_tokens_name_their_signer(iam):
    key = iam.admin
    for endpoint in (None, "http://127.0.0.1:4566"):  # AWS's STS host, or the service's (AWS_ENDPOINT_URL)
        identity = tokens.verify(iam, get_token(key, "demo", endpoint), "demo")
        assert identity == Identity(key.principal.arn, key.principal.arn, iam.account, key.principal.user_id, "",
                                    key.principal.access_key_id)
    other = iam.create_user("dev")
    assert tokens.verify(iam, get_token(other, "demo"), "demo").arn == f"arn:aws:iam::{iam.account}:user/dev"


def test_tokens_last_fifteen_minutes_whatever_x_amz_expires_says(iam):
    token = get_token(iam.admin, "demo")  # presigned for 60 seconds, as the CLI does
    assert tokens.verify(iam, token, "demo", now=time.time() + 14 * 60).arn == iam.admin.principal.arn
    assert refusal(iam, token, now=time.time() + 16 * 60).startswith(
        "X-Amz-Date parameter is expired (15 minute expiration) ")
    assert "Signature not yet current" in refusal(iam, token, now=time.time() - 16 * 60)


def test_tampered_and_misdirected_tokens(iam, tmp_path):
    token = get_token(iam.admin, "demo")
    url = base64.urlsafe_b64decode(token[len(tokens.PREFIX):] + "==").decode()
    signature = url.rpartition("X-Amz-Signature=")[2]
    forged = url.replace(signature, signature[::-1])
    forged_token = tokens.PREFIX + base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
    assert "SignatureDoesNotMatch" in refusal(iam, forged_token)
    assert "SignatureDoesNotMatch" in refusal(iam, token, cluster="another")  # signed for another cluster
    (tmp_path / "elsewhere").mkdir()
    stranger = IAM(str(tmp_path / "elsewhere")).admin  # a key this service never issued
    assert "InvalidClientTokenId" in refusal(iam, get_token(stranger, "demo"))
    assert "Credential should be scoped to correct service: 'sts'" in refusal(
        iam, presign(iam.admin, CALLER, SIGNED, service="eks"))


def test_malformed_tokens_get_the_authenticators_words(iam):
    key = iam.admin
    assert refusal(iam, "Bearer-ish") == 'token is missing expected "k8s-aws-v1." prefix'
    assert refusal(iam, tokens.PREFIX + "a" * 5000) == "token is too large"
    assert refusal(iam, tokens.PREFIX + "not base64!") == "illegal base64 data in token"
    assert refusal(iam, presign(key, CALLER, SIGNED, path="/other")) == "unexpected path in pre-signed URL"
    assert refusal(iam, presign(key, {**CALLER, "Action": "GetSessionToken"}, SIGNED)) == \
        "unexpected action parameter in pre-signed URL"
    assert refusal(iam, presign(key, {**CALLER, "Version": "2010-01-01"}, SIGNED)) == \
        "unexpected version parameter in pre-signed URL"
    assert refusal(iam, presign(key, CALLER)) == \
        "client did not sign the x-k8s-aws-id header in the pre-signed URL"
    assert refusal(iam, presign(key, {**CALLER, "RoleArn": "x"}, SIGNED)) == \
        'non-whitelisted query parameter "RoleArn"'
    assert refusal(iam, presign(key, {**CALLER, "action": "GetCallerIdentity"}, SIGNED)) == \
        'duplicate query parameter found: "action"'
    assert refusal(iam, presign(key, CALLER, SIGNED, expires=3600)) == \
        "invalid X-Amz-Expires parameter in pre-signed URL: 3600"
    assert tokens.verify(iam, presign(key, CALLER, SIGNED, expires=900), "demo").arn == key.principal.arn


def test_role_sessions_are_their_roles():
    session = "arn:aws:sts::111122223333:assumed-role/dev/alice@example.com"
    assert canonical_arn(session) == "arn:aws:iam::111122223333:role/dev"
    assert canonical_arn("arn:aws:iam::111122223333:user/ops/bob") == "arn:aws:iam::111122223333:user/ops/bob"
    assert tokens._identity(session, "AROAEXAMPLE:alice@example.com", "111122223333", "ASIAX") == Identity(
        session, "arn:aws:iam::111122223333:role/dev", "111122223333", "AROAEXAMPLE", "alice@example.com", "ASIAX")


SESSION = Identity("arn:aws:sts::111122223333:assumed-role/dev/alice@example.com",
                   "arn:aws:iam::111122223333:role/dev", "111122223333", "AROAEXAMPLE", "alice@example.com", "ASIAX")


def test_access_entries_match_principals_roles_without_their_paths():
    doc = {"accessEntries": {"arn:aws:iam::111122223333:role/teams/dev": {"username": "role"},
                             "arn:aws:iam::111122223333:user/Bob": {"username": "bob"}}}
    assert access_entry(doc, SESSION.canonical_arn) == {"username": "role"}
    assert access_entry(doc, "arn:aws:iam::111122223333:user/bob") == {"username": "bob"}
    assert access_entry(doc, "arn:aws:iam::111122223333:user/carol") is None


def test_templates_render_as_the_authenticator_renders_them():
    assert render("arn:aws:sts::111122223333:assumed-role/dev/{{SessionName}}", SESSION) == \
        "arn:aws:sts::111122223333:assumed-role/dev/alice-example.com"
    assert render("{{AccountID}}:{{SessionNameRaw}}:{{AccessKeyID}}", SESSION) == \
        "111122223333:alice@example.com:ASIAX"
    assert render("system:node:{{EC2PrivateDNSName}}", SESSION) is None  # no EC2 API here


def test_aws_auth_maps_roles_then_users_then_accounts():
    data = {"mapRoles": "- RoleARN: arn:aws:iam::111122223333:role/DEV\n  Username: dev:{{SessionName}}\n"
                        "  Groups: [developers]\n",
            "mapUsers": "- userarn: arn:aws:iam::111122223333:user/bob\n  username: bob\n",
            "mapAccounts": "- '444455556666'\n"}
    assert config_map_mapping(data, SESSION) == ("dev:{{SessionName}}", ["developers"])
    bob = Identity(*["arn:aws:iam::111122223333:user/bob"] * 2, "111122223333", "AIDABOB", "", "AKIAB")
    assert config_map_mapping(data, bob) == ("bob", [])
    other = Identity(*["arn:aws:iam::444455556666:user/eve"] * 2, "444455556666", "AIDAEVE", "", "AKIAE")
    assert config_map_mapping(data, other) == ("arn:aws:iam::444455556666:user/eve", [])
    stranger = Identity(*["arn:aws:iam::999999999999:user/x"] * 2, "999999999999", "AIDAX", "", "AKIAX")
    assert config_map_mapping(data, stranger) is None
    assert config_map_mapping({"mapUsers": "not: [valid"}, bob) is None

