"""discovery.k8s.io/v1: EndpointSlices."""

from __future__ import annotations

from timoneiro.api.field import FieldError, duplicate, invalid, required
from timoneiro.api.validation import meta
from timoneiro.api.validation.meta import child, each_message, index
from timoneiro.api.validation.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_label_value,
    name_is_dns_subdomain,
    parse_ip,
)
from timoneiro.api.validation.pods import protocol
from timoneiro.api.validation.rules import Rules, with_meta
from timoneiro.api.validation.services import non_special_ip

ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]
MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_PORTS = 20000
MAX_TOPOLOGY_LABELS = 16
MAX_ZONE_HINTS = 8


def fully_qualified_domain_name(name: str, path: str) -> list[FieldError]:
    """IsFullyQualifiedDomainName: a DNS subdomain of two or more labels, optionally ending in '.'."""
    if not name:
        return [required(path, "")]
    name = name.removesuffix(".")
    msgs = is_dns1123_subdomain(name)
    if msgs:
        return [invalid(path, name, ",".join(msgs))]
    if len(name.split(".")) < 2:
        return [invalid(path, name, "should be a domain with at least two segments separated by dots")]
    for label in name.split("."):
        msgs = is_dns1123_label(label)
        if msgs:
            return [invalid(path, label, ",".join(msgs))]
    return []


def _address(address: str, address_type: str, path: str) -> list[FieldError]:
    if address_type == "FQDN":
        return fully_qualified_domain_name(address, path)
    if address_type not in ("IPv4", "IPv6"):
        return []
    ip = parse_ip(address)
    version = 4 if address_type == "IPv4" else 6
    errs = (
        []
        if ip is not None and ip.version == version
        else [invalid(path, address, f"must be a valid {address_type} address")]
    )
    return errs + non_special_ip(address, path)


def _endpoint_slice(obj: dict) -> list[FieldError]:
    address_type = obj.get("addressType", "")
    errs = meta.one_of(address_type, ADDRESS_TYPES, "addressType")
    endpoints = obj.get("endpoints") or []
    if len(endpoints) > MAX_ENDPOINTS:
        errs.append(meta.too_many("endpoints", len(endpoints), MAX_ENDPOINTS))
    else:
        for i, endpoint in enumerate(endpoints):
            errs += _endpoint(endpoint, address_type, index("endpoints", i))
    return errs + _ports(obj.get("ports") or [])


def _endpoint(endpoint: dict, address_type: str, path: str) -> list[FieldError]:
    addresses = endpoint.get("addresses") or []
    address_path = child(path, "addresses")
    errs: list[FieldError] = []
    if not addresses:
        errs.append(required(address_path, "must contain at least 1 address"))
    elif len(addresses) > MAX_ADDRESSES:
        errs.append(meta.too_many(address_path, len(addresses), MAX_ADDRESSES))
    for i, address in enumerate(addresses):
        errs += _address(address, address_type, index(address_path, i))
    if endpoint.get("nodeName") is not None:
        errs += meta.name_with(name_is_dns_subdomain, endpoint["nodeName"], child(path, "nodeName"))
    topology = endpoint.get("deprecatedTopology") or {}
    if len(topology) > MAX_TOPOLOGY_LABELS:
        errs.append(meta.too_many(child(path, "deprecatedTopology"), len(topology), MAX_TOPOLOGY_LABELS))
    errs += meta.labels(topology, child(path, "deprecatedTopology"))
    if endpoint.get("hostname") is not None:
        errs += meta.dns1123_label(endpoint["hostname"], child(path, "hostname"))
    zones = ((endpoint.get("hints") or {}).get("forZones")) or []
    zones_path = child(path, "hints", "forZones")
    if len(zones) > MAX_ZONE_HINTS:
        return errs + [meta.too_many(zones_path, len(zones), MAX_ZONE_HINTS)]
    seen: set[str] = set()
    for i, zone in enumerate(zones):
        p = child(index(zones_path, i), "name")
        name = zone.get("name", "")
        if name in seen:
            errs.append(duplicate(p, name))
        seen.add(name)
        errs += each_message(p, name, is_label_value(name))
    return errs


def _ports(ports: list) -> list[FieldError]:
    if len(ports) > MAX_PORTS:
        return [meta.too_many("ports", len(ports), MAX_PORTS)]
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        p = index("ports", i)
        name = port.get("name", "")
        if name:
            errs += meta.dns1123_label(name, child(p, "name"))
        if name in names:
            errs.append(duplicate(child(p, "name"), name))
        names.add(name)
        errs += protocol(port.get("protocol", ""), child(p, "protocol"))
        if port.get("appProtocol") is not None:
            errs += meta.qualified_name(port["appProtocol"], child(p, "appProtocol"))
    return errs


def _endpoint_slice_update(new: dict, old: dict) -> list[FieldError]:
    return meta.immutable(new.get("addressType", ""), old.get("addressType", ""), "addressType")


def _endpoint_slice_full_update(new: dict, old: dict) -> list[FieldError]:
    return _rules.create(new) + _endpoint_slice_update(new, old)


_rules = with_meta(True, name_is_dns_subdomain, _endpoint_slice)

RULES: dict[str, Rules] = {
    "EndpointSlice": Rules(_rules.create, _endpoint_slice_full_update),
}
