"""The Node authorizer: what a kubelet (user system:node:NAME in group system:nodes) may do, as upstream's
plugin/pkg/auth/authorizer/node decides it with AuthorizeNodeWithSelectors on (1.32's default).

Secrets, configmaps, PVCs, PVs, ServiceAccount tokens and VolumeAttachments are readable only along the
graph of pods bound to the node (pod -> node; secret/configmap/pvc/serviceaccount -> pod; pv -> pvc;
secret -> pv; volumeattachment -> node). Its Node, Lease and CSINode are its own by name; pods it may
list and watch with a spec.nodeName=NAME field selector. Other requests are judged against the
system:node ClusterRole's rules, which upstream's default bindings no longer give to system:nodes."""

from __future__ import annotations

import orjson

from timoneiro.api.kinds import Registry
from timoneiro.apiserver.authn import UserInfo
from timoneiro.apiserver.authz import Decision, field_selector
from timoneiro.apiserver.authz.bootstrap_policy import node_rules
from timoneiro.apiserver.authz.follow import Follower
from timoneiro.apiserver.authz.rules import allows, compile_rule
from timoneiro.apiserver.requestinfo import RequestInfo
from timoneiro.storage.cache import WatchCache

NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
NODE_LEASE_NAMESPACE = "kube-node-lease"
ALLOW = (Decision.ALLOW, "")
NO_OPINION = (Decision.NO_OPINION, "")

# volume sources whose secret a pod names: (volume field, field holding the reference, its name's key)
POD_VOLUME_SECRETS = (("secret", None, "secretName"), ("azureFile", None, "secretName"),
                      ("cephfs", "secretRef", "name"), ("cinder", "secretRef", "name"),
                      ("flexVolume", "secretRef", "name"), ("iscsi", "secretRef", "name"),
                      ("rbd", "secretRef", "name"), ("scaleIO", "secretRef", "name"),
                      ("storageos", "secretRef", "name"), ("csi", "nodePublishSecretRef", "name"))
PV_SECRET_REFS = ("cephfs", "cinder", "flexVolume", "iscsi", "rbd", "scaleIO", "storageos")
CSI_SECRET_REFS = ("controllerPublishSecretRef", "nodeStageSecretRef", "nodePublishSecretRef",
                   "controllerExpandSecretRef", "nodeExpandSecretRef")


def node_name(user: UserInfo) -> str | None:
    if not user.name.startswith(NODE_PREFIX) or NODES_GROUP not in user.groups:
        return None
    return user.name[len(NODE_PREFIX):]


def pod_references(pod: dict) -> set[tuple[str, str]]:
    """(type, name) of what a pod uses in its namespace: secrets, configmaps, PVCs, its ServiceAccount."""
    spec = pod.get("spec") or {}
    refs: set[tuple[str, str]] = set()
    if spec.get("serviceAccountName"):
        refs.add(("serviceaccount", spec["serviceAccountName"]))
    refs |= {("secret", s["name"]) for s in spec.get("imagePullSecrets") or [] if s.get("name")}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []) + \
            (spec.get("ephemeralContainers") or []):
        for source in c.get("envFrom") or []:
            refs |= _named("secret", source.get("secretRef")) | _named("configmap", source.get("configMapRef"))
        for env in c.get("env") or []:
            value_from = env.get("valueFrom") or {}
            refs |= _named("secret", value_from.get("secretKeyRef")) | \
                _named("configmap", value_from.get("configMapKeyRef"))
    for volume in spec.get("volumes") or []:
        for field, ref, key in POD_VOLUME_SECRETS:
            source = volume.get(field)
            if source:
                refs |= _named("secret", source.get(ref) if ref else source, key)
        refs |= _named("configmap", volume.get("configMap"))
        for projection in (volume.get("projected") or {}).get("sources") or []:
            refs |= _named("secret", projection.get("secret")) | _named("configmap", projection.get("configMap"))
        refs |= _named("pvc", volume.get("persistentVolumeClaim"), "claimName")
        if volume.get("ephemeral"):
            refs.add(("pvc", f"{pod['metadata']['name']}-{volume.get('name', '')}"))
    return refs


def _named(kind: str, ref: dict | None, key: str = "name") -> set[tuple[str, str]]:
    return {(kind, ref[key])} if ref and ref.get(key) else set()


def pv_secrets(pv: dict) -> set[tuple[str, str]]:
    """(namespace, name) of the secrets a PersistentVolume names."""
    spec = pv.get("spec") or {}
    claim_namespace = (spec.get("claimRef") or {}).get("namespace", "")
    out = set()
    for field in PV_SECRET_REFS:
        ref = (spec.get(field) or {}).get("secretRef")
        if ref and ref.get("name"):
            out.add((ref.get("namespace") or claim_namespace, ref["name"]))
    azure = spec.get("azureFile") or {}
    if azure.get("secretName"):
        out.add((azure.get("secretNamespace") or claim_namespace, azure["secretName"]))
    for field in CSI_SECRET_REFS:
        ref = (spec.get("csi") or {}).get(field)
        if ref and ref.get("name"):
            out.add((ref.get("namespace", ""), ref["name"]))
    return out


