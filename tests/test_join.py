"""Bootstrap tokens and `timoneiro join`, as kubeadm's users work with them: `timoneiro token` against a
running server (Node,RBAC), tokens authenticating until deleted or expired, cluster-info signed with each
signing token, a second process joining as a node whose kubelet gets Ready with a certificate the cluster
CA signed, a wrong CA hash refused before the token is ever sent, and `timoneiro up` printing the join
command a worker then joins with."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from bootstrap_testing import CSRS, node_rbac_server
from conftest import Kubectl
from controller_testing import eventually, http_client
from timoneiro.apiserver.authn import Unauthorized, bearer_token
from timoneiro.apiserver.authn.bootstrap import BootstrapTokenAuthenticator
from timoneiro.apiserver.server import ServerThread
from timoneiro.client import ClientConfig
from timoneiro.client.kubeconfig import load_kubeconfig
from timoneiro.pki import bootstrap_token as bt
from timoneiro.pki import certs
from timoneiro.pki.cluster import read_kubeconfig_pair

TOKEN = "abcdef.0123456789abcdef"
SECRETS = "/api/v1/namespaces/kube-system/secrets"
CLUSTER_INFO = "/api/v1/namespaces/kube-public/configmaps/cluster-info"


@pytest.fixture
def server(tmp_path: Path):
    with node_rbac_server(tmp_path) as srv:
        yield srv


@pytest.fixture
def processes():
    """Processes a test starts, killed by pid at its end whatever happened."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def timoneiro(tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "kc")}
    proc = subprocess.run([sys.executable, "-m", "timoneiro", *args], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"timoneiro {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}{proc.stderr}")
    return proc


def start_join(tmp_path: Path, processes: list, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "timoneiro", "join", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, "HOME": str(tmp_path)})
    processes.append(proc)
    return proc


def with_token(server: ServerThread, tmp_path: Path, token: str) -> Kubectl:
    home = tmp_path / f"home-{token[:6]}"
    home.mkdir(exist_ok=True)
    return Kubectl(home, ClientConfig(server.url, ca_data=server.api.pki.ca_pem, token=token))


def status_with_token(server: ServerThread, token: str) -> int:
    with http_client(ClientConfig(server.url, ca_data=server.api.pki.ca_pem, token=token)) as http:
        return http.get("/api/v1/namespaces/default/pods").status_code


def test_token_create_list_delete(server, tmp_path):
    data = server.data_dir
    created = timoneiro(tmp_path, "token", "create", TOKEN, "--ttl", "2h", "--description", "for-tests",
                        "--data-dir", data)
    assert created.stdout == f"{TOKEN}\n"
    again = timoneiro(tmp_path, "token", "create", TOKEN, "--data-dir", data, check=False)
    assert again.returncode == 1 and again.stderr == 'a token with id "abcdef" already exists\n'

    listing = timoneiro(tmp_path, "token", "list", "--data-dir", data).stdout.splitlines()
    assert re.split(r" {3,}", listing[0]) == ["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION",
                                              "EXTRA GROUPS"]
    row = next(line.split() for line in listing if line.startswith(TOKEN))
    assert row[1] == "1h" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[2])
    assert row[3:] == ["authentication,signing", "for-tests", bt.NODE_GROUP]

    whoami = with_token(server, tmp_path, TOKEN)("auth", "whoami", "-o", "json")
    who = json.loads(whoami)["status"]["userInfo"]
    assert who["username"] == "system:bootstrap:abcdef"
    assert who["groups"] == ["system:bootstrappers", bt.NODE_GROUP, "system:authenticated"]

    deleted = timoneiro(tmp_path, "token", "delete", TOKEN, "--data-dir", data)
    assert deleted.stdout == 'bootstrap token "abcdef" deleted\n'
    refused = with_token(server, tmp_path, TOKEN).run("auth", "whoami", check=False)
    assert refused.returncode == 1 and "Unauthorized" in refused.stderr
    assert status_with_token(server, TOKEN) == 401

    generated = timoneiro(tmp_path, "token", "generate").stdout.strip()
    assert bt.parse(generated) is not None
    assert generated != timoneiro(tmp_path, "token", "generate").stdout.strip()
    bad = timoneiro(tmp_path, "token", "create", "--groups", "devs", "--data-dir", data, check=False)
    assert bad.returncode == 1 and bad.stderr.startswith('bootstrap group "devs" is invalid')


