"""HTTPS and client-certificate authentication, with the real kubectl: the kubeconfigs the server writes
work; no credentials, a wrong CA, an expired or foreign-signed certificate fail as upstream fails them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import ssl
import stat
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from conftest import Kubectl
from timoneiro.apiserver.server import ServerThread
from timoneiro.client import ClientConfig
from timoneiro.pki import certs
from timoneiro.pki.cluster import ClusterPKI

# what kubectl 1.32 prints when its discovery requests get 401
LOGGED_OUT = "error: You must be logged in to the server (the server has asked for the client to provide credentials)"
UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


@pytest.fixture
def server(tmp_path):
    srv = ServerThread(str(tmp_path / "data"), controllers=False).start()
    yield srv
    srv.stop()


def kubectl_as(tmp_path, name: str, config: ClientConfig) -> Kubectl:
    home = tmp_path / name
    home.mkdir()
    return Kubectl(home, config)


def anonymous(server: ServerThread) -> httpx.Client:
    """Trusts the cluster CA, presents no certificate."""
    return httpx.Client(base_url=server.url, verify=ssl.create_default_context(cadata=server.admin.ca_data.decode()))


def test_the_admin_kubeconfig_works_and_names_its_user(server, tmp_path):
    kubectl = kubectl_as(tmp_path, "admin", server.admin)
    assert kubectl("get", "namespace", "kube-system", "-o", "name") == "namespace/kube-system\n"
    cert = x509.load_pem_x509_certificate(server.admin.cert_data)
    assert certs.common_name(cert) == "kubernetes-admin"
    assert certs.organizations(cert) == ["kubeadm:cluster-admins"]


def test_no_credentials_is_unauthorized_but_health_and_version_are_open(server, tmp_path):
    with anonymous(server) as http:
        for path in ("/healthz", "/livez", "/readyz", "/version"):
            assert http.get(path).status_code == 200, path
        for path in ("/api", "/api/v1/namespaces/default/pods", "/apis", "/openapi/v2"):
            r = http.get(path)
            assert (r.status_code, r.json()) == (401, UNAUTHORIZED), path
        assert http.post("/api/v1/namespaces/default/configmaps", json={}).status_code == 401
        # credentials no authenticator accepts are not anonymous, even where anonymous requests may go
        assert http.get("/healthz", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    # (kubectl with no credentials at all asks for a username on its terminal, as upstream's does)
    wrong = kubectl_as(tmp_path, "wrong", dataclasses.replace(server.admin, cert_data=None, key_data=None,
                                                              token="not-a-token"))
    proc = wrong.run("get", "pods", check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == LOGGED_OUT


def test_a_wrong_ca_is_refused_by_kubectl(server, tmp_path):
    other = certs.new_ca("someone-else")
    stranger = kubectl_as(tmp_path, "stranger", dataclasses.replace(server.admin, ca_data=other.cert_pem))
    proc = stranger.run("get", "pods", check=False)
    assert proc.returncode == 1
    assert "x509: certificate signed by unknown authority" in proc.stderr


def test_an_expired_client_certificate_is_unauthorized(server, tmp_path):
    now = dt.datetime.now(dt.UTC)
    config = server.user("jane", not_before=now - dt.timedelta(days=2), not_after=now - dt.timedelta(days=1))
    proc = kubectl_as(tmp_path, "expired", config).run("get", "pods", check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == LOGGED_OUT


@pytest.mark.parametrize("how", ["another CA", "not for clients"])
def test_a_certificate_from_another_ca_or_not_for_clients_never_gets_a_request_through(server, how):
    """Refused during the TLS handshake (upstream answers 401; see ClusterPKI.server_context)."""
    if how == "another CA":
        pair = certs.issue(certs.new_ca("kubernetes"), "jane", ("system:masters",), client=True)
    else:
        pair = certs.issue(server.api.pki.ca, "impostor", ("system:masters",), server=True, dns=["impostor"])
    config = dataclasses.replace(server.admin, cert_data=pair.cert_pem, key_data=pair.key_pem)
    with httpx.Client(base_url=server.url, verify=config.ssl_context()) as http, \
            pytest.raises((httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)):
        http.post("/api/v1/namespaces", json={"metadata": {"name": "intruded"}})
    assert server.api.cache.get("/core/namespaces/intruded") is None


def test_the_serving_certificate_names_the_service_and_the_address(server, tmp_path):
    cert = x509.load_pem_x509_certificate(Path(os.path.join(server.data_dir, "pki", "apiserver.crt")).read_bytes())
    dns, ips = certs.subject_alt_names(cert)
    assert {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local", "localhost"} <= set(dns)
    assert {"10.96.0.1", "127.0.0.1"} <= set(ips)
    # kubectl checks the name it dials: "localhost" is in the certificate as well as 127.0.0.1
    by_name = kubectl_as(tmp_path, "by-name", dataclasses.replace(server.admin,
                                                                  server=server.url.replace("127.0.0.1", "localhost")))
    assert by_name("get", "ns", "default", "-o", "name") == "namespace/default\n"


def test_pki_files_are_private_and_survive_a_restart(tmp_path):
    data = str(tmp_path / "data")
    srv = ServerThread(data, controllers=False).start()
    port, admin = srv.port, srv.admin
    srv.stop()
    for root, _, files in os.walk(os.path.join(data, "pki")):
        for f in files:
            assert stat.S_IMODE(os.stat(os.path.join(root, f)).st_mode) == 0o600, f
    for conf in ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"):
        assert stat.S_IMODE(os.stat(os.path.join(data, conf)).st_mode) == 0o600, conf
    srv = ServerThread(data, port=port, controllers=False).start()
    try:
        assert srv.admin.ca_data == admin.ca_data and srv.admin.cert_data == admin.cert_data
        kubectl = kubectl_as(tmp_path, "again", admin)  # the kubeconfig from before the restart
        assert kubectl("get", "ns", "default", "-o", "name") == "namespace/default\n"
    finally:
        srv.stop()


def test_the_serving_certificate_is_reissued_for_a_new_address(tmp_path):
    pki = ClusterPKI(str(tmp_path))
    pki.ensure("https://127.0.0.1:6443")
    first = Path(pki.path("apiserver.crt")).read_bytes()
    pki.ensure("https://127.0.0.1:6443")
    assert Path(pki.path("apiserver.crt")).read_bytes() == first
    pki.ensure("https://127.0.0.2:6443", ("api.example.test",))
    cert = x509.load_pem_x509_certificate(Path(pki.path("apiserver.crt")).read_bytes())
    dns, ips = certs.subject_alt_names(cert)
    assert "127.0.0.2" in ips and "api.example.test" in dns
    assert x509.load_pem_x509_certificate(Path(pki.path("ca.crt")).read_bytes()) == pki.ca.cert