class Graph:
    """Pods bound to nodes and what they use, patched from the watch cache's changes when asked."""

    def __init__(self, cache: WatchCache, registry: Registry) -> None:
        self.cache = cache
        self._pods = Follower(cache, registry.get("", "v1", "pods").storage_prefix)
        self._pvs = Follower(cache, registry.get("", "v1", "persistentvolumes").storage_prefix)
        self._attachments = Follower(cache, registry.get("storage.k8s.io", "v1", "volumeattachments")
                                     .storage_prefix)
        self.pod_nodes: dict[tuple[str, str], str] = {}  # (namespace, pod) -> node
        self.pod_refs: dict[tuple[str, str], set[tuple[str, str, str]]] = {}
        self.users: dict[tuple[str, str, str], set[tuple[str, str]]] = {}  # (type, ns, name) -> pods
        self.pv_claims: dict[str, tuple[str, str]] = {}
        self.pv_secret_refs: dict[str, set[tuple[str, str]]] = {}
        self.secret_pvs: dict[tuple[str, str], set[str]] = {}
        self.attachment_nodes: dict[str, str] = {}

    def refresh(self) -> None:
        for follower, apply in ((self._pods, self._pod), (self._pvs, self._pv),
                                (self._attachments, self._attachment)):
            changes = follower.changes()
            if changes is None:
                self._forget(follower)
                changes = [("ADDED", e) for e in self.cache.list(follower.prefix)]
            for kind, entry in changes:
                apply(entry.key.rsplit("/", 2)[-2:], None if kind == "DELETED" else orjson.loads(entry.data))

    def _forget(self, follower: Follower) -> None:
        if follower is self._pods:
            self.pod_nodes, self.pod_refs, self.users = {}, {}, {}
        elif follower is self._pvs:
            self.pv_claims, self.pv_secret_refs, self.secret_pvs = {}, {}, {}
        else:
            self.attachment_nodes = {}

    def _pod(self, key: list[str], pod: dict | None) -> None:
        pod_key = (key[0], key[1])
        for ref in self.pod_refs.pop(pod_key, ()):
            self.users[ref].discard(pod_key)
        self.pod_nodes.pop(pod_key, None)
        node = ((pod or {}).get("spec") or {}).get("nodeName")
        if not node:
            return
        self.pod_nodes[pod_key] = node
        refs = self.pod_refs[pod_key] = {(t, key[0], n) for t, n in pod_references(pod)}
        for ref in refs:
            self.users.setdefault(ref, set()).add(pod_key)

    def _pv(self, key: list[str], pv: dict | None) -> None:
        name = key[-1]
        self.pv_claims.pop(name, None)
        for secret in self.pv_secret_refs.pop(name, ()):
            self.secret_pvs[secret].discard(name)
        if pv is None:
            return
        claim = (pv.get("spec") or {}).get("claimRef")
        if claim:
            self.pv_claims[name] = (claim.get("namespace", ""), claim.get("name", ""))
        secrets = self.pv_secret_refs[name] = pv_secrets(pv)
        for secret in secrets:
            self.secret_pvs.setdefault(secret, set()).add(name)

    def _attachment(self, key: list[str], va: dict | None) -> None:
        self.attachment_nodes.pop(key[-1], None)
        if va is not None:
            self.attachment_nodes[key[-1]] = (va.get("spec") or {}).get("nodeName", "")

    def has_path(self, node: str, kind: str, namespace: str, name: str) -> bool:
        if kind == "pod":
            return self.pod_nodes.get((namespace, name)) == node
        if kind == "pv":
            claim = self.pv_claims.get(name)
            return claim is not None and self.has_path(node, "pvc", *claim)
        if kind == "volumeattachment":
            return self.attachment_nodes.get(name) == node
        if any(self.pod_nodes.get(pod) == node for pod in self.users.get((kind, namespace, name), ())):
            return True
        return kind == "secret" and any(self.has_path(node, "pv", "", pv)
                                        for pv in self.secret_pvs.get((namespace, name), ()))


