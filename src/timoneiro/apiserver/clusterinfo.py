"""What `kubeadm init`'s bootstrap-token phase leaves in a cluster so that nodes can join it with a token:
the kube-public/cluster-info ConfigMap (the server's URL and CA, which the bootstrap signer signs with each
token) readable by anyone, and the RBAC bindings that let a node's bootstrap token read nodes, ask for a
client certificate, and have it approved automatically.

Every timoneiro server is its own `kubeadm init`, so the server makes these itself on start, as it makes
the system namespaces: a cluster started by `up`, `timoneiro server` or a test can be joined alike. The
ConfigMap copies the cluster entry of admin.conf, as kubeadm does, and follows it when a restarted
cluster serves on another address (kubeadm would not need to)."""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING

import yaml

from timoneiro.apiserver.authn import ANONYMOUS
from timoneiro.apiserver.generic import Context
from timoneiro.pki import bootstrap_token as bt
from timoneiro.pki.csr import NODES_GROUP

if TYPE_CHECKING:
    from timoneiro.apiserver.app import APIServer

RBAC = "rbac.authorization.k8s.io"
CLUSTER_INFO_ROLE = "kubeadm:bootstrap-signer-clusterinfo"
GET_NODES = "kubeadm:get-nodes"
# ClusterRoleBinding name -> (ClusterRole, Group), as kubeadm's bootstrap-token phase binds them
CLUSTER_ROLE_BINDINGS = {
    GET_NODES: (GET_NODES, bt.NODE_GROUP),
    "kubeadm:kubelet-bootstrap": ("system:node-bootstrapper", bt.NODE_GROUP),
    "kubeadm:node-autoapprove-bootstrap": ("system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                                           bt.NODE_GROUP),
    "kubeadm:node-autoapprove-certificate-rotation": (
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", NODES_GROUP),
}


def cluster_info_kubeconfig(server: str, ca_data: bytes) -> str:
    """A kubeconfig with one unnamed cluster and nothing else, as clientcmd.Write prints kubeadm's."""
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": "", "contexts": None,
        "users": None,
        "clusters": [{"name": "", "cluster": {
            "certificate-authority-data": base64.b64encode(ca_data).decode(), "server": server}}],
    })


def _binding(kind: str, name: str, role_kind: str, role: str, subject_kind: str, subject: str,
             namespace: str | None = None) -> dict:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": metadata,
            "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role},
            "subjects": [{"apiGroup": RBAC, "kind": subject_kind, "name": subject}]}


def rbac_objects() -> list[tuple[str, str | None, dict]]:
    """(plural, namespace, object) of every RBAC object kubeadm's bootstrap-token phase creates."""
    public = bt.CLUSTER_INFO_NAMESPACE
    objects = [
        ("roles", public, {"apiVersion": f"{RBAC}/v1", "kind": "Role",
                           "metadata": {"name": CLUSTER_INFO_ROLE, "namespace": public},
                           "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"],
                                      "resourceNames": [bt.CLUSTER_INFO]}]}),
        ("rolebindings", public, _binding("RoleBinding", CLUSTER_INFO_ROLE, "Role", CLUSTER_INFO_ROLE, "User",
                                          ANONYMOUS, public)),
        ("clusterroles", None, {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
                                "metadata": {"name": GET_NODES},
                                "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}]}),
    ]
    for name, (role, group) in CLUSTER_ROLE_BINDINGS.items():
        objects.append(("clusterrolebindings", None,
                        _binding("ClusterRoleBinding", name, "ClusterRole", role, "Group", group)))
    return objects


async def ensure(api: APIServer) -> None:
    """Create what is missing, and point cluster-info at the server admin.conf names."""
    for plural, namespace, obj in rbac_objects():
        await api._ensure(api.registry.get(RBAC, "v1", plural), namespace, obj)
    if not os.path.exists(os.path.join(api.data_dir, "admin.conf")):
        return
    admin = api.pki.config("admin.conf")
    kubeconfig = cluster_info_kubeconfig(admin.server, admin.ca_data or api.pki.ca_pem)
    configmaps = api.registry.get("", "v1", "configmaps")
    entry = api.cache.get(configmaps.key(bt.CLUSTER_INFO_NAMESPACE, bt.CLUSTER_INFO))
    ctx = Context(namespace=bt.CLUSTER_INFO_NAMESPACE)
    if entry is None:
        await api.generic.create(ctx, configmaps, {
            "metadata": {"name": bt.CLUSTER_INFO, "namespace": bt.CLUSTER_INFO_NAMESPACE},
            "data": {bt.KUBECONFIG_KEY: kubeconfig}})
        return

    def point_at_server(cm: dict) -> dict:
        cm.setdefault("data", {})[bt.KUBECONFIG_KEY] = kubeconfig
        return cm

    await api.generic.modify(ctx, configmaps, bt.CLUSTER_INFO, point_at_server)
