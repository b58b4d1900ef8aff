"""NodeRestriction: a kubelet (user system:node:NAME in group system:nodes) may only write what concerns its
own node (plugin/pkg/admission/noderestriction): its Node (without setting labels it may not set, or
changing its taints), mirror pods bound to it, the status of pods bound to it, deletes and evictions of pods
bound to it, its Lease in kube-node-lease, its CSINode, and PersistentVolumeClaim status. Other users pass.

An eviction is admitted as a delete of the pod with ctx.subresource "eviction" (the eviction subresource
asks the delete validators before it spends a disruption budget). A TokenRequest is admitted as a create
of serviceaccounts with ctx.subresource "token": a node gets tokens only bound to a pod scheduled on it."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors
from timoneiro.apiserver.generic import Context, decode

if TYPE_CHECKING:
    from timoneiro.storage.cache import WatchCache

NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
NODE_LEASE_NAMESPACE = "kube-node-lease"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
RESTRICTED_LABEL_NAMESPACE = "node-restriction.kubernetes.io"
# the labels kubelets may set on their own Node (k8s.io/kubelet/pkg/apis), and the namespaces they may use
KUBELET_LABELS = frozenset((
    "kubernetes.io/hostname", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type", "kubernetes.io/os", "kubernetes.io/arch",
    "beta.kubernetes.io/os", "beta.kubernetes.io/arch"))
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
# volume sources that name a secret, and where
SECRET_VOLUME_REFS = {"azureFile": "secretName", "cephfs": "secretRef", "cinder": "secretRef", "flexVolume": "secretRef",
                      "rbd": "secretRef", "scaleIO": "secretRef", "iscsi": "secretRef", "storageos": "secretRef",
                      "csi": "nodePublishSecretRef"}


def node_identity(user) -> str | None:
    """The node a user is, as upstream's default node identifier tells: its name ("" if the name is empty),
    or None if the user is not a node."""
    name = getattr(user, "name", "")
    if not name.startswith(NODE_USER_PREFIX) or NODES_GROUP not in getattr(user, "groups", ()):
        return None
    return name[len(NODE_USER_PREFIX):]


def _namespace(label: str) -> str:
    return label.split("/", 1)[0] if "/" in label else ""


def _in(namespace: str, domain: str) -> bool:
    return namespace == domain or namespace.endswith("." + domain)


def forbidden_labels(new: dict[str, str], old: dict[str, str]) -> list[str]:
    """Labels added, removed or changed that a kubelet may not touch: node-restriction.kubernetes.io ones, and
    kubernetes.io / k8s.io ones that are not kubelet labels."""
    changed = {k for k in new.keys() | old.keys() if k not in new or k not in old or new[k] != old[k]}
    bad = set()
    for label in changed:
        ns = _namespace(label)
        kubernetes = _in(ns, "kubernetes.io") or _in(ns, "k8s.io")
        kubelet = label in KUBELET_LABELS or any(_in(ns, allowed) for allowed in KUBELET_LABEL_NAMESPACES)
        if _in(ns, RESTRICTED_LABEL_NAMESPACE) or (kubernetes and not kubelet):
            bad.add(label)
    return sorted(bad)


class NodeRestriction:
    """Mutating admission of creates and updates (`__call__`), and of deletes and evictions (`delete`)."""

    def __init__(self, cache: WatchCache, nodes: Kind, pods: Kind) -> None:
        self.cache = cache
        self.nodes = nodes
        self.pods = pods

    def __call__(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        self._admit(ctx, kind, "CREATE" if old is None else "UPDATE", new["metadata"].get("name", ""), new, old)

    def delete(self, ctx: Context, kind: Kind, obj: dict) -> None:
        self._admit(ctx, kind, "DELETE", obj["metadata"].get("name", ""), None, obj)

    def _admit(self, ctx: Context, kind: Kind, op: str, name: str, new: dict | None, old: dict | None) -> None:
        node = node_identity(ctx.user)
        if node is None:
            return
        if not node:
            raise errors.forbidden(kind, name, f'could not determine node from user "{ctx.user.name}"')
        why = self._refusal(ctx, kind, op, node, name, new, old)
        if why:
            raise errors.forbidden(kind, name, why)

    def _refusal(self, ctx: Context, kind: Kind, op: str, node: str, name: str, new: dict | None,
                 old: dict | None) -> str | None:
        resource, sub = (kind.group, kind.plural), ctx.subresource
        if resource == ("", "pods"):
            if sub == "eviction":
                return None if _bound_to(old, node) else f"node {node} can only evict pods with spec.nodeName set to itself"
            if sub == "status":
                return self._pod_status(op, node, new, old)
            if sub:
                return f"unexpected pod subresource \"{sub}\", only 'status' and 'eviction' are allowed"
            if op == "CREATE":
                return self._mirror_pod(node, new)
            if op == "DELETE":
                return None if _bound_to(old, node) else \
                    f'node "{node}" can only delete pods with spec.nodeName set to itself'
            return f'unexpected operation "{op}", node "{node}" can only create and delete mirror pods'
        if resource == ("", "nodes"):
            return self._node(op, node, name, new, old)
        if resource == ("", "persistentvolumeclaims"):
            if sub != "status":
                return "may only update PVC status"
            return _pvc_status(op, node, new, old)
        if resource == ("coordination.k8s.io", "leases"):
            if ctx.namespace != NODE_LEASE_NAMESPACE:
                return f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace'
            return None if name == node else "can only access node lease with the same name as the requesting node"
        if resource == ("storage.k8s.io", "csinodes"):
            return None if name == node else "can only access CSINode with the same name as the requesting node"
        if resource == ("", "serviceaccounts") and sub == "token" and op == "CREATE":
            return self._token_request(ctx, node, new)
        return None

    def _token_request(self, ctx: Context, node: str, request: dict) -> str | None:
        """A kubelet asks for the tokens of its pods' projected volumes: each must be bound to a pod, the very
        pod (by uid) that is scheduled on this node."""
        ref = (request.get("spec") or {}).get("boundObjectRef") or {}
        if (ref.get("apiVersion"), ref.get("kind")) != ("v1", "Pod") or not ref.get("name"):
            return "node requested token not bound to a pod"
        if not ref.get("uid"):
            return "node requested token with a pod binding without a uid"
        entry = self.cache.get(self.pods.key(ctx.namespace, ref["name"]))
        if entry is None:
            raise errors.not_found(self.pods, ref["name"])
        pod = decode(entry)
        if ref["uid"] != pod["metadata"].get("uid"):
            return (f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. "
                    "The object might have been deleted and then recreated")
        return None if _bound_to(pod, node) else "node requested token bound to a pod scheduled on a different node"

    def _pod_status(self, op: str, node: str, new: dict | None, old: dict | None) -> str | None:
        if op != "UPDATE":
            return f'unexpected operation "{op}"'
        if not _bound_to(old, node):
            return f'node "{node}" can only update pod status for pods with spec.nodeName set to itself'
        if (new["metadata"].get("labels") or {}) != (old["metadata"].get("labels") or {}):
            return f'node "{node}" cannot update labels through pod status'
        claims = [(c.get("name"), c.get("resourceClaimName")) for c in (new.get("status") or {})
                  .get("resourceClaimStatuses") or ()]
        old_claims = [(c.get("name"), c.get("resourceClaimName")) for c in (old.get("status") or {})
                      .get("resourceClaimStatuses") or ()]
        return None if claims == old_claims else f'node "{node}" cannot update resource claim statues'

    def _mirror_pod(self, node: str, pod: dict) -> str | None:
        """A node creates only mirror pods of its static pods: bound to it, owned by its Node, referring to no
        other API object."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        if MIRROR_POD_ANNOTATION not in (meta.get("annotations") or {}):
            return f'pod does not have "{MIRROR_POD_ANNOTATION}" annotation, node "{node}" can only create mirror pods'
        if spec.get("nodeName") != node:
            return f'node "{node}" can only create pods with spec.nodeName set to itself'
        owners = meta.get("ownerReferences") or []
        if len(owners) > 1:
            return f'node "{node}" can only create pods with a single owner reference set to itself'
        owner = owners[0] if owners else {}
        if (owner.get("apiVersion"), owner.get("kind"), owner.get("name")) != ("v1", "Node", node):
            return f'node "{node}" can only create pods with an owner reference set to itself'
        if not owner.get("controller"):
            return f'node "{node}" can only create pods with a controller owner reference set to itself'
        if owner.get("blockOwnerDeletion"):
            return f'node "{node}" must not set blockOwnerDeletion on an owner reference'
        entry = self.cache.get(self.nodes.key(None, node))
        if entry is None:
            raise errors.not_found(self.nodes, node)
        uid = decode(entry)["metadata"].get("uid", "")
        if owner.get("uid") != uid:
            return f"node {node} UID mismatch: expected {owner.get('uid', '')} got {uid}"
        if spec.get("serviceAccountName"):
            return f'node "{node}" can not create pods that reference a service account'
        for what, found in (("secrets", _references_secrets(spec)), ("configmaps", _references_configmaps(spec)),
                            ("clustertrustbundles", _references_trust_bundles(spec)),
                            ("persistentvolumeclaims", any(v.get("persistentVolumeClaim") is not None
                                                           for v in spec.get("volumes") or ()))):
            if found:
                return f'node "{node}" can not create pods that reference {what}'
        return None

    def _node(self, op: str, node: str, name: str, new: dict | None, old: dict | None) -> str | None:
        if name != node:
            return f'node "{node}" is not allowed to modify node "{name}"'
        if op == "CREATE":
            if (new.get("spec") or {}).get("configSource") is not None:
                return f'node "{node}" is not allowed to create pods with a non-nil configSource'
            bad = forbidden_labels(new["metadata"].get("labels") or {}, {})
            return f'node "{node}" is not allowed to set the following labels: {", ".join(bad)}' if bad else None
        if op == "UPDATE":
            spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
            if spec.get("configSource") is not None and spec.get("configSource") != old_spec.get("configSource"):
                return f'node "{node}" is not allowed to update configSource to a new non-nil configSource'
            if (spec.get("taints") or []) != (old_spec.get("taints") or []):
                return f'node "{node}" is not allowed to modify taints'
            bad = forbidden_labels(new["metadata"].get("labels") or {}, old["metadata"].get("labels") or {})
            return f"is not allowed to modify labels: {', '.join(bad)}" if bad else None
        return None