class NodeAuthorizer:
    def __init__(self, cache: WatchCache, registry: Registry) -> None:
        self.graph = Graph(cache, registry)
        self.rules = tuple(compile_rule(r) for r in node_rules())

    def authorize(self, user: UserInfo, attrs: RequestInfo) -> tuple[Decision, str]:
        node = node_name(user)
        if node is None:
            return NO_OPINION
        if not node:
            return Decision.NO_OPINION, f'unknown node for user "{user.name}"'
        if attrs.is_resource:
            decide = self._by_resource.get((attrs.group, attrs.resource))
            if decide is not None:
                return decide(self, node, attrs)
        return ALLOW if any(allows(r, attrs) for r in self.rules) else NO_OPINION

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[str], bool]:
        """A node's permissions depend on its pods: they cannot be listed (the list is incomplete)."""
        if node_name(user) is None:
            return [], [], False
        return [], ["node authorizer does not support user rule resolution"], True

    def _related(self, node: str, kind: str, attrs: RequestInfo) -> tuple[Decision, str]:
        if not attrs.name:
            return Decision.NO_OPINION, "No Object name found"
        self.graph.refresh()
        if self.graph.has_path(node, kind, attrs.namespace, attrs.name):
            return ALLOW
        return Decision.NO_OPINION, f"no relationship found between node '{node}' and this object"

    def _read_namespaced(self, node: str, kind: str, attrs: RequestInfo) -> tuple[Decision, str]:
        if attrs.verb not in ("get", "list", "watch"):
            return Decision.NO_OPINION, "can only read resources of this type"
        if attrs.subresource:
            return Decision.NO_OPINION, "cannot read subresource"
        if not attrs.namespace:
            return Decision.NO_OPINION, "can only read namespaced object of this type"
        return self._related(node, kind, attrs)

    def _get(self, node: str, kind: str, attrs: RequestInfo) -> tuple[Decision, str]:
        if attrs.verb != "get":
            return Decision.NO_OPINION, "can only get individual resources of this type"
        if attrs.subresource:
            return Decision.NO_OPINION, "cannot get subresource"
        return self._related(node, kind, attrs)

    def _secret(self, node: str, attrs: RequestInfo) -> tuple[Decision, str]:
        return self._read_namespaced(node, "secret", attrs)

    def _configmap(self, node: str, attrs: RequestInfo) -> tuple[Decision, str]:
        return self._read_namespaced(node, "configmap", attrs)

    def _pvc(self, node: str, attrs: RequestInfo) -> tuple[Decision, str]:
        if attrs.subresource != "status":
            return self._get(node, "pvc", attrs)
        if attrs.verb not in ("update", "patch"):
            return Decision.NO_OPINION, "can only get/update/patch this type"
        return self._related(node, "pvc", attrs)

    def _pv(self, node: str, attrs: RequestInfo) -> tuple[Decision, str]:
        return self._get(node, "pv", attrs)

    def _attachment(self, node: str, attrs: RequestInfo) -> tuple[Decision, str]:
        return self._get(node, "volumeattachment", attrs)

    def _token(self, node: str, attrs: RequestInfo) -> tuple[Decision, str]:
        if attrs.verb != "create" or not attrs.name:
            return Decision.NO_OPINION, "can only create tokens for individual service accounts"
        if attrs.subresource != "token":
            return Decision.NO_OPINION, "can only create token subresource of serviceaccount"
        return self._related(node, "serviceaccount", attrs)

    def _lease(self, node: str, attrs: RequestInfo) -> tuple[Decision, str]:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return Decision.NO_OPINION, "can only get, create, update, patch, or delete a node lease"
        if attrs.namespace != NODE_LEASE_NAMESPACE:
            return Decision.NO_OPINION, f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace'
        if attrs.verb != "create" and attrs.name != node:
            return Decision.NO_OPINION, "can only access node lease with the same name as the requesting node"
        return ALLOW

    def _csinode(self, node: str, attrs: RequestInfo) -> tuple[Decision, str]:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return Decision.NO_OPINION, "can only get, create, update, patch, or delete a CSINode"
        if attrs.subresource:
            return Decision.NO_OPINION, "cannot authorize CSINode subresources"
        if attrs.verb != "create" and attrs.name != node:
            return Decision.NO_OPINION, "can only access CSINode with the same name as the requesting node"
        return ALLOW

    def _node(self, node: str, attrs: RequestInfo) -> tuple[Decision, str]:
        if attrs.verb in ("create", "update", "patch"):  # NodeRestriction admission limits it to its own
            return ALLOW
        if attrs.verb not in ("get", "list", "watch"):
            return NO_OPINION
        if attrs.name == node:
            return ALLOW
        if not attrs.name:
            return Decision.NO_OPINION, f"node '{node}' cannot read all nodes, only its own Node object"
        return Decision.NO_OPINION, f"node '{node}' cannot read '{attrs.name}', only its own Node object"

    def _pod(self, node: str, attrs: RequestInfo) -> tuple[Decision, str]:
        verb, sub = attrs.verb, attrs.subresource
        if not sub:
            if verb == "get":
                return self._related(node, "pod", attrs)
            if verb in ("list", "watch"):
                if ("spec.nodeName", "=", node) in field_selector(attrs):
                    return ALLOW
                return Decision.NO_OPINION, "can only list/watch pods with spec.nodeName field selector"
            # mirror pods: NodeRestriction admission limits them to pods bound to the node
            return ALLOW if verb in ("create", "delete") else NO_OPINION
        if sub == "status" and verb in ("update", "patch"):
            return ALLOW
        if sub == "eviction" and verb == "create":
            return ALLOW
        return NO_OPINION

    _by_resource = {("", "secrets"): _secret, ("", "configmaps"): _configmap,
                    ("", "persistentvolumeclaims"): _pvc, ("", "persistentvolumes"): _pv,
                    ("storage.k8s.io", "volumeattachments"): _attachment, ("", "serviceaccounts"): _token,
                    ("coordination.k8s.io", "leases"): _lease, ("storage.k8s.io", "csinodes"): _csinode,
                    ("", "nodes"): _node, ("", "pods"): _pod}
