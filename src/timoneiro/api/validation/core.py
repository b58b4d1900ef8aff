"""The core (v1) group: every kind's rules, built from pods, services, volumes and resources."""

from __future__ import annotations

import base64
import binascii
import json

from timoneiro.api.field import FieldError, duplicate, forbidden, invalid, not_supported, required, too_long
from timoneiro.api.validation import affinity, events, golit, meta, pods, resources, services, volumes
from timoneiro.api.validation.meta import child, index, key
from timoneiro.api.validation.names import (
    CIDR_ERROR,
    name_is_dns_label,
    name_is_dns_subdomain,
    parse_cidr,
)
from timoneiro.api.validation.rules import Rules, spec_of, with_meta

MAX_SECRET_SIZE = 1 << 20
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"
SERVICE_ACCOUNT_NAME_KEY = "kubernetes.io/service-account.name"
TAINTS_ANNOTATION = "scheduler.alpha.kubernetes.io/taints"
# secret type -> data keys it needs (all of them, or any one for basic-auth)
_SECRET_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


# --- Pod, PodTemplate, ReplicationController


def _pod_template(obj: dict) -> list[FieldError]:
    return pods.template_spec(obj.get("template"), "template")


def _rc_spec(obj: dict) -> list[FieldError]:
    spec = spec_of(obj)
    path = "spec"
    errs = meta.nonnegative(spec.get("minReadySeconds", 0), child(path, "minReadySeconds"))
    selector = spec.get("selector") or {}
    if not selector:
        errs.append(required(child(path, "selector"), ""))
    errs += meta.nonnegative(spec.get("replicas", 0), child(path, "replicas"))
    template = spec.get("template")
    if template is None:
        return errs + [required(child(path, "template"), "")]
    labels = (template.get("metadata") or {}).get("labels") or {}
    matches = all(labels.get(k) == v for k, v in selector.items())
    return errs + pods.workload_template(template, matches, child(path, "template"), "ReplicationController")


# --- Namespace, ConfigMap, Secret


