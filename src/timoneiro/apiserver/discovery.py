"""API discovery documents: the legacy per-group lists and the aggregated (apidiscovery.k8s.io/v2) form."""

from __future__ import annotations

import base64
import hashlib

from timoneiro.api.kinds import Kind, Registry

# subresource -> (response group, version, kind or None for the parent's kind, verbs)
SUBRESOURCES: dict[str, tuple[str, str, str | None, tuple[str, ...]]] = {
    "status": ("", "", None, ("get", "patch", "update")),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "binding": ("", "v1", "Binding", ("create",)),
    "eviction": ("policy", "v1", "Eviction", ("create",)),
    "log": ("", "v1", "Pod", ("get",)),
    "exec": ("", "v1", "PodExecOptions", ("create", "get")),
    "attach": ("", "v1", "PodAttachOptions", ("create", "get")),
    "portforward": ("", "v1", "PodPortForwardOptions", ("create", "get")),
    "proxy": ("", "v1", None, ("create", "delete", "get", "patch", "update")),
    "ephemeralcontainers": ("", "", None, ("get", "patch", "update")),
    "finalize": ("", "", None, ("update",)),
    "approval": ("", "", None, ("get", "patch", "update")),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ("create",)),
}
_PROXY_KINDS = {"pods": "PodProxyOptions", "services": "ServiceProxyOptions", "nodes": "NodeProxyOptions"}


def _sub_kind(kind: Kind, sub: str) -> tuple[str, str, str]:
    group, version, sub_kind, _ = SUBRESOURCES[sub]
    if sub == "proxy":
        return "", "v1", _PROXY_KINDS.get(kind.plural, kind.kind)
    if sub_kind is None:
        return kind.group, kind.version, kind.kind
    return group, version, sub_kind


def _storage_hash(kind: Kind) -> str:
    digest = hashlib.sha256(f"{kind.group}/{kind.storage_version}/{kind.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def resource_list(registry: Registry, group: str, version: str) -> dict:
    resources = []
    for kind in sorted(registry.in_group_version(group, version), key=lambda k: k.plural):
        entry = {"name": kind.plural, "singularName": kind.singular, "namespaced": kind.namespaced,
                 "kind": kind.kind, "verbs": list(kind.verbs)}
        if kind.short_names:
            entry["shortNames"] = list(kind.short_names)
        if kind.categories:
            entry["categories"] = list(kind.categories)
        if "list" in kind.verbs:
            entry["storageVersionHash"] = _storage_hash(kind)
        resources.append(entry)
        for sub in kind.subresources:
            g, v, k = _sub_kind(kind, sub)
            item = {"name": f"{kind.plural}/{sub}", "singularName": "", "namespaced": kind.namespaced,
                    "kind": k, "verbs": list(SUBRESOURCES[sub][3])}
            if (g, v) != (kind.group, kind.version):
                item["group"], item["version"] = g, v
            resources.append(item)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def api_versions(address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def api_group(registry: Registry, group: str) -> dict | None:
    versions = registry.groups().get(group)
    if not versions:
        return None
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs, "preferredVersion": gvs[0]}


def group_list(registry: Registry) -> dict:
    groups = [api_group(registry, g) for g in registry.groups() if g]
    for g in groups:
        del g["kind"], g["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def aggregated(registry: Registry, legacy: bool, api_version: str) -> dict:
    """APIGroupDiscoveryList for /api (legacy) or /apis."""
    items = []
    for group, versions in registry.groups().items():
        if (group == "") != legacy:
            continue
        vs = []
        for version in versions:
            resources = []
            for kind in sorted(registry.in_group_version(group, version), key=lambda k: k.plural):
                r = {"resource": kind.plural,
                     "responseKind": {"group": kind.group, "version": kind.version, "kind": kind.kind},
                     "scope": "Namespaced" if kind.namespaced else "Cluster",
                     "singularResource": kind.singular, "verbs": list(kind.verbs)}
                if kind.short_names:
                    r["shortNames"] = list(kind.short_names)
                if kind.categories:
                    r["categories"] = list(kind.categories)
                if kind.subresources:
                    r["subresources"] = []
                    for sub in kind.subresources:
                        g, v, k = _sub_kind(kind, sub)
                        r["subresources"].append({"subresource": sub,
                                                  "responseKind": {"group": g, "version": v, "kind": k},
                                                  "verbs": list(SUBRESOURCES[sub][3])})
                resources.append(r)
            vs.append({"version": version, "resources": resources, "freshness": "Current"})
        meta = {"creationTimestamp": None}
        if group:
            meta["name"] = group
        items.append({"metadata": meta, "versions": vs})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}
