"""--token-auth-file: static bearer tokens from a CSV file, used with kubectl --token and reviewed with
TokenReview; a bad file stops the server with upstream's words."""

from __future__ import annotations

import subprocess
import sys

import pytest
from kubernetes import client as k8s

from conftest import Kubectl
from test_serviceaccount_tokens import ISSUER, review
from timoneiro.apiserver.authn.tokenfile import TokenFileError, load_token_file
from timoneiro.apiserver.server import ServerThread, free_port
from timoneiro.client import ClientConfig

TOKENS = 'jane-token,jane,1001,"devs,ops"\nbob-token,bob,1002\n'


@pytest.fixture
def server(tmp_path):
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(TOKENS)
    srv = ServerThread(str(tmp_path / "data"), controllers=False, token_auth_file=str(tokens)).start()
    yield srv
    srv.stop()


def test_kubectl_with_a_static_token(server, tmp_path):
    kubectl = Kubectl(tmp_path, ClientConfig(server=server.url, ca_data=server.admin.ca_data))
    forbidden = kubectl.run("--token", "jane-token", "get", "configmaps", check=False)
    assert 'User "jane" cannot list resource "configmaps"' in forbidden.stderr
    (tmp_path / "admin").mkdir()
    admin = Kubectl(tmp_path / "admin", server.admin)
    admin("create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps")
    admin("create", "rolebinding", "devs-read", "--role=cm-reader", "--group=devs")
    assert "No resources found" in kubectl.run("--token", "jane-token", "get", "configmaps").stderr
    refused = kubectl.run("--token", "nobody-token", "get", "configmaps", check=False)
    assert refused.returncode != 0 and "Unauthorized" in refused.stderr


def test_token_review_of_static_tokens(server):
    jane = review(server, "jane-token")
    assert jane.authenticated and jane.audiences == [ISSUER]
    assert jane.user == k8s.V1UserInfo(username="jane", uid="1001", groups=["devs", "ops", "system:authenticated"])
    bob = review(server, "bob-token").user
    assert (bob.username, bob.groups) == ("bob", ["system:authenticated"])
    elsewhere = review(server, "jane-token", ["vault"])  # audience-agnostic: valid for the server's own only
    assert not elsewhere.authenticated and elsewhere.error == "invalid bearer token"


@pytest.mark.parametrize(("text", "error"), [
    ("t,u\n", "token file '{path}' must have at least 3 columns (token, user name, user uid), found 2"),
    ('t,u"x,1\n', 'parse error on line 1, column 4: bare " in non-quoted-field'),
    ('t,u,1,"g1,g2\n', 'parse error on line 1, column 14: extraneous or missing " in quoted-field'),
    ('t,u,1,"g1\ng2\n', 'record on line 1; parse error on line 2, column 4: extraneous or missing " in quoted-field'),
    ('t,u,1\n"a"b,u,2\n', 'parse error on line 2, column 3: extraneous or missing " in quoted-field'),
])
def test_bad_token_files_are_refused_with_upstreams_messages(tmp_path, text, error):
    path = tmp_path / "tokens.csv"
    path.write_text(text)
    with pytest.raises(TokenFileError) as e:
        load_token_file(str(path))
    assert str(e.value) == error.format(path=path)


def test_blank_and_empty_token_lines_are_skipped_and_a_later_duplicate_wins(tmp_path):
    path = tmp_path / "tokens.csv"
    path.write_text('\r\n,nobody,0\nt,first,1\n\nt,second,2,\n')
    users = load_token_file(str(path))
    assert list(users) == ["t"] and users["t"].name == "second"
    assert users["t"].groups == ("", "system:authenticated")  # strings.Split("", ",") is [""]


def test_server_refuses_to_start_without_its_token_file(tmp_path):
    missing = tmp_path / "missing.csv"
    run = subprocess.run([sys.executable, "-m", "timoneiro", "server", "--data-dir", str(tmp_path / "data"),
                          "--address", f"127.0.0.1:{free_port()}", "--token-auth-file", str(missing)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert f"Error: invalid authentication config: open {missing}: no such file or directory" in run.stderr