def _namespace_finalizers(obj: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    for name in spec_of(obj).get("finalizers") or []:
        errs += meta.qualified_name(name, "spec.finalizers")
        if "/" not in name and name not in meta.STANDARD_FINALIZERS:
            errs.append(
                invalid(
                    "spec.finalizers",
                    name,
                    "name is neither a standard finalizer name nor is it fully qualified",
                )
            )
    return errs


def _decoded_size(value: str) -> int:
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return len(value)


def _config_map(obj: dict) -> list[FieldError]:
    data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
    errs: list[FieldError] = []
    for k in data:
        errs += volumes.config_map_key(k, key("data", k))
        if k in binary:
            errs.append(invalid(key("data", k), k, "duplicate of key present in binaryData"))
    for k in binary:
        errs += volumes.config_map_key(k, key("binaryData", k))
    size = sum(len(str(v).encode()) for v in data.values()) + sum(_decoded_size(v) for v in binary.values())
    if size > MAX_SECRET_SIZE:
        errs.append(too_long("", MAX_SECRET_SIZE))
    return errs


def _config_map_update(new: dict, old: dict) -> list[FieldError]:
    if not old.get("immutable"):
        return []
    errs = [] if new.get("immutable") else [forbidden("immutable", IMMUTABLE_WHEN_SET)]
    return errs + [
        forbidden(name, IMMUTABLE_WHEN_SET)
        for name in ("data", "binaryData")
        if (new.get(name) or None) != (old.get(name) or None)
    ]


def secret_data(obj: dict) -> dict[str, bytes]:
    """Data as the internal Secret holds it: base64 data decoded, stringData merged over it."""
    out: dict[str, bytes] = {}
    for k, v in (obj.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(v or "", validate=True)
        except (binascii.Error, ValueError):
            out[k] = str(v).encode()
    for k, v in (obj.get("stringData") or {}).items():
        out[k] = str(v).encode()
    return out


def _secret(obj: dict) -> list[FieldError]:
    data = secret_data(obj)
    errs: list[FieldError] = []
    for k in data:
        errs += volumes.config_map_key(k, key("data", k))
    if sum(len(v) for v in data.values()) > MAX_SECRET_SIZE:
        errs.append(too_long("data", MAX_SECRET_SIZE))
    kind = obj.get("type", "")
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if kind == "kubernetes.io/service-account-token" and not annotations.get(SERVICE_ACCOUNT_NAME_KEY):
        errs.append(required(key("metadata.annotations", SERVICE_ACCOUNT_NAME_KEY), ""))
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs += [required(key("data", "username"), ""), required(key("data", "password"), "")]
    elif kind == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            errs.append(required(key("data", "ssh-privatekey"), ""))
    elif kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        name = _SECRET_KEYS[kind][0]
        if name not in data:
            errs.append(required(key("data", name), ""))
        elif (problem := _json_object_error(data[name])) is not None:
            errs.append(invalid(key("data", name), "<secret contents redacted>", problem))
    elif kind == "kubernetes.io/tls":
        errs += [required(key("data", name), "") for name in _SECRET_KEYS[kind] if name not in data]
    return errs


def _json_object_error(raw: bytes) -> str | None:
    """Why encoding/json would refuse raw as a JSON object, in its words; None if it is one."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "invalid character looking for beginning of value"
    except json.JSONDecodeError as e:
        if e.pos >= len(e.doc.rstrip()):
            return "unexpected end of JSON input"
        wanted = "object key string" if e.msg.startswith("Expecting property name") else "value"
        return f"invalid character '{e.doc[e.pos]}' looking for beginning of {wanted}"
    if value is None or isinstance(value, dict):
        return None
    return golit.cannot_unmarshal(value, "map[string]interface {}")


def _secret_update(new: dict, old: dict) -> list[FieldError]:
    errs = meta.immutable(new.get("type", ""), old.get("type", ""), "type")
    if old.get("immutable"):
        if not new.get("immutable"):
            errs.append(forbidden("immutable", IMMUTABLE_WHEN_SET))
        if secret_data(new) != secret_data(old):
            errs.append(forbidden("data", IMMUTABLE_WHEN_SET))
    return errs


# --- Node


def _node(obj: dict) -> list[FieldError]:
    m, spec = obj.get("metadata") or {}, spec_of(obj)
    errs = _node_annotations(m)
    if spec.get("taints"):
        # upstream reports spec.taints under metadata
        errs += affinity.taints(spec["taints"], "metadata.taints")
    errs += _node_resources(obj)
    cidrs = spec.get("podCIDRs") or []
    for i, cidr in enumerate(cidrs):
        if parse_cidr(cidr) is None:
            errs.append(invalid(index("spec.podCIDRs", i), cidr, CIDR_ERROR))
    if len(cidrs) > 1:
        parsed = [parse_cidr(c) for c in cidrs]
        if None not in parsed and (len(cidrs) > 2 or len({n.version for n in parsed if n}) != 2):
            errs.append(
                invalid("spec.podCIDRs", cidrs, "may specify no more than one CIDR for each IP family")
            )
        seen: set[str] = set()
        for i, cidr in enumerate(cidrs):
            if cidr in seen:
                errs.append(duplicate(index("spec.podCIDRs", i), cidr))
            seen.add(cidr)
    return errs


def _node_annotations(m: dict) -> list[FieldError]:
    raw = (m.get("annotations") or {}).get(TAINTS_ANNOTATION)
    if not raw:
        return []
    try:
        taints = json.loads(raw)
    except json.JSONDecodeError as e:
        return [invalid("metadata.annotations", TAINTS_ANNOTATION, str(e))]
    return affinity.taints(
        taints if isinstance(taints, list) else [], child("metadata.annotations", TAINTS_ANNOTATION)
    )


def _node_resources(obj: dict) -> list[FieldError]:
    status = obj.get("status") or {}
    errs: list[FieldError] = []
    for section in ("capacity", "allocatable"):
        for name, text in (status.get(section) or {}).items():
            p = child("status", section, name)
            q, perrs = resources.parsed(text, p)
            errs += perrs
            if q is not None:
                errs += resources.quantity_value(name, q, text, p)
    return errs


def _node_update(new: dict, old: dict) -> list[FieldError]:
    spec, old_spec = spec_of(new), spec_of(old)
    errs = _node_annotations(new.get("metadata") or {}) + _node_resources(new)
    seen: list = []
    for i, address in enumerate((new.get("status") or {}).get("addresses") or []):
        if address in seen:
            errs.append(duplicate(index("status.addresses", i), address))
        seen.append(address)
    old_cidrs, cidrs = old_spec.get("podCIDRs") or [], spec.get("podCIDRs") or []
    cidr_msg = 'node updates may not change podCIDR except from "" to valid'
    if old_cidrs and len(old_cidrs) != len(cidrs):
        errs.append(forbidden("spec.podCIDRs", cidr_msg))
    elif old_cidrs:
        errs += [
            forbidden("spec.podCIDRs", cidr_msg) for a, b in zip(old_cidrs, cidrs, strict=True) if a != b
        ]
    if old_spec.get("providerID") and old_spec.get("providerID") != spec.get("providerID"):
        errs.append(
            forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid')
        )
    if spec.get("taints"):
        errs += affinity.taints(spec["taints"], "metadata.taints")
    if spec.get("externalID", "") != old_spec.get("externalID", ""):
        errs.append(forbidden("spec.externalID", "may not be updated"))
    return errs


# --- PersistentVolume and PersistentVolumeClaim


def _pv(obj: dict) -> list[FieldError]:
    return volumes.pv_spec(spec_of(obj), "spec")


def _pvc(obj: dict) -> list[FieldError]:
    return volumes.pvc_spec(spec_of(obj), "spec")


# --- LimitRange and ResourceQuota


def _limit_range(obj: dict) -> list[FieldError]:
    return resources.limit_range(spec_of(obj), "spec")


def _quota(obj: dict) -> list[FieldError]:
    errs = resources.quota_spec(spec_of(obj), "spec")
    status = obj.get("status") or {}
    for section in ("hard", "used"):
        errs += resources.quantity_map(
            status.get(section), child("status", section), resources.quota_resource_name
        )[1]
    return errs


def _quota_update(new: dict, old: dict) -> list[FieldError]:
    scopes = spec_of(new).get("scopes") or []
    if set(scopes) != set(spec_of(old).get("scopes") or []):
        return [invalid("spec.scopes", scopes, meta.IMMUTABLE)]
    return []


# --- Binding


def _binding_create(obj: dict) -> list[FieldError]:
    target = obj.get("target") or {}
    errs: list[FieldError] = []
    if target.get("kind") and target["kind"] != "Node":
        errs.append(not_supported("target.kind", target["kind"], ["Node", "<empty>"]))
    if not target.get("name"):
        errs.append(required("target.name", ""))
    return errs


def _no_update(new: dict, old: dict) -> list[FieldError]:
    return []


def _meta_update(new: dict, old: dict) -> list[FieldError]:
    return meta.object_meta_update(new.get("metadata") or {}, old.get("metadata") or {})


_node_rules = with_meta(False, name_is_dns_subdomain, _node)
_pv_rules = with_meta(False, name_is_dns_subdomain, _pv)
_pvc_rules = with_meta(True, name_is_dns_subdomain, _pvc)
_limit_range_rules = with_meta(True, name_is_dns_subdomain, _limit_range)


def _endpoints_update(new: dict, old: dict) -> list[FieldError]:
    return _meta_update(new, old) + services.validate_endpoints(new)


def _node_full_update(new: dict, old: dict) -> list[FieldError]:
    """The node strategy validates the new node as on create, then the update rules."""
    return _node_rules.create(new) + _meta_update(new, old) + _node_update(new, old)


def _pv_full_update(new: dict, old: dict) -> list[FieldError]:
    return _pv_rules.create(new) + volumes.pv_update(new, old)


def _pvc_full_update(new: dict, old: dict) -> list[FieldError]:
    return _meta_update(new, old) + _pvc_rules.create(new) + volumes.pvc_update(new, old)


def _limit_range_update(new: dict, old: dict) -> list[FieldError]:
    return _limit_range_rules.create(new)


RULES: dict[str, Rules] = {
    "Pod": Rules(pods.validate_pod_create, pods.validate_pod_update),
    "PodTemplate": with_meta(True, name_is_dns_subdomain, _pod_template),
    "ReplicationController": with_meta(True, name_is_dns_subdomain, _rc_spec),
    "Service": Rules(services.validate_service, services.validate_service_update),
    "Endpoints": Rules(services.validate_endpoints, _endpoints_update),
    "Namespace": Rules(with_meta(False, name_is_dns_label, _namespace_finalizers).create, _meta_update),
    "ConfigMap": with_meta(True, name_is_dns_subdomain, _config_map, _config_map_update, update_first=True),
    "Secret": with_meta(True, name_is_dns_subdomain, _secret, _secret_update, update_first=True),
    "ServiceAccount": with_meta(True, name_is_dns_subdomain, update_first=True),
    "Node": Rules(_node_rules.create, _node_full_update),
    "Event": Rules(events.create_core, events.update_core),
    "PersistentVolume": Rules(_pv_rules.create, _pv_full_update),
    "PersistentVolumeClaim": Rules(_pvc_rules.create, _pvc_full_update),
    "LimitRange": Rules(_limit_range_rules.create, _limit_range_update),
    "ResourceQuota": with_meta(True, name_is_dns_subdomain, _quota, _quota_update),
    "Binding": Rules(_binding_create, _no_update),
}
