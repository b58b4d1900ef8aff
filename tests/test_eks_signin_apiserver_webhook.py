"""kube-apiserver's webhook token authentication (--authentication-token-webhook-config-file) on its own,
against a tiny webhook server in the test standing in for the remote service: bearer tokens no local
authenticator knows go to it as TokenReviews with the kubeconfig's credentials; its answers are kept for the
cache TTL, authenticated or not; failures to answer are 401 and are not kept; transient failures are
retried; audiences are honoured as upstream honours them."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from conftest import Kubectl
from controller_testing import http_client
from timoneiro.apiserver.authn import Unauthorized
from timoneiro.apiserver.authn.serviceaccount import ISSUER
from timoneiro.apiserver.authn.webhook import WebhookConfigError, WebhookTokenAuthenticator
from timoneiro.apiserver.server import ServerThread
from timoneiro.client import ClientConfig

HOOK_TOKEN = "the-api-servers-own-secret"
ALICE = {"username": "alice", "uid": "u-1", "groups": ["devs"], "extra": {"team": ["platform"]}}


class FakeWebhook:
    """A remote token authenticator: records each TokenReview it is sent and answers with `answer(review)`,
    an (HTTP status, body) pair; by default tokens "good-*" are alice and others are not authenticated."""

    def __init__(self) -> None:
        self.reviews: list[tuple[str, str, dict]] = []  # (path, authorization header, TokenReview)
        self.answer: Callable[[dict], tuple[int, dict]] = self.default
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.reviews.append((self.path, self.headers.get("Authorization", ""), review))
                status, body = fake.answer(review)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/authenticate"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def default(review: dict) -> tuple[int, dict]:
        status = {"authenticated": True, "user": ALICE} if review["spec"]["token"].startswith("good-") else \
            {"authenticated": False}
        return 200, {"apiVersion": review["apiVersion"], "kind": "TokenReview", "status": status}

    def tokens(self) -> list[str]:
        return [review["spec"]["token"] for _, _, review in self.reviews]

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def webhook() -> Iterator[FakeWebhook]:
    fake = FakeWebhook()
    yield fake
    fake.stop()


def webhook_kubeconfig(path: Path, url: str) -> str:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "hook",
        "clusters": [{"name": "hook", "cluster": {"server": url}}],
        "users": [{"name": "apiserver", "user": {"token": HOOK_TOKEN}}],
        "contexts": [{"name": "hook", "context": {"cluster": "hook", "user": "apiserver"}}]}))
    return str(path)


@pytest.fixture
def server(tmp_path: Path, webhook: FakeWebhook) -> Iterator[ServerThread]:
    srv = ServerThread(str(tmp_path / "data"), controllers=False,
                       authentication_token_webhook_config_file=webhook_kubeconfig(tmp_path / "hook.conf",
                                                                                   webhook.url)).start()
    yield srv
    srv.stop()


def as_token(server: ServerThread, token: str) -> ClientConfig:
    return dataclasses.replace(server.admin, cert_data=None, key_data=None, token=token)


def status_of(server: ServerThread, token: str, path: str = "/apis") -> int:
    with http_client(as_token(server, token)) as http:
        return http.get(path).status_code


def test_unknown_bearer_tokens_are_reviewed_by_the_webhook(server, webhook, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    whoami = Kubectl(home, as_token(server, "good-1")).json("auth", "whoami")["status"]["userInfo"]
    assert whoami == {"username": "alice", "uid": "u-1", "groups": ["devs", "system:authenticated"],
                      "extra": {"team": ["platform"]}}
    path, authorization, review = webhook.reviews[0]
    assert (path, authorization) == ("/authenticate", f"Bearer {HOOK_TOKEN}")
    assert review["apiVersion"] == "authentication.k8s.io/v1" and review["kind"] == "TokenReview"
    assert review["spec"] == {"token": "good-1", "audiences": [ISSUER]}

    assert status_of(server, "unknown") == 401  # authenticated false
    with http_client(server.admin) as http:  # certificates, and the server's own tokens, never reach it
        assert http.get("/api/v1/namespaces").status_code == 200
        http.post("/api/v1/namespaces/default/serviceaccounts", json={"metadata": {"name": "robot"}})
        made = http.post("/api/v1/namespaces/default/serviceaccounts/robot/token", json={"spec": {}})
    assert status_of(server, made.json()["status"]["token"]) == 200
    assert webhook.tokens() == ["good-1", "unknown"]


def test_answers_are_kept_for_the_cache_ttl(server, webhook):
    for _ in range(3):
        assert status_of(server, "good-2") == 200
        assert status_of(server, "nobody") == 401
    assert webhook.tokens() == ["good-2", "nobody"]  # both answers kept: one review each


def test_failures_to_answer_are_401_and_not_kept(server, webhook):
    # aws-iam-authenticator refuses with 403 and authenticated false: an error to the API server
    webhook.answer = lambda review: (403, {"apiVersion": review["apiVersion"], "kind": "TokenReview",
                                           "status": {"authenticated": False}})
    assert [status_of(server, "good-3") for _ in range(2)] == [401, 401]
    webhook.answer = lambda review: (200, {"status": {"authenticated": False, "error": "token expired"}})
    assert [status_of(server, "good-3") for _ in range(2)] == [401, 401]
    assert webhook.tokens() == ["good-3"] * 4
    webhook.answer = webhook.default  # not kept: once the webhook says yes, it is yes
    assert status_of(server, "good-3") == 200
    webhook.stop()
    assert status_of(server, "good-4") == 401  # unreachable


def test_transient_failures_are_retried(server, webhook):
    answers = iter([(500, {"message": "busy"}), (429, {"message": "slow down"})])
    webhook.answer = lambda review: next(answers, None) or webhook.default(review)
    assert status_of(server, "good-5") == 200
    assert webhook.tokens() == ["good-5"] * 3


def test_token_reviews_at_the_server_ask_the_webhook_for_their_audiences(server, webhook):
    webhook.answer = lambda review: (200, {"status": {"authenticated": True, "user": ALICE,
                                                      "audiences": ["other", "more"]}})
    assert status_of(server, "good-6") == 401  # good for other audiences than the server's
    with http_client(server.admin) as http:
        review = http.post("/apis/authentication.k8s.io/v1/tokenreviews", json={
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "spec": {"token": "good-6", "audiences": ["other"]}}).json()
    assert review["status"]["authenticated"] is True
    assert review["status"]["audiences"] == ["other"]
    assert review["status"]["user"]["username"] == "alice"
    assert webhook.reviews[-1][2]["spec"]["audiences"] == ["other"]


def test_a_webhook_config_that_cannot_be_read_stops_the_server(tmp_path):
    absent = str(tmp_path / "absent.conf")
    with pytest.raises(WebhookConfigError, match="absent.conf: no such file or directory"):
        ServerThread(str(tmp_path / "data"), controllers=False, authentication_token_webhook_config_file=absent).start()
    proc = subprocess.run([sys.executable, "-m", "timoneiro", "server", "--data-dir", str(tmp_path / "cli"),
                           "--address", "127.0.0.1:0", "--authentication-token-webhook-config-file", absent,
                           "--authentication-token-webhook-cache-ttl", "30s"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"Error: invalid authentication config: stat {absent}: no such file or directory"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_cache_ttl_for_successes_and_failures(webhook):
    clock = Clock()
    hook = WebhookTokenAuthenticator(ClientConfig(webhook.url, token=HOOK_TOKEN), (ISSUER,), 120, clock)
    assert (await hook.review("good-7", (ISSUER,))).user.name == "alice"
    assert (await hook.review("bad-7", (ISSUER,))).user is None
    clock.now += 119
    await hook.review("good-7", (ISSUER,))
    await hook.review("bad-7", (ISSUER,))
    assert webhook.tokens() == ["good-7", "bad-7"]
    await hook.review("good-7", ("another-audience",))  # another key
    assert webhook.tokens()[-1] == "good-7" and len(webhook.reviews) == 3
    clock.now += 2  # past the TTL: asked again
    await hook.review("good-7", (ISSUER,))
    await hook.review("bad-7", (ISSUER,))
    assert webhook.tokens() == ["good-7", "bad-7", "good-7", "good-7", "bad-7"]


async def test_no_cache_with_a_zero_ttl_and_one_call_for_concurrent_requests(webhook, tmp_path):
    config = webhook_kubeconfig(tmp_path / "hook.conf", webhook.url)
    uncached = WebhookTokenAuthenticator.from_file(config, (ISSUER,), cache_ttl=0)
    await uncached.review("good-8", (ISSUER,))
    await uncached.review("good-8", (ISSUER,))
    assert webhook.tokens() == ["good-8", "good-8"]
    cached = WebhookTokenAuthenticator.from_file(config, (ISSUER,))
    answers = await asyncio.gather(*(cached.review("good-9", (ISSUER,)) for _ in range(5)))
    assert {a.user.name for a in answers} == {"alice"}
    assert webhook.tokens().count("good-9") == 1


async def test_an_error_in_the_answer_is_unauthorized(webhook, tmp_path):
    webhook.answer = lambda review: (200, {"status": {"authenticated": False, "error": "signature mismatch"}})
    hook = WebhookTokenAuthenticator.from_file(webhook_kubeconfig(tmp_path / "hook.conf", webhook.url), (ISSUER,))
    with pytest.raises(Unauthorized, match="signature mismatch"):
        await hook.review("good-10", (ISSUER,))
