"""networking.k8s.io/v1: Ingresses, IngressClasses and NetworkPolicies."""

from __future__ import annotations

from timoneiro.api.field import FieldError, Rendered, forbidden, invalid, not_supported, required
from timoneiro.api.validation import meta
from timoneiro.api.validation.meta import child, each_message, index
from timoneiro.api.validation.names import (
    CIDR_ERROR,
    is_dns1123_subdomain,
    is_valid_path_segment_name,
    is_valid_port_name,
    is_valid_port_num,
    is_wildcard_dns1123_subdomain,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    parse_cidr,
    parse_ip,
)
from timoneiro.api.validation.rules import Rules, spec_of, with_meta

PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]
INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
INVALID_PATH_SUFFIXES = ("/..", "/.")
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
MAX_CONTROLLER_LENGTH = 250


# --- NetworkPolicy


def _policy_port(port: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in ("TCP", "UDP", "SCTP"):
        errs.append(not_supported(child(path, "protocol"), protocol, ["TCP", "UDP", "SCTP"]))
    number, end = port.get("port"), port.get("endPort")
    if number is None:
        if end is not None:
            errs.append(
                invalid(child(path, "endPort"), end, "may not be specified when `port` is not specified")
            )
    elif isinstance(number, int):
        errs += each_message(child(path, "port"), number, is_valid_port_num(number))
        if end is not None:
            if end < number:
                errs.append(
                    invalid(child(path, "endPort"), number, "must be greater than or equal to `port`")
                )
            errs += each_message(child(path, "endPort"), end, is_valid_port_num(end))
    else:
        if end is not None:
            errs.append(
                invalid(child(path, "endPort"), end, "may not be specified when `port` is non-numeric")
            )
        errs += each_message(child(path, "port"), number, is_valid_port_name(number))
    return errs


def _ip_block(block: dict, path: str) -> list[FieldError]:
    cidr = block.get("cidr", "")
    if not cidr:
        return [required(child(path, "cidr"), "")]
    network = parse_cidr(cidr)
    if network is None:
        return [invalid(child(path, "cidr"), cidr, CIDR_ERROR)]
    errs: list[FieldError] = []
    for i, text in enumerate(block.get("except") or []):
        p = index(child(path, "except"), i)
        excluded = parse_cidr(text)
        if excluded is None:
            errs.append(invalid(p, text, CIDR_ERROR))
        elif (
            excluded.version != network.version
            or not excluded.subnet_of(network)
            or excluded.prefixlen <= network.prefixlen
        ):
            errs.append(invalid(p, text, "must be a strict subset of `cidr`"))
    return errs


def _peer(peer: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    count = 0
    for name in ("podSelector", "namespaceSelector"):
        if peer.get(name) is not None:
            count += 1
            errs += meta.label_selector(peer[name], child(path, name))
    if peer.get("ipBlock") is not None:
        count += 1
        errs += _ip_block(peer["ipBlock"], child(path, "ipBlock"))
    if count == 0:
        errs.append(required(path, "must specify a peer"))
    elif count > 1 and peer.get("ipBlock") is not None:
        errs.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def _network_policy(obj: dict) -> list[FieldError]:
    spec, path = spec_of(obj), "spec"
    errs = meta.label_selector(spec.get("podSelector") or {}, child(path, "podSelector"))
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            p = index(child(path, direction), i)
            for j, port in enumerate(rule.get("ports") or []):
                errs += _policy_port(port, index(child(p, "ports"), j))
            for j, peer in enumerate(rule.get(peers) or []):
                errs += _peer(peer, index(child(p, peers), j))
    types = spec.get("policyTypes") or []
    if len(types) > 2:
        return errs + [
            invalid(child(path, "policyTypes"), types, "may not specify more than two policyTypes")
        ]
    return errs + [
        not_supported(index(child(path, "policyTypes"), i), t, ["Ingress", "Egress"])
        for i, t in enumerate(types)
        if t not in ("Ingress", "Egress")
    ]


# --- Ingress


def _host(host: str, path: str) -> list[FieldError]:
    if "*" in host:
        return each_message(path, host, is_wildcard_dns1123_subdomain(host))
    return each_message(path, host, is_dns1123_subdomain(host))


def _typed_reference(ref: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if ref.get("apiGroup") is not None:
        errs += meta.dns1123_subdomain(ref["apiGroup"], child(path, "apiGroup"))
    for name in ("kind", "name"):
        if not ref.get(name):
            errs.append(required(child(path, name), f"{name} is required"))
        else:
            errs += each_message(child(path, name), ref[name], is_valid_path_segment_name(ref[name]))
    return errs


def _backend(backend: dict, path: str) -> list[FieldError]:
    resource, service = backend.get("resource"), backend.get("service")
    if resource is not None and service is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        return _typed_reference(resource, child(path, "resource"))
    if service is None:
        return [invalid(path, "", "resource or service backend is required")]
    errs: list[FieldError] = []
    name = service.get("name", "")
    if not name:
        errs.append(required(child(path, "service", "name"), ""))
    else:
        errs += meta.name_with(name_is_dns1035_label, name, child(path, "service", "name"))
    port = service.get("port") or {}
    port_name, number = port.get("name", ""), port.get("number", 0)
    if port_name and number:
        errs.append(invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        errs += each_message(child(path, "service", "port", "name"), port_name, is_valid_port_name(port_name))
    elif number:
        errs += each_message(child(path, "service", "port", "number"), number, is_valid_port_num(number))
    else:
        errs.append(required(path, "port name or number is required"))
    return errs


def _http_path(item: dict, path: str) -> list[FieldError]:
    kind = item.get("pathType")
    if kind is None:
        return [required(child(path, "pathType"), "pathType must be specified")]
    value = item.get("path", "")
    errs: list[FieldError] = []
    if kind in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.append(invalid(child(path, "path"), value, "must be an absolute path"))
        if value:
            errs += [
                invalid(child(path, "path"), value, f"must not contain '{seq}'")
                for seq in INVALID_PATH_SEQUENCES
                if seq in value
            ]
            errs += [
                invalid(child(path, "path"), value, f"cannot end with '{suffix}'")
                for suffix in INVALID_PATH_SUFFIXES
                if value.endswith(suffix)
            ]
    elif kind == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.append(invalid(child(path, "path"), value, "must be an absolute path"))
    else:
        errs.append(not_supported(child(path, "pathType"), kind, PATH_TYPES))
    return errs + _backend(item.get("backend") or {}, child(path, "backend"))


def _ingress_spec(spec: dict, path: str) -> list[FieldError]:
    rules, default = spec.get("rules") or [], spec.get("defaultBackend")
    errs: list[FieldError] = []
    if not rules and default is None:
        shown = "[]networking.IngressRule(nil)" if spec.get("rules") is None else "[]networking.IngressRule{}"
        errs.append(invalid(path, Rendered(shown), "either `defaultBackend` or `rules` must be specified"))
    if default is not None:
        errs += _backend(default, child(path, "defaultBackend"))
    for i, rule in enumerate(rules):
        p = index(child(path, "rules"), i)
        host = rule.get("host", "")
        if host:
            if parse_ip(host) is not None:
                errs.append(invalid(child(p, "host"), host, "must be a DNS name, not an IP address"))
            errs += _host(host, child(p, "host"))
        http = rule.get("http")
        if http is not None:
            paths = http.get("paths") or []
            if not paths:
                errs.append(required(child(p, "http", "paths"), ""))
            for j, item in enumerate(paths):
                errs += _http_path(item, index(child(p, "http", "paths"), j))
    for i, tls in enumerate(spec.get("tls") or []):
        p = index(child(path, "tls"), i)
        for j, host in enumerate(tls.get("hosts") or []):
            errs += _host(host, index(child(p, "hosts"), j))
        if tls.get("secretName"):
            errs += meta.name_with(name_is_dns_subdomain, tls["secretName"], child(p, "secretName"))
    if spec.get("ingressClassName") is not None:
        errs += meta.name_with(
            name_is_dns_subdomain, spec["ingressClassName"], child(path, "ingressClassName")
        )
    return errs


def _ingress(obj: dict) -> list[FieldError]:
    return _ingress_spec(spec_of(obj), "spec")


def _ingress_create(obj: dict) -> list[FieldError]:
    errs = meta.object_meta(obj.get("metadata") or {}, True, name_is_dns_subdomain) + _ingress(obj)
    annotation = ((obj.get("metadata") or {}).get("annotations") or {}).get(INGRESS_CLASS_ANNOTATION)
    class_name = spec_of(obj).get("ingressClassName")
    if annotation is not None and class_name is not None and annotation != class_name:
        errs.append(
            invalid(
                f"annotations.{INGRESS_CLASS_ANNOTATION}",
                annotation,
                "must match `ingressClassName` when both are specified",
            )
        )
    return errs


# --- IngressClass


def _ingress_class(obj: dict) -> list[FieldError]:
    spec = spec_of(obj)
    controller = spec.get("controller", "")
    errs: list[FieldError] = []
    if len(controller) > MAX_CONTROLLER_LENGTH:
        errs.append(
            FieldError("TooLong", "spec.controller", f"may not be more than {MAX_CONTROLLER_LENGTH} bytes")
        )
    errs += meta.domain_prefixed_path(controller, "spec.controller")
    params = spec.get("parameters")
    if params is None:
        return errs
    errs += _typed_reference(params, "spec.parameters")
    scope = params.get("scope")
    if scope is None:
        return errs + [required("spec.parameters.scope", "")]
    if scope not in ("Cluster", "Namespace"):
        return errs + [not_supported("spec.parameters.scope", scope, ["Cluster", "Namespace"])]
    if scope == "Namespace":
        if params.get("namespace") is None:
            errs.append(required("spec.parameters.namespace", "`parameters.scope` is set to 'Namespace'"))
        else:
            errs += meta.name_with(name_is_dns_label, params["namespace"], "spec.parameters.namespace")
    elif params.get("namespace") is not None:
        errs.append(forbidden("spec.parameters.namespace", "`parameters.scope` is set to 'Cluster'"))
    return errs


def _ingress_class_update(new: dict, old: dict) -> list[FieldError]:
    return meta.immutable(
        spec_of(new).get("controller", ""), spec_of(old).get("controller", ""), "spec.controller"
    )


_ingress_rules = with_meta(True, name_is_dns_subdomain, _ingress)

RULES: dict[str, Rules] = {
    "Ingress": Rules(_ingress_create, _ingress_rules.update),
    "IngressClass": with_meta(
        False, name_is_dns_subdomain, _ingress_class, _ingress_class_update, update_first=True
    ),
    "NetworkPolicy": with_meta(True, name_is_dns_subdomain, _network_policy),
}
