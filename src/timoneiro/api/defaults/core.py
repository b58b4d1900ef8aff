"""Defaults of the core (v1) group, as pkg/apis/core/v1/defaults.go sets them.

Not here, because upstream sets them elsewhere: a Service's clusterIP(s), ipFamilies and
ipFamilyPolicy (the service REST storage allocates them), nodePorts, a Namespace's
spec.finalizers [kubernetes] (namespace strategy, on create only, so it can be removed later),
Pod status (pod strategy) and a Pod's service account, tolerations and priority (admission).
"""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.api.defaults import fill, podspec, quantity, volumes

CLIENT_IP_TIMEOUT_SECONDS = 10800
NAME_LABEL = "kubernetes.io/metadata.name"


def pod_template(obj: dict) -> None:
    podspec.template(fill.ensure(obj, "template"))


def replication_controller(obj: dict) -> None:
    """Selector and labels follow the template's labels when unset; one replica."""
    spec = fill.ensure(obj, "spec")
    template = fill.child(spec, "template")
    labels = fill.child(fill.child(template, "metadata"), "labels")
    if labels:
        fill.if_zero(spec, "selector", dict(labels))
        fill.if_zero(fill.ensure(obj, "metadata"), "labels", dict(labels))
    fill.if_nil(spec, "replicas", 1)
    podspec.template(template)


def service(obj: dict) -> None:
    spec = fill.ensure(obj, "spec")
    fill.if_zero(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = fill.child(fill.child(spec, "sessionAffinityConfig"), "clientIP")
        if client_ip is None or client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": CLIENT_IP_TIMEOUT_SECONDS}}
    fill.if_zero(spec, "type", "ClusterIP")
    for port in fill.dicts(spec, "ports"):
        fill.if_zero(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port", 0)
    kind = spec["type"]
    if kind in ("LoadBalancer", "NodePort") or (kind == "ClusterIP" and spec.get("externalIPs")):
        fill.if_zero(spec, "externalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        fill.if_nil(spec, "internalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        fill.if_nil(spec, "allocateLoadBalancerNodePorts", True)
        for ingress in fill.dicts(fill.child(fill.child(obj, "status"), "loadBalancer"), "ingress"):
            if ingress.get("ip"):
                fill.if_nil(ingress, "ipMode", "VIP")


def secret(obj: dict) -> None:
    fill.if_zero(obj, "type", "Opaque")


def namespace(obj: dict) -> None:
    """The name label (kept in step with the name) and phase Active."""
    meta = fill.ensure(obj, "metadata")
    if meta.get("name"):
        fill.ensure(meta, "labels")[NAME_LABEL] = meta["name"]
    fill.if_zero(fill.ensure(obj, "status"), "phase", "Active")


def node(obj: dict) -> None:
    """Allocatable starts as capacity."""
    status = fill.child(obj, "status")
    if status is None:
        return
    capacity = fill.child(status, "capacity")
    if status.get("allocatable") is None and capacity is not None:
        status["allocatable"] = dict(capacity)
    quantity.resource_list(status, "capacity")
    quantity.resource_list(status, "allocatable")


def persistent_volume(obj: dict) -> None:
    fill.if_zero(fill.ensure(obj, "status"), "phase", "Pending")
    spec = fill.ensure(obj, "spec")
    fill.if_zero(spec, "persistentVolumeReclaimPolicy", "Retain")
    fill.if_nil(spec, "volumeMode", "Filesystem")
    persistent_volume_source(spec)


def persistent_volume_source(spec: dict) -> None:
    """The capacity and sources of a PersistentVolumeSpec, also found inline in VolumeAttachments."""
    quantity.resource_list(spec, "capacity")
    volumes.source(spec)


def endpoints(obj: dict) -> None:
    for subset in fill.dicts(obj, "subsets"):
        for port in fill.dicts(subset, "ports"):
            fill.if_zero(port, "protocol", "TCP")


def limit_range(obj: dict) -> None:
    """Container limits: default from max, defaultRequest from default, then from min."""
    for item in fill.dicts(fill.child(obj, "spec"), "limits"):
        if item.get("type") == "Container":
            default = dict(fill.child(item, "default") or {})
            request = dict(fill.child(item, "defaultRequest") or {})
            for name, value in (fill.child(item, "max") or {}).items():
                default.setdefault(name, value)
            for source in (default, fill.child(item, "min") or {}):
                for name, value in source.items():
                    request.setdefault(name, value)
            for key, values in (("default", default), ("defaultRequest", request)):
                if values:
                    item[key] = values
        for key in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            quantity.resource_list(item, key)


def resource_quota(obj: dict) -> None:
    quantity.resource_list(fill.child(obj, "spec"), "hard")
    status = fill.child(obj, "status")
    quantity.resource_list(status, "hard")
    quantity.resource_list(status, "used")


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "Endpoints": endpoints,
    "LimitRange": limit_range,
    "Namespace": namespace,
    "Node": node,
    "PersistentVolume": persistent_volume,
    "PersistentVolumeClaim": volumes.claim,
    "Pod": podspec.pod,
    "PodTemplate": pod_template,
    "ReplicationController": replication_controller,
    "ResourceQuota": resource_quota,
    "Secret": secret,
    "Service": service,
}
