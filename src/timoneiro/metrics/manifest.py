"""The objects metrics-server's deployment manifest (components.yaml) creates, made here by the cluster as
an addon: its ServiceAccount and RBAC (system:aggregated-metrics-reader, aggregated into view, edit and
admin; system:metrics-server; the auth-delegator and authentication-reader bindings), its Service and the
APIService v1beta1.metrics.k8s.io that puts it behind the API server.

The server runs in the components process, not in a pod: its Service is an ExternalName one naming the
host it listens on (which the aggregator resolves as upstream's does), at the port it bound, and the
APIService carries the CA that signed its serving certificate."""

from __future__ import annotations

import base64

from timoneiro.apiserver.authz.bootstrap_policy import parse_rule
from timoneiro.client import ApiError, Client
from timoneiro.client.resources import SERVICE_ACCOUNTS, SERVICES, Resource

NAME, NAMESPACE = "metrics-server", "kube-system"
LABELS = {"k8s-app": NAME}
APISERVICE = "v1beta1.metrics.k8s.io"
RBAC = "rbac.authorization.k8s.io"
CLUSTER_ROLES = Resource(RBAC, "v1", "clusterroles", namespaced=False)
CLUSTER_ROLE_BINDINGS = Resource(RBAC, "v1", "clusterrolebindings", namespaced=False)
ROLE_BINDINGS = Resource(RBAC, "v1", "rolebindings")
APISERVICES = Resource("apiregistration.k8s.io", "v1", "apiservices", namespaced=False)
SUBJECT = {"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}


def _binding(kind: str, name: str, role_kind: str, role: str, namespace: str | None = None) -> dict:
    meta = {"name": name, "labels": LABELS, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role}, "subjects": [SUBJECT]}


def objects(host: str, port: int) -> list[tuple[Resource, dict]]:
    """Everything but the APIService, which is registered once the server answers."""
    aggregate = {f"{RBAC}/aggregate-to-{role}": "true" for role in ("admin", "edit", "view")}
    return [
        (SERVICE_ACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": LABELS}}),
        (CLUSTER_ROLES, {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
                         "metadata": {"name": "system:aggregated-metrics-reader", "labels": {**LABELS, **aggregate}},
                         "rules": [parse_rule("get,list,watch metrics.k8s.io pods,nodes")]}),
        (CLUSTER_ROLES, {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
                         "metadata": {"name": "system:metrics-server", "labels": LABELS},
                         "rules": [parse_rule("get core nodes/metrics"),
                                   parse_rule("get,list,watch core pods,nodes")]}),
        (ROLE_BINDINGS, _binding("RoleBinding", "metrics-server-auth-reader", "Role",
                                 "extension-apiserver-authentication-reader", NAMESPACE)),
        (CLUSTER_ROLE_BINDINGS, _binding("ClusterRoleBinding", "metrics-server:system:auth-delegator",
                                         "ClusterRole", "system:auth-delegator")),
        (CLUSTER_ROLE_BINDINGS, _binding("ClusterRoleBinding", "system:metrics-server", "ClusterRole",
                                         "system:metrics-server")),
        (SERVICES, {"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": LABELS},
                    "spec": {"type": "ExternalName", "externalName": host,
                             "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}}),
    ]


def apiservice(port: int, ca_pem: bytes) -> tuple[Resource, dict]:
    return (APISERVICES, {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                          "metadata": {"name": APISERVICE, "labels": LABELS},
                          "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
                                   "versionPriority": 100, "caBundle": base64.b64encode(ca_pem).decode(),
                                   "service": {"name": NAME, "namespace": NAMESPACE, "port": port}}})


async def apply(client: Client, objects: list[tuple[Resource, dict]]) -> None:
    """Create each object, or replace what differs of one that exists (as `kubectl apply` would)."""
    for resource, obj in objects:
        namespace = obj["metadata"].get("namespace")
        try:
            await client.create(resource, obj, namespace)
            continue
        except ApiError as e:
            if e.code != 409:
                raise
        current = await client.get(resource, obj["metadata"]["name"], namespace)
        wanted = {**current, **{k: v for k, v in obj.items() if k != "metadata"}}
        wanted["metadata"] = {**current["metadata"], "labels": {**(current["metadata"].get("labels") or {}),
                                                                 **obj["metadata"]["labels"]}}
        if wanted != current:
            await client.update(resource, wanted)
