"""The CSR admission plugins, with kubectl as users who may write /approval or /status: approving needs
`approve` and issuing needs `sign` on the request's signer (by name or its domain's wildcard), and nobody,
not even a cluster admin, may ask kubernetes.io/kube-apiserver-client for a system:masters certificate."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bootstrap_testing import CSRS, node_rbac_server
from test_csr import as_user, request_for, server_cert_pem

SIGNER = "example.com/custom"  # a signer no controller here runs


@pytest.fixture
def server(tmp_path: Path):
    with node_rbac_server(tmp_path) as srv:
        yield srv


def grant(kubectl, name: str, user: str, *rules: dict) -> None:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
            "rules": list(rules)}
    kubectl("create", "-f", "-", input=json.dumps(role))
    kubectl("create", "clusterrolebinding", name, f"--clusterrole={name}", f"--user={user}")


def csr_rule(*resources: str, verbs: tuple[str, ...] = ("get", "update", "patch")) -> dict:
    return {"apiGroups": ["certificates.k8s.io"], "resources": list(resources), "verbs": list(verbs)}


def signer_rule(verb: str, name: str) -> dict:
    return {"apiGroups": ["certificates.k8s.io"], "resources": ["signers"], "verbs": [verb],
            "resourceNames": [name]}


def test_approving_needs_approve_on_the_signer(server, kubectl, api, tmp_path):
    grant(kubectl, "csr-approver", "jane",
          csr_rule("certificatesigningrequests", verbs=("get",)), csr_rule("certificatesigningrequests/approval"))
    jane = as_user(server, tmp_path, "jane")
    for name, signer in (("custom", SIGNER), ("other", "other.example/custom")):
        api.post(CSRS, request_for(name, name, signer=signer)[0])

    refused = jane.run("certificate", "approve", "custom", check=False)
    assert refused.returncode != 0
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): certificatesigningrequests.certificates.k8s.io "custom" is forbidden: '
        f'user not permitted to approve requests with signerName "{SIGNER}"')
    assert api.get(f"{CSRS}/custom")["status"] == {}

    grant(kubectl, "custom-approver", "jane", signer_rule("approve", SIGNER))
    assert jane("certificate", "approve", "custom").strip() == \
        "certificatesigningrequest.certificates.k8s.io/custom approved"
    assert [c["type"] for c in api.get(f"{CSRS}/custom")["status"]["conditions"]] == ["Approved"]
    # the permission names one signer: another of another domain stays out of reach, denying too
    refused = jane.run("certificate", "deny", "other", check=False)
    assert 'user not permitted to approve requests with signerName "other.example/custom"' in refused.stderr


def test_issuing_needs_sign_on_the_signer_or_its_domain(server, kubectl, api, tmp_path):
    api.post(CSRS, request_for("custom", "custom", signer=SIGNER)[0])
    kubectl("certificate", "approve", "custom")
    grant(kubectl, "csr-signer", "jane", csr_rule("certificatesigningrequests/status"),
          csr_rule("certificatesigningrequests", verbs=("get",)))
    jane = as_user(server, tmp_path, "jane")
    certificate = base64.b64encode(server_cert_pem()).decode()
    patch = ("patch", "csr", "custom", "--subresource=status", "--type=merge",
             "-p", json.dumps({"status": {"certificate": certificate}}))

    refused = jane.run(*patch, check=False)
    assert refused.returncode != 0
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): certificatesigningrequests.certificates.k8s.io "custom" is forbidden: '
        f'user not permitted to sign requests with signerName "{SIGNER}"')
    assert "certificate" not in api.get(f"{CSRS}/custom")["status"]

    grant(kubectl, "example-signer", "jane", signer_rule("sign", "example.com/*"))
    jane(*patch)
    assert api.get(f"{CSRS}/custom")["status"]["certificate"] == certificate
    # /status writes by someone without `sign`: unchanged is fine, a new condition is the signer's to add
    grant(kubectl, "status-writer", "bob", csr_rule("certificatesigningrequests/status"),
          csr_rule("certificatesigningrequests", verbs=("get",)))
    bob = as_user(server, tmp_path, "bob")
    current = api.get(f"{CSRS}/custom")
    bob("replace", "--subresource=status", "-f", "-", input=json.dumps(current))
    failed = {"type": "Failed", "status": "True", "reason": "Bob", "message": "no"}
    conditions = {"status": {"conditions": [*current["status"]["conditions"], failed]}}
    refused = bob.run("patch", "csr", "custom", "--subresource=status", "--type=merge",
                      "-p", json.dumps(conditions), check=False)
    assert f'user not permitted to sign requests with signerName "{SIGNER}"' in refused.stderr
    assert api.get(f"{CSRS}/custom")["status"] == current["status"]

def test_no_system_masters_certificates_from_the_apiserver_client_signer(kubectl, api):
    root, _ = request_for("root", "root", ("devs", "system:masters"))
    refused = kubectl.run("create", "-f", "-", input=json.dumps(root), check=False)
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": certificatesigningrequests.certificates.k8s.io '
        '"root" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is '
        "not allowed")
    assert api.request("GET", f"{CSRS}/root", ok=(404,))["reason"] == "NotFound"
    # the same subject for another signer, or another group for this one, is for its approver to judge
    api.post(CSRS, request_for("custom-root", "root", ("system:masters",), signer=SIGNER)[0])
    api.post(CSRS, request_for("devs", "dev", ("devs",))[0])