def _bound_to(pod: dict | None, node: str) -> bool:
    return ((pod or {}).get("spec") or {}).get("nodeName") == node


def _pvc_status(op: str, node: str, new: dict | None, old: dict | None) -> str | None:
    """A node may change a claim's status.capacity, status.conditions and the allocated resources (the
    volume expansion it performs), nothing else."""
    if op != "UPDATE":
        return f'unexpected operation "{op}"'
    a, b = copy.deepcopy(new), copy.deepcopy(old)
    for pvc in (a, b):
        for key in ("resourceVersion", "managedFields"):
            pvc["metadata"].pop(key, None)
        status = pvc.setdefault("status", {})
        for key in ("capacity", "conditions", "allocatedResourceStatuses", "allocatedResources"):
            status.pop(key, None)
    if a == b:
        return None
    changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    return (f'node "{node}" is not allowed to update fields other than status.capacity and status.conditions: '
            f"{', '.join(changed)} changed")


def _containers(spec: dict):
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(field) or ()


def _env_refers(spec: dict, key_ref: str, source_ref: str) -> bool:
    return any((env.get("valueFrom") or {}).get(key_ref) is not None for c in _containers(spec)
               for env in c.get("env") or ()) or \
        any(source.get(source_ref) is not None for c in _containers(spec) for source in c.get("envFrom") or ())


def _projected(spec: dict, source: str) -> bool:
    return any(s.get(source) is not None for v in spec.get("volumes") or ()
               for s in (v.get("projected") or {}).get("sources") or ())


def _references_secrets(spec: dict) -> bool:
    volumes = spec.get("volumes") or ()
    if spec.get("imagePullSecrets") or _env_refers(spec, "secretKeyRef", "secretRef") or _projected(spec, "secret"):
        return True
    return any(v.get("secret") is not None for v in volumes) or \
        any((v.get(source) or {}).get(ref) is not None for v in volumes for source, ref in SECRET_VOLUME_REFS.items())


def _references_configmaps(spec: dict) -> bool:
    return _env_refers(spec, "configMapKeyRef", "configMapRef") or _projected(spec, "configMap") or \
        any(v.get("configMap") is not None for v in spec.get("volumes") or ())


def _references_trust_bundles(spec: dict) -> bool:
    return _projected(spec, "clusterTrustBundle")