def test_tokens_that_may_not_authenticate_get_401(server, api):
    tokens = {
        "expird.0123456789abcdef": bt.token_secret("expird.0123456789abcdef", ttl=timedelta(seconds=-1)),
        "noauth.0123456789abcdef": bt.token_secret("noauth.0123456789abcdef", usages=("signing",), groups=()),
        "badgrp.0123456789abcdef": bt.token_secret("badgrp.0123456789abcdef"),
        "wrongs.0123456789abcdef": bt.token_secret("wrongs.fedcba9876543210"),
    }
    tokens["badgrp.0123456789abcdef"]["data"][bt.GROUPS_KEY] = base64.b64encode(b"devs").decode()
    for secret in tokens.values():
        api.post(SECRETS, secret)
    good = "goodto.0123456789abcdef"
    api.post(SECRETS, bt.token_secret(good))
    assert status_with_token(server, good) == 403  # authenticated, and RBAC gives bootstrap tokens no pods
    for token in tokens:
        assert status_with_token(server, token) == 401, token
    # the token cleaner deletes the expired one, and only it
    eventually(lambda: not api.exists(f"{SECRETS}/bootstrap-token-expird"))
    assert api.exists(f"{SECRETS}/bootstrap-token-noauth") and api.exists(f"{SECRETS}/bootstrap-token-goodto")


def test_only_bootstrap_shaped_tokens_are_judged(server):
    authenticator = BootstrapTokenAuthenticator(server.api.cache)

    def request(token: str) -> SimpleNamespace:
        return SimpleNamespace(headers={"authorization": f"Bearer {token}"})

    assert bearer_token(request("a.b")) == "a.b"
    assert authenticator.authenticate(request("eyJhbGciOiJSUzI1NiJ9.e30.sig")) is None  # not ours: next one
    with pytest.raises(Unauthorized):
        authenticator.authenticate(request("zzzzzz.0123456789abcdef"))  # ours, and no such token


def test_cluster_info_is_signed_with_each_signing_token(server, api):
    anonymous = http_client(ClientConfig(server.url, ca_data=server.api.pki.ca_pem))
    cm = anonymous.get(CLUSTER_INFO).json()  # readable without credentials, as joining nodes read it
    cluster = yaml.safe_load(cm["data"]["kubeconfig"])["clusters"][0]["cluster"]
    assert cluster["server"] == server.url
    assert base64.b64decode(cluster["certificate-authority-data"]) == server.api.pki.ca_pem
    assert anonymous.get("/api/v1/namespaces/kube-public/configmaps").status_code == 401
    anonymous.close()

    signing, other = "sign01.0123456789abcdef", "sign02.abcdefghijklmnop"
    auth_only = "auth01.0123456789abcdef"
    for token, usages in ((signing, bt.USAGES), (other, ("signing",)), (auth_only, ("authentication",))):
        api.post(SECRETS, bt.token_secret(token, usages=usages, groups=() if usages == ("signing",) else
                                          (bt.NODE_GROUP,)))
    data = eventually(lambda: (d := api.get(CLUSTER_INFO)["data"]) and
                      {"jws-kubeconfig-sign01", "jws-kubeconfig-sign02"} <= set(d) and d)
    assert "jws-kubeconfig-auth01" not in data
    for token in (signing, other):
        token_id, secret = bt.parse(token)
        signature = data[f"jws-kubeconfig-{token_id}"]
        assert bt.signature_valid(signature, data["kubeconfig"], token_id, secret)
        assert not bt.signature_valid(signature, data["kubeconfig"], token_id, "0" * 16)

    api.delete(f"{SECRETS}/bootstrap-token-sign01")
    eventually(lambda: "jws-kubeconfig-sign01" not in api.get(CLUSTER_INFO)["data"])
    assert "jws-kubeconfig-sign02" in api.get(CLUSTER_INFO)["data"]


def join_args(server: ServerThread, token: str, ca_hash: str, node: str, data: Path) -> list[str]:
    return [f"127.0.0.1:{server.port}", "--token", token, "--discovery-token-ca-cert-hash", ca_hash,
            "--node-name", node, "--data-dir", str(data)]


