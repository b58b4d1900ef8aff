"""Services and Endpoints."""

from __future__ import annotations

from timoneiro.api.field import FieldError, duplicate, forbidden, invalid, required
from timoneiro.api.validation import golit, meta
from timoneiro.api.validation.meta import child, index
from timoneiro.api.validation.names import (
    CIDR_ERROR,
    IP_ERROR,
    is_valid_port_num,
    name_is_dns1035_label,
    name_is_dns_subdomain,
    parse_cidr,
    parse_ip,
)
from timoneiro.api.validation.pods import port_num_or_name, protocol

SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
TRAFFIC_POLICIES = ["Cluster", "Local"]
IP_FAMILIES = ["IPv4", "IPv6"]
IP_FAMILY_POLICIES = ["PreferDualStack", "RequireDualStack", "SingleStack"]
MAX_AFFINITY_SECONDS = 86400
TOPOLOGY_MODE = "service.kubernetes.io/topology-mode"
TOPOLOGY_HINTS = "service.kubernetes.io/topology-aware-hints"
SOURCE_RANGES = "service.beta.kubernetes.io/load-balancer-source-ranges"


def _is_headless(spec: dict) -> bool:
    return (spec.get("clusterIPs") or []) == ["None"]


def _externally_accessible(spec: dict) -> bool:
    return spec.get("type") in ("LoadBalancer", "NodePort") or (
        spec.get("type") == "ClusterIP" and bool(spec.get("externalIPs"))
    )


