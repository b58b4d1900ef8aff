"""A pod's projected service-account token, obtained as upstream's kubelet obtains it for the pod's
kube-api-access volume: the node asks TokenRequest, as itself, for a token bound to the pod (Node
authorizer, then NodeRestriction). kubectl with that token has the service account's permissions, and
the token stops working when the pod is deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from admission_testing import server_without_controllers
from conftest import Kubectl
from controller_testing import Api
from timoneiro.client import ClientConfig

TOKENS = "/api/v1/namespaces/default/serviceaccounts/default/token"
LOGGED_OUT = "error: You must be logged in to the server (Unauthorized)"  # kubectl, its discovery cached


@pytest.fixture
def server(tmp_path: Path):
    with server_without_controllers(tmp_path, "default") as srv:  # Node,RBAC
        yield srv


def pod(name: str, node: str) -> dict:
    return {"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]}}


def token_source(pod: dict) -> dict:
    """The serviceAccountToken projection the ServiceAccount admission plugin gave the pod."""
    volume = next(v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-"))
    return next(s["serviceAccountToken"] for s in volume["projected"]["sources"] if "serviceAccountToken" in s)


def kubelet_request(pod: dict, **ref) -> dict:
    """The TokenRequest upstream's kubelet sends for a projected token (pkg/volume/projected)."""
    source = token_source(pod)
    bound = {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"], **ref}
    spec = {"expirationSeconds": source["expirationSeconds"], "boundObjectRef": {k: v for k, v in bound.items() if v}}
    if source.get("audience"):
        spec["audiences"] = [source["audience"]]
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}


def answer_uid(admin: Api) -> str:
    return admin.get("/api/v1/namespaces/default/serviceaccounts/default")["metadata"]["uid"]


def with_token(server, tmp_path: Path, token: str) -> Kubectl:
    home = tmp_path / "home-pod"
    home.mkdir(exist_ok=True)
    return Kubectl(home, ClientConfig(server.url, ca_data=server.admin.ca_data, token=token))


def test_a_pods_token_has_its_accounts_permissions_until_the_pod_is_deleted(server, kubectl, tmp_path):
    kubectl("create", "role", "pod-reader", "--verb=get,list", "--resource=pods")
    kubectl("create", "rolebinding", "default-reads", "--role=pod-reader", "--serviceaccount=default:default")
    admin = Api(server.admin)
    node = Api(server.node("n1"))
    try:
        web = admin.post("/api/v1/namespaces/default/pods", pod("web", "n1"))
        assert token_source(web) == {"expirationSeconds": 3607, "path": "token"}
        answer = node.post(TOKENS, kubelet_request(web))
        token = answer["status"]["token"]
        as_pod = with_token(server, tmp_path, token)
        who = dict(line.split(maxsplit=1) for line in as_pod("auth", "whoami").splitlines()[1:4])
        assert who == {"Username": "system:serviceaccount:default:default", "UID": answer_uid(admin),
                       "Groups": "[system:serviceaccounts system:serviceaccounts:default system:authenticated]"}
        assert f"Extra: authentication.kubernetes.io/pod-uid         [{web['metadata']['uid']}]" in \
            as_pod("auth", "whoami").splitlines()
        assert as_pod("get", "pods", "-o", "name") == "pod/web\n"
        denied = as_pod.run("create", "configmap", "x", check=False)
        assert denied.stderr.strip() == (
            'error: failed to create configmap: configmaps is forbidden: User "system:serviceaccount:default:default" '
            'cannot create resource "configmaps" in API group "" in the namespace "default"')

        admin.delete("/api/v1/namespaces/default/pods/web?gracePeriodSeconds=0")
        gone = as_pod.run("get", "pods", check=False)
        assert gone.returncode == 1 and gone.stderr.splitlines()[-1] == LOGGED_OUT
    finally:
        node.close()
        admin.close()


def test_a_node_gets_tokens_only_for_its_own_pods(server):
    admin = Api(server.admin)
    n1, n2 = Api(server.node("n1")), Api(server.node("n2"))
    try:
        web = admin.post("/api/v1/namespaces/default/pods", pod("web", "n1"))
        admin.post("/api/v1/namespaces/default/pods", pod("other", "n2"))  # n2 may use the account too

        def refused(client: Api, body: dict, code: int = 403) -> str:
            return client.post(TOKENS, body, ok=(code,))["message"]

        prefix = 'serviceaccounts "default" is forbidden: '
        assert refused(n2, kubelet_request(web)) == prefix + "node requested token bound to a pod scheduled on a " \
                                                             "different node"
        unbound = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
        assert refused(n1, unbound) == prefix + "node requested token not bound to a pod"
        assert refused(n1, kubelet_request(web, kind="Secret")) == prefix + "node requested token not bound to a pod"
        assert refused(n1, kubelet_request(web, uid="")) == prefix + \
            "node requested token with a pod binding without a uid"
        stale = kubelet_request(web, uid="0b5e3b1c-0000-4000-8000-000000000000")
        assert refused(n1, stale) == prefix + (
            "the UID in the bound object reference (0b5e3b1c-0000-4000-8000-000000000000) does not match the UID in "
            "record. The object might have been deleted and then recreated")
        assert refused(n1, kubelet_request(web, name="missing"), 404) == 'pods "missing" not found'
        # a node with no pod of the account is refused by the Node authorizer, before admission
        n3 = Api(server.node("n3"))
        try:
            assert refused(n3, kubelet_request(web)) == (
                'serviceaccounts "default" is forbidden: User "system:node:n3" cannot create resource '
                '"serviceaccounts/token" in API group "" in the namespace "default": no relationship found between '
                "node 'n3' and this object")
        finally:
            n3.close()
        # other users are not limited by NodeRestriction
        assert admin.post(TOKENS, unbound)["status"]["token"]
    finally:
        n1.close()
        n2.close()
        admin.close()