def test_join_makes_a_ready_node(server, kubectl, api, tmp_path, processes):
    command = timoneiro(tmp_path, "token", "create", "--print-join-command",
                        "--data-dir", server.data_dir).stdout
    words = command.split()
    assert words[:3] == ["timoneiro", "join", f"127.0.0.1:{server.port}"]
    token, ca_hash = words[4], words[6]
    assert ca_hash == certs.public_key_hash(server.api.pki.ca.cert)

    node_dir = tmp_path / "worker"
    join = start_join(tmp_path, processes, *join_args(server, token, ca_hash, "worker-1", node_dir))
    eventually(lambda: "worker-1   Ready" in kubectl("get", "nodes"), timeout=60)

    pair = read_kubeconfig_pair(str(node_dir / "kubelet.conf"))
    assert certs.common_name(pair.cert) == "system:node:worker-1"
    assert certs.organizations(pair.cert) == ["system:nodes"]
    ca = server.api.pki.ca.cert
    assert pair.cert.issuer == ca.subject
    ca.public_key().verify(pair.cert.signature, pair.cert.tbs_certificate_bytes,
                           ec.ECDSA(pair.cert.signature_hash_algorithm))
    usages = pair.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [x509.ExtendedKeyUsageOID.CLIENT_AUTH]

    request = next(c for c in api.get(CSRS)["items"]
                   if c["spec"]["username"] == f"system:bootstrap:{token[:6]}")
    assert request["metadata"]["name"].startswith("node-csr-")
    assert request["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
    approved = request["status"]["conditions"][0]
    assert (approved["type"], approved["reason"], approved["message"]) == (
        "Approved", "AutoApproved", "Auto approving kubelet client certificate after SubjectAccessReview.")

    join.send_signal(signal.SIGTERM)
    out, err = join.communicate(timeout=60)
    assert join.returncode == 0, err
    assert out.startswith("[preflight] Running pre-flight checks\n")
    assert "This node has joined the cluster:" in out


def test_wrong_hash_is_refused_before_the_token_is_sent(server, api, tmp_path, processes):
    seen: list[tuple[str, str | None]] = []

    class Recorder:
        """First in the chain: notes what each request carried, then lets the others decide."""

        def authenticate(self, req):
            seen.append((req.path, bearer_token(req)))
            return None

    server.api.authentication.authenticators.insert(0, Recorder())
    api.post(SECRETS, bt.token_secret(TOKEN))
    eventually(lambda: "jws-kubeconfig-abcdef" in api.get(CLUSTER_INFO)["data"])
    wrong = "sha256:" + "0" * 64
    join = start_join(tmp_path, processes, *join_args(server, TOKEN, wrong, "intruder", tmp_path / "n"))
    _, err = join.communicate(timeout=120)
    real = certs.public_key_hash(server.api.pki.ca.cert)
    assert join.returncode == 1
    assert err == ("error execution phase preflight: couldn't validate the identity of the API Server: "
                   "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "
                   f'"{real}" are pinned\n')
    assert (CLUSTER_INFO, None) in seen  # it did ask, anonymously
    assert all(token != TOKEN for _, token in seen)
    assert api.get(CSRS)["items"] == [] and not (tmp_path / "n" / "kubelet.conf").exists()


def test_up_prints_the_join_command_a_worker_joins_with(tmp_path, processes):
    data = tmp_path / "cluster"
    try:
        up = timoneiro(tmp_path, "up", "--name", "joined", "--nodes", "1", "--data-dir", str(data))
        match = re.search(r"Then you can join any number of worker nodes by running the following on "
                          r"each:\n\n(timoneiro join \S+ --token \S+) \\\n\s+"
                          r"(--discovery-token-ca-cert-hash sha256:\w+)", up.stderr)
        assert match, up.stderr
        args = (match.group(1) + " " + match.group(2)).split()[2:]
        start_join(tmp_path, processes, *args, "--node-name", "late-worker",
                   "--data-dir", str(tmp_path / "late"))
        home = tmp_path / "home-admin"
        home.mkdir()
        kubectl = Kubectl(home, load_kubeconfig(str(data / "admin.conf")))
        rows = eventually(lambda: [r.split() for r in kubectl("get", "nodes").splitlines()
                                   if "late-worker" in r and " Ready " in r], timeout=60)
        assert rows[0][2] == "<none>"
        description = kubectl("get", "secrets", "-n", "kube-system", "--field-selector",
                              f"type={bt.SECRET_TYPE}", "-o", "json")
        assert "The default bootstrap token generated by 'timoneiro up'." in {
            base64.b64decode(s["data"]["description"]).decode() for s in json.loads(description)["items"]}
    finally:
        timoneiro(tmp_path, "down", "--name", "joined", "--data-dir", str(data), check=False)