def _needs_health_check(spec: dict) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def non_special_ip(ip: str, path: str) -> list[FieldError]:
    """ValidateNonSpecialIP: endpoints and external IPs may not be unspecified, loopback or link-local."""
    addr = parse_ip(ip)
    if addr is None:
        return [invalid(path, ip, "must be a valid IP address")]
    errs: list[FieldError] = []
    if addr.is_unspecified:
        errs.append(invalid(path, ip, f"may not be unspecified ({ip})"))
    if addr.is_loopback:
        errs.append(invalid(path, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if addr.is_link_local and not addr.is_multicast:
        errs.append(invalid(path, ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if addr.is_multicast and (str(addr).startswith("224.0.0.") or str(addr).lower().startswith("ff02:")):
        errs.append(
            invalid(path, ip, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
        )
    return errs


def _port(port: dict, require_name: bool, names: set[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = port.get("name", "")
    if require_name and not name:
        errs.append(required(child(path, "name"), ""))
    elif name:
        errs += meta.dns1123_label(name, child(path, "name"))
        if name in names:
            errs.append(duplicate(child(path, "name"), name))
        names.add(name)
    errs += meta.each_message(
        child(path, "port"), port.get("port", 0), is_valid_port_num(port.get("port", 0))
    )
    errs += protocol(port.get("protocol", ""), child(path, "protocol"))
    errs += port_num_or_name(port.get("targetPort"), child(path, "targetPort"))
    if port.get("appProtocol") is not None:
        errs += meta.qualified_name(port["appProtocol"], child(path, "appProtocol"))
    return errs


def _cluster_ips(spec: dict) -> list[FieldError]:
    """ValidateServiceClusterIPsRelatedFields: clusterIP and clusterIPs agree, families line up."""
    if spec.get("type") == "ExternalName":
        return []
    errs: list[FieldError] = []
    ips, cluster_ip = spec.get("clusterIPs") or [], spec.get("clusterIP", "")
    path = "spec.clusterIPs"
    if cluster_ip:
        if not ips:
            errs.append(required(path, ""))
        elif ips[0] != cluster_ip:
            errs.append(invalid(path, golit.string_slice(ips), "first value must match `clusterIP`"))
    elif ips:
        errs.append(invalid(path, golit.string_slice(ips), "must be empty when `clusterIP` is not specified"))
    seen: set[str] = set()
    for i, family in enumerate(spec.get("ipFamilies") or []):
        errs += meta.supported(family, IP_FAMILIES, index("spec.ipFamilies", i))
        if family in seen:
            errs.append(duplicate(index("spec.ipFamilies", i), family))
        seen.add(family)
    if spec.get("ipFamilyPolicy") is not None:
        errs += meta.supported(spec["ipFamilyPolicy"], IP_FAMILY_POLICIES, "spec.ipFamilyPolicy")
    bad_ips = False
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                bad_ips = True
                errs.append(invalid(path, golit.string_slice(ips), "'None' must be the first and only value"))
            continue
        if parse_ip(ip) is None:
            bad_ips = True
            errs.append(invalid(index(path, i), ip, IP_ERROR))
    if len(ips) > 2:
        errs.append(invalid(path, golit.string_slice(ips), "may only hold up to 2 values"))
    if bad_ips:
        return errs
    if len(ips) > 1 and len({parse_ip(ip).version for ip in ips}) != 2:  # type: ignore[union-attr]
        errs.append(
            invalid(path, golit.string_slice(ips), "may specify no more than one IP for each IP family")
        )
    if not _is_headless(spec):
        for i, (ip, family) in enumerate(zip(ips, spec.get("ipFamilies") or [], strict=False)):
            version = parse_ip(ip).version  # type: ignore[union-attr]
            if family == "IPv4" and version == 6:
                errs.append(
                    invalid(index(path, i), ip, f"expected an IPv4 value as indicated by `ipFamilies[{i}]`")
                )
            if family == "IPv6" and version != 6:
                errs.append(
                    invalid(index(path, i), ip, f"expected an IPv6 value as indicated by `ipFamilies[{i}]`")
                )
    return errs


def validate_service(svc: dict) -> list[FieldError]:
    m, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    annotations = m.get("annotations") or {}
    errs = meta.object_meta(m, True, name_is_dns1035_label)
    if (
        TOPOLOGY_MODE in annotations
        and TOPOLOGY_HINTS in annotations
        and annotations[TOPOLOGY_MODE] != annotations[TOPOLOGY_HINTS]
    ):
        errs.append(
            invalid(
                f"metadata.annotations[{TOPOLOGY_MODE}]",
                annotations[TOPOLOGY_MODE],
                f"must match annotations[{TOPOLOGY_HINTS}] when both are specified",
            )
        )
    stype = spec.get("type", "")
    ports = spec.get("ports") or []
    if not ports and not _is_headless(spec) and stype != "ExternalName":
        errs.append(required("spec.ports", ""))
    if stype in ("LoadBalancer", "NodePort") and _is_headless(spec):
        errs.append(invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {stype} services"))
    elif stype == "ExternalName":
        for name in ("clusterIPs", "ipFamilies"):
            if spec.get(name):
                errs.append(forbidden(child("spec", name), "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            errs.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        cname = spec.get("externalName", "").removesuffix(".")
        errs += (
            meta.dns1123_subdomain(cname, "spec.externalName")
            if cname
            else [required("spec.externalName", "")]
        )
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _port(port, len(ports) > 1, names, index("spec.ports", i))
    if spec.get("selector") is not None:
        errs += meta.labels(spec["selector"], "spec.selector")
    affinity = spec.get("sessionAffinity", "")
    errs += meta.one_of(affinity, ["ClientIP", "None"], "spec.sessionAffinity")
    if affinity == "ClientIP":
        errs += _client_ip_config(spec.get("sessionAffinityConfig"), "spec.sessionAffinityConfig")
    elif affinity == "None" and spec.get("sessionAffinityConfig") is not None:
        errs.append(forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"))
    errs += _cluster_ips(spec)
    for i, ip in enumerate(spec.get("externalIPs") or []):
        p = index("spec.externalIPs", i)
        errs += [invalid(p, ip, IP_ERROR)] if parse_ip(ip) is None else non_special_ip(ip, p)
    errs += meta.one_of(stype, SERVICE_TYPES, "spec.type")
    if stype == "ClusterIP":
        errs += [
            forbidden(child(index("spec.ports", i), "nodePort"), "may not be used when `type` is 'ClusterIP'")
            for i, port in enumerate(ports)
            if port.get("nodePort")
        ]
    errs += _duplicate_ports(ports)
    errs += _source_ranges(spec, annotations)
    if spec.get("allocateLoadBalancerNodePorts") is not None and stype != "LoadBalancer":
        errs.append(
            forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'")
        )
    if stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        errs.append(required("allocateLoadBalancerNodePorts", ""))
    if stype == "LoadBalancer":
        if spec.get("loadBalancerClass") is not None:
            errs += meta.qualified_name(spec["loadBalancerClass"], "spec.loadBalancerClass")
    elif spec.get("loadBalancerClass") is not None:
        errs.append(forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'"))
    errs += _traffic_policies(spec)
    distribution = spec.get("trafficDistribution")
    if distribution is not None:
        errs += meta.supported(distribution, ["PreferClose"], "spec.trafficDistribution")
    return errs


def _client_ip_config(config: dict | None, path: str) -> list[FieldError]:
    detail = "when session affinity type is ClientIP"
    if config is None:
        return [required(path, detail)]
    client_ip = config.get("clientIP")
    if client_ip is None:
        return [required(child(path, "clientIP"), detail)]
    timeout = client_ip.get("timeoutSeconds")
    if timeout is None:
        return [required(child(path, "clientIP", "timeoutSeconds"), detail)]
    if not 0 < timeout <= MAX_AFFINITY_SECONDS:
        return [
            invalid(
                child(path, "clientIP", "timeoutSeconds"),
                timeout,
                f"must be greater than 0 and less than {MAX_AFFINITY_SECONDS}",
            )
        ]
    return []


def _duplicate_ports(ports: list) -> list[FieldError]:
    errs: list[FieldError] = []
    node_ports: set[tuple] = set()
    for i, port in enumerate(ports):
        if not port.get("nodePort"):
            continue
        pair = (port.get("protocol", ""), port["nodePort"])
        if pair in node_ports:
            errs.append(duplicate(child(index("spec.ports", i), "nodePort"), port["nodePort"]))
        node_ports.add(pair)
    seen: set[tuple] = set()
    for i, port in enumerate(ports):
        pair = (port.get("protocol", ""), port.get("port", 0))
        if pair in seen:
            errs.append(
                duplicate(
                    index("spec.ports", i),
                    golit.struct(
                        "core.ServicePort",
                        [
                            ("Name", '""'),
                            ("Protocol", golit.go_string(pair[0])),
                            ("AppProtocol", "(*string)(nil)"),
                            ("Port", str(pair[1])),
                            ("TargetPort", 'intstr.IntOrString{Type:0, IntVal:0, StrVal:""}'),
                            ("NodePort", "0"),
                        ],
                    ),
                )
            )
        seen.add(pair)
    return errs


def _source_ranges(spec: dict, annotations: dict) -> list[FieldError]:
    ranges = spec.get("loadBalancerSourceRanges") or []
    errs: list[FieldError] = []
    if ranges:
        path = "spec.LoadBalancerSourceRanges"
        if spec.get("type") != "LoadBalancer":
            errs.append(forbidden(path, "may only be used when `type` is 'LoadBalancer'"))
        errs += [
            invalid(index(path, i), value.strip(), CIDR_ERROR)
            for i, value in enumerate(ranges)
            if parse_cidr(value.strip()) is None
        ]
    elif SOURCE_RANGES in annotations:
        path = f"metadata.annotations[{SOURCE_RANGES}]"
        if spec.get("type") != "LoadBalancer":
            errs.append(forbidden(path, "may only be used when `type` is 'LoadBalancer'"))
        value = annotations[SOURCE_RANGES].strip()
        if value:
            errs += [
                invalid(path, cidr.strip(), CIDR_ERROR)
                for cidr in value.split(",")
                if parse_cidr(cidr.strip()) is None
            ]
    return errs


def _traffic_policies(spec: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    external = spec.get("externalTrafficPolicy", "")
    if not _externally_accessible(spec):
        if external:
            errs.append(
                invalid(
                    "spec.externalTrafficPolicy",
                    external,
                    "may only be set for externally-accessible services",
                )
            )
    elif not external:
        errs.append(required("spec.externalTrafficPolicy", ""))
    else:
        errs += meta.supported(external, TRAFFIC_POLICIES, "spec.externalTrafficPolicy")
    health = spec.get("healthCheckNodePort", 0)
    if not _needs_health_check(spec):
        if health:
            errs.append(
                invalid(
                    "spec.healthCheckNodePort",
                    health,
                    "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
                )
            )
    elif health:
        # an unset port is the allocator's to fill in, before kube-apiserver validates
        errs += meta.each_message("spec.healthCheckNodePort", health, is_valid_port_num(health))
    internal = spec.get("internalTrafficPolicy")
    if internal is None:
        if spec.get("type") in ("NodePort", "LoadBalancer", "ClusterIP"):
            errs.append(required("spec.internalTrafficPolicy", ""))
    else:
        errs += meta.supported(internal, TRAFFIC_POLICIES, "spec.internalTrafficPolicy")
    return errs


def validate_service_update(new: dict, old: dict) -> list[FieldError]:
    """ValidateServiceUpdate: assigned addresses, IP families and the load balancer class stay put."""
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    errs = meta.object_meta_update(new.get("metadata") or {}, old.get("metadata") or {})
    if "ExternalName" not in (spec.get("type"), old_spec.get("type")):
        errs += _cluster_ip_changes(spec, old_spec)
        errs += _family_changes(spec, old_spec)
    if spec.get("type") == "LoadBalancer" == old_spec.get("type") and spec.get(
        "loadBalancerClass"
    ) != old_spec.get("loadBalancerClass"):
        errs.append(
            invalid("spec.loadBalancerClass", spec.get("loadBalancerClass"), "may not change once set")
        )
    if (
        _needs_health_check(spec)
        and _needs_health_check(old_spec)
        and spec.get("healthCheckNodePort") != old_spec.get("healthCheckNodePort")
    ):
        errs.append(forbidden("spec.healthCheckNodePort", "field is immutable"))
    return errs + validate_service(new)


def _cluster_ip_changes(spec: dict, old_spec: dict) -> list[FieldError]:
    if _is_headless(spec) and _is_headless(old_spec):
        return []
    ips, old_ips = spec.get("clusterIPs") or [], old_spec.get("clusterIPs") or []
    shown = golit.string_slice(ips)
    errs: list[FieldError] = []
    if len(ips) == len(old_ips):
        errs += [
            invalid(index("spec.clusterIPs", i), shown, "may not change once set")
            for i, ip in enumerate(old_ips)
            if ip != ips[i]
        ]
    elif len(old_ips) > len(ips):
        if not ips:
            errs.append(invalid("spec.clusterIPs[0]", shown, "primary clusterIP can not be unset"))
        elif ips[0] != old_ips[0]:
            errs.append(invalid("spec.clusterIPs[0]", shown, "may not change once set"))
        if len(ips) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
            errs.append(
                invalid(
                    "spec.ipFamilyPolicy",
                    spec.get("ipFamilyPolicy"),
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                )
            )
    elif old_ips and ips[0] != old_ips[0]:
        errs.append(invalid("spec.clusterIPs[0]", shown, "may not change once set"))
    return errs


def _family_changes(spec: dict, old_spec: dict) -> list[FieldError]:
    if _is_headless(spec) or _is_headless(old_spec):
        return []
    families, old_families = spec.get("ipFamilies") or [], old_spec.get("ipFamilies") or []
    shown = golit.string_slice(families, "core.IPFamily")
    errs: list[FieldError] = []
    if len(families) == len(old_families):
        errs += [
            invalid("spec.ipFamilies[0]", shown, "may not change once set")
            for i, family in enumerate(old_families)
            if family != families[i]
        ]
    elif len(old_families) > len(families):
        if not spec.get("clusterIPs"):
            errs.append(invalid("spec.ipFamilies[0]", shown, "primary ipFamily can not be unset"))
        if families and families[0] != old_families[0]:
            errs.append(
                invalid(
                    "spec.ipFamilies[0]",
                    golit.string_slice(spec.get("clusterIPs")),
                    "may not change once set",
                )
            )
        if len(families) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
            errs.append(
                invalid(
                    "spec.ipFamilyPolicy",
                    spec.get("ipFamilyPolicy"),
                    "must be set to 'SingleStack' when releasing the secondary ipFamily",
                )
            )
    elif old_families and families and families[0] != old_families[0]:
        errs.append(
            invalid(
                "spec.ipFamilies[0]", golit.string_slice(spec.get("clusterIPs")), "may not change once set"
            )
        )
    return errs


def validate_endpoints(ep: dict) -> list[FieldError]:
    errs = meta.object_meta(ep.get("metadata") or {}, True, name_is_dns_subdomain)
    for i, subset in enumerate(ep.get("subsets") or []):
        p = index("subsets", i)
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            errs.append(required(p, "must specify `addresses` or `notReadyAddresses`"))
        for name in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(subset.get(name) or []):
                errs += _endpoint_address(address, index(child(p, name), j))
        ports = subset.get("ports") or []
        for j, port in enumerate(ports):
            errs += _endpoint_port(port, len(ports) > 1, index(child(p, "ports"), j))
    return errs


def _endpoint_address(address: dict, path: str) -> list[FieldError]:
    ip = address.get("ip", "")
    errs = [invalid(child(path, "ip"), ip, IP_ERROR)] if parse_ip(ip) is None else []
    if address.get("hostname"):
        errs += meta.dns1123_label(address["hostname"], child(path, "hostname"))
    if address.get("nodeName") is not None:
        errs += meta.name_with(name_is_dns_subdomain, address["nodeName"], child(path, "nodeName"))
    return errs + non_special_ip(ip, child(path, "ip"))


def _endpoint_port(port: dict, require_name: bool, path: str) -> list[FieldError]:
    name = port.get("name", "")
    errs: list[FieldError] = []
    if require_name and not name:
        errs.append(required(child(path, "name"), ""))
    elif name:
        errs += meta.dns1123_label(name, child(path, "name"))
    errs += meta.each_message(
        child(path, "port"), port.get("port", 0), is_valid_port_num(port.get("port", 0))
    )
    errs += protocol(port.get("protocol", ""), child(path, "protocol"))
    if port.get("appProtocol") is not None:
        errs += meta.qualified_name(port["appProtocol"], child(path, "appProtocol"))
    return errs
