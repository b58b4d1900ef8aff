"""CertificateSigningRequests as users and kubectl see them, on a server that authorizes with Node,RBAC: who
asked is recorded from the request, /approval and /status each change their part only, kubectl approves
and denies, the signer issues certificates (for as long as asked) that then authenticate, and refuses
what its signer may not sign."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from bootstrap_testing import CSRS, node_rbac_server
from conftest import Kubectl
from controller_testing import Api, eventually
from timoneiro.apiserver.server import ServerThread
from timoneiro.client import ClientConfig
from timoneiro.pki import certs, csr


@pytest.fixture
def server(tmp_path: Path):
    with node_rbac_server(tmp_path) as srv:
        yield srv


def request_for(name: str, cn: str, orgs: tuple[str, ...] = (), *, signer: str = csr.APISERVER_CLIENT_SIGNER,
                usages: tuple[str, ...] = ("client auth",), key=None, **spec) -> tuple[dict, object]:
    key = key or certs.new_key()
    pem = csr.new_request(key, cn, orgs)
    body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": base64.b64encode(pem).decode(), "signerName": signer, "usages": list(usages),
                     **spec}}
    return body, key


def issued(api: Api, name: str) -> x509.Certificate:
    pem = eventually(lambda: api.get(f"{CSRS}/{name}")["status"].get("certificate"))
    return x509.load_pem_x509_certificate(base64.b64decode(pem))


def as_user(server: ServerThread, tmp_path: Path, name: str, *groups: str) -> Kubectl:
    home = tmp_path / f"home-{name}"
    home.mkdir()
    return Kubectl(home, server.user(name, *groups))


def test_kubectl_approve_issues_a_certificate_that_authenticates(server, kubectl, api, tmp_path):
    kubectl("create", "clusterrole", "csr-creator", "--verb=create,get",
            "--resource=certificatesigningrequests")
    kubectl("create", "clusterrolebinding", "jane-csr", "--clusterrole=csr-creator", "--user=jane")
    jane = as_user(server, tmp_path, "jane", "team-a")
    body, key = request_for("alice", "alice", ("devs",), username="mallory", groups=["system:masters"])
    assert jane("create", "-f", "-", input=json.dumps(body)).strip() == \
        "certificatesigningrequest.certificates.k8s.io/alice created"

    stored = api.get(f"{CSRS}/alice")
    assert stored["spec"]["username"] == "jane"  # from the request's user, whatever the body said
    assert stored["spec"]["groups"] == ["team-a", "system:authenticated"]
    assert stored["status"] == {}
    table = kubectl("get", "csr").splitlines()
    assert table[0].split() == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]
    assert table[1].split()[2:] == ["kubernetes.io/kube-apiserver-client", "jane", "<none>", "Pending"]

    assert kubectl("certificate", "approve", "alice").strip() == \
        "certificatesigningrequest.certificates.k8s.io/alice approved"
    cert = issued(api, "alice")
    assert certs.common_name(cert) == "alice" and certs.organizations(cert) == ["devs"]
    assert cert.issuer == server.api.pki.ca.cert.subject
    condition = api.get(f"{CSRS}/alice")["status"]["conditions"][0]
    assert (condition["type"], condition["reason"]) == ("Approved", "KubectlApprove")
    assert condition["lastUpdateTime"] and condition["lastTransitionTime"]
    eventually(lambda: kubectl("get", "csr", "alice").splitlines()[1].split()[-1] == "Approved,Issued")

    key_pem = certs.KeyPair(cert, key).key_pem
    home = tmp_path / "home-alice"
    home.mkdir()
    alice = Kubectl(home, ClientConfig(server.url, ca_data=server.api.pki.ca_pem,
                                       cert_data=base64.b64decode(api.get(f"{CSRS}/alice")["status"]["certificate"]),
                                       key_data=key_pem))
    who = json.loads(alice("auth", "whoami", "-o", "json"))["status"]["userInfo"]
    assert who["username"] == "alice" and who["groups"] == ["devs", "system:authenticated"]


def test_kubectl_deny(kubectl, api):
    body, _ = request_for("bob", "bob")
    api.post(CSRS, body)
    kubectl("certificate", "deny", "bob")
    condition = api.get(f"{CSRS}/bob")["status"]["conditions"][0]
    assert (condition["type"], condition["status"], condition["reason"]) == ("Denied", "True", "KubectlDeny")
    assert kubectl("get", "csr", "bob").splitlines()[1].split()[-1] == "Denied"
    assert "certificate" not in api.get(f"{CSRS}/bob")["status"]


def test_expiration_seconds_bound_the_certificate(api):
    for name, seconds, lasts in (("hour", 3600, timedelta(hours=1)), ("short", 600, timedelta(minutes=10)),
                                 ("long", 10 * 365 * 86400, timedelta(days=365) - timedelta(minutes=5))):
        body, _ = request_for(name, name, expirationSeconds=seconds)
        api.post(CSRS, body)
        csr_obj = api.get(f"{CSRS}/{name}")
        csr_obj["status"]["conditions"] = [{"type": "Approved", "status": "True", "reason": "Test"}]
        api.put(f"{CSRS}/{name}/approval", csr_obj)
        cert = issued(api, name)
        # backdated five minutes; a short certificate keeps its whole duration after that
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == lasts + timedelta(minutes=5)


def test_signer_fails_what_it_may_not_sign(api, kubectl):
    body, _ = request_for("not-a-node", "someone", ("devs",), signer=csr.KUBELET_CLIENT_SIGNER,
                          usages=("digital signature", "client auth"))
    api.post(CSRS, body)
    kubectl("certificate", "approve", "not-a-node")
    failed = eventually(lambda: [c for c in api.get(f"{CSRS}/not-a-node")["status"].get("conditions", [])
                                 if c["type"] == "Failed"])
    assert (failed[0]["reason"], failed[0]["message"]) == ("SignerValidationFailure",
                                                           "subject organization is not system:nodes")
    assert kubectl("get", "csr", "not-a-node").splitlines()[1].split()[-1] == "Approved,Failed"


def test_requests_are_validated(api):
    body, _ = request_for("bad", "x", usages=(), expirationSeconds=60)
    body["spec"]["request"] = base64.b64encode(b"not a request").decode()
    status = api.post(CSRS, body, ok=(422,))
    causes = {(c["field"], c["message"]) for c in status["details"]["causes"]}
    assert ("spec.usages", "Required value") in causes
    assert ("spec.expirationSeconds", "Invalid value: 60: may not specify a duration less than 600 seconds "
                                      "(10 minutes)") in causes
    assert any(f == "spec.request" and m.endswith("PEM block type must be CERTIFICATE REQUEST")
               for f, m in causes)

    body, _ = request_for("unknown-usage", "x", usages=("client auth", "client auth", "flying"),
                          signer="kubernetes.io/legacy-unknown")
    causes = {(c["field"], c["message"]) for c in api.post(CSRS, body, ok=(422,))["details"]["causes"]}
    assert ("spec.usages[1]", 'Duplicate value: "client auth"') in causes
    assert ("spec.signerName", 'Invalid value: "kubernetes.io/legacy-unknown": the legacy signerName is not '
                               "allowed via this API version") in causes
    assert any(f == "spec.usages[2]" and m.startswith('Unsupported value: "flying": supported values: "any"')
               for f, m in causes)


def test_each_endpoint_changes_its_part_only(api):
    body, _ = request_for("parts", "parts", signer="example.com/custom")  # a signer nobody here runs
    api.post(CSRS, body)
    current = api.get(f"{CSRS}/parts")

    # the main resource: spec and status are kept as they were
    changed = json.loads(json.dumps(current))
    changed["spec"]["usages"] = ["server auth"]
    changed["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Sneaky"}]}
    changed["metadata"]["labels"] = {"team": "a"}
    after = api.put(f"{CSRS}/parts", changed)
    assert after["spec"] == current["spec"] and after["status"] == {}
    assert after["metadata"]["labels"] == {"team": "a"}

    # /status may not approve
    approved_condition = {"type": "Approved", "status": "True", "reason": "Sneaky"}
    approve = {**after, "status": {"conditions": [approved_condition]}}
    refused = api.request("PUT", f"{CSRS}/parts/status", approve, ok=(422,))
    assert 'status.conditions: Forbidden: updates may not add a condition of type "Approved"' in \
        refused["message"]

    # /approval approves, and sets nothing else
    approve["status"]["certificate"] = base64.b64encode(server_cert_pem()).decode()
    approved = api.put(f"{CSRS}/parts/approval", approve)
    assert [c["type"] for c in approved["status"]["conditions"]] == ["Approved"]
    assert "certificate" not in approved["status"]

    # a lasting condition is never removed
    approved["status"]["conditions"] = []
    refused = api.request("PUT", f"{CSRS}/parts/approval", approved, ok=(422,))
    assert 'updates may not remove a condition of type "Approved"' in refused["message"]


def server_cert_pem() -> bytes:
    return certs.issue(certs.new_ca("other"), "x").cert_pem
