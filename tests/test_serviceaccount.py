"""The default ServiceAccount in every namespace, and the root CA ConfigMap when there is a cluster CA."""

from __future__ import annotations

from controller_testing import eventually
from timoneiro.controllers.rootca import DESCRIPTION_ANNOTATION


def test_every_namespace_gets_a_default_service_account(api, kubectl):
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        eventually(lambda ns=ns: api.exists(f"/api/v1/namespaces/{ns}/serviceaccounts/default"))
    kubectl("create", "namespace", "team")
    eventually(lambda: "serviceaccount/default" in kubectl("get", "serviceaccounts", "-n", "team", "-o", "name"))
    uid = api.get("/api/v1/namespaces/team/serviceaccounts/default")["metadata"]["uid"]
    kubectl("delete", "serviceaccount", "default", "-n", "team")
    again = eventually(lambda: api.get("/api/v1/namespaces/team/serviceaccounts/default", ok=(404,)).get("metadata"))
    assert again["uid"] != uid
    # the controller makes no other accounts
    assert kubectl("get", "serviceaccounts", "-n", "team", "-o", "name").split() == ["serviceaccount/default"]


def test_root_ca_is_published_in_every_namespace(api, server):
    """The controller manager trusts the cluster CA, and publishes it, putting it back if changed."""
    pem = server.admin.ca_data.decode()
    api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    path = "/api/v1/namespaces/apps/configmaps/kube-root-ca.crt"
    cm = eventually(lambda: api.get(path, ok=(404,)).get("data"))
    assert cm == {"ca.crt": pem}
    assert "kubernetes.default.svc" in api.get(path)["metadata"]["annotations"][DESCRIPTION_ANNOTATION]
    api.patch(path, {"data": {"ca.crt": "tampered"}})
    eventually(lambda: api.get(path)["data"] == {"ca.crt": pem})
    api.delete(path)
    eventually(lambda: api.get(path, ok=(404,)).get("data") == {"ca.crt": pem})
    assert api.get("/api/v1/namespaces/kube-system/configmaps/kube-root-ca.crt")["data"] == {"ca.crt": pem}
