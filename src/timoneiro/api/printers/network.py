"""Services, endpoints, endpoint slices, ingresses, ingress classes and network policies."""

from __future__ import annotations

from datetime import datetime

from timoneiro.api.printers.age import since
from timoneiro.api.printers.columns import (
    AGE,
    NAME,
    Printer,
    column,
    created,
    name,
    spec,
    status,
    wide,
    with_more,
)
from timoneiro.api.printers.labels import format_label_selector, format_labels

_LIST_MAX = 3


def service_cells(svc: dict, now: datetime) -> list:
    svc_spec = spec(svc)
    cluster_ips = svc_spec.get("clusterIPs") or ([svc_spec["clusterIP"]] if svc_spec.get("clusterIP") else [])
    return [
        name(svc),
        svc_spec.get("type", ""),
        cluster_ips[0] if cluster_ips else "<none>",
        _external_ip(svc),
        _ports(svc_spec.get("ports") or []) or "<none>",
        since(created(svc), now),
        format_labels(svc_spec.get("selector")),
    ]


def _external_ip(svc: dict) -> str:
    svc_spec = spec(svc)
    external = svc_spec.get("externalIPs") or []
    svc_type = svc_spec.get("type", "")
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if svc_type == "LoadBalancer":
        balancer = load_balancer_addresses(status(svc).get("loadBalancer"))
        if external:
            return ",".join([*balancer, *external])
        return ",".join(balancer) or "<pending>"
    if svc_type == "ExternalName":
        return svc_spec.get("externalName", "")
    return "<unknown>"


def load_balancer_addresses(lb_status: dict | None) -> list[str]:
    """The distinct ingress IPs (or hostnames) of a load balancer, sorted; the server never clips them."""
    found = {i.get("ip") or i.get("hostname") for i in (lb_status or {}).get("ingress") or []}
    return sorted(a for a in found if a)


def _ports(ports: list) -> str:
    pieces = []
    for port in ports:
        number, protocol = port.get("port", 0), port.get("protocol", "")
        node_port = port.get("nodePort") or 0
        pieces.append(f"{number}:{node_port}/{protocol}" if node_port > 0 else f"{number}/{protocol}")
    return ",".join(pieces)


def endpoints_cells(obj: dict, now: datetime) -> list:
    return [name(obj), _endpoints(obj.get("subsets") or []), since(created(obj), now)]


def _endpoints(subsets: list) -> str:
    """formatEndpoints: up to three ip:port pairs (bare IPs for port-less subsets), then a count of the rest."""
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:
            count += len(addresses)
            shown.extend(addresses[: _LIST_MAX - len(shown)])
            continue
        for port in ports:
            count += len(addresses)
            room = _LIST_MAX - len(shown)
            shown.extend(_host_port(ip, port.get("port", 0)) for ip in addresses[:room])
    return with_more(",".join(shown), count, _LIST_MAX)


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def endpoint_slice_cells(obj: dict, now: datetime) -> list:
    ports = [_slice_port(p) for p in obj.get("ports") or []]
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    return [name(obj), obj.get("addressType", ""), _first_few(ports), _first_few(addresses), since(created(obj), now)]


def _slice_port(port: dict) -> str:
    if port.get("port") is not None:
        return str(port["port"])
    return port["name"] if port.get("name") is not None else "*"


def _first_few(items: list[str]) -> str:
    """listWithMoreString: the first three, a count of the rest, "<unset>" for none."""
    return with_more(",".join(items[:_LIST_MAX]), len(items), _LIST_MAX) or "<unset>"


def ingress_cells(obj: dict, now: datetime) -> list:
    ing_spec = spec(obj)
    class_name = ing_spec.get("ingressClassName")
    return [
        name(obj),
        "<none>" if class_name is None else class_name,
        _hosts(ing_spec.get("rules") or []),
        ",".join(load_balancer_addresses(status(obj).get("loadBalancer"))),
        "80, 443" if ing_spec.get("tls") else "80",
        since(created(obj), now),
    ]


def _hosts(rules: list) -> str:
    """formatHosts: the first three hosts; the "more" count is of rules, and only if one follows the third."""
    with_host = [i for i, r in enumerate(rules) if r.get("host")][:_LIST_MAX]
    if not with_host:
        return "*"
    text = ",".join(rules[i]["host"] for i in with_host)
    if len(with_host) == _LIST_MAX and with_host[-1] < len(rules) - 1:
        return with_more(text, len(rules), _LIST_MAX)
    return text


def ingress_class_cells(obj: dict, now: datetime) -> list:
    params = spec(obj).get("parameters")
    parameters = "<none>"
    if params is not None:
        group = params.get("apiGroup")
        parameters = params.get("kind", "") + (f".{group}" if group is not None else "") + "/" + params.get("name", "")
    return [name(obj), spec(obj).get("controller", ""), parameters, since(created(obj), now)]


def network_policy_cells(obj: dict, now: datetime) -> list:
    selector = spec(obj).get("podSelector") or {}
    return [name(obj), format_label_selector(selector), since(created(obj), now)]


PRINTERS = {
    ("", "Service"): Printer(
        (
            NAME,
            column("Type", "How the service is exposed."),
            column("Cluster-IP", "The service's cluster IP."),
            column("External-IP", "Addresses the service is reachable at from outside the cluster."),
            column("Port(s)", "The ports the service exposes."),
            AGE,
            wide("Selector", "Labels of the pods the service routes to."),
        ),
        service_cells,
    ),
    ("", "Endpoints"): Printer(
        (NAME, column("Endpoints", "Addresses and ports of the endpoints."), AGE), endpoints_cells
    ),
    ("discovery.k8s.io", "EndpointSlice"): Printer(
        (
            NAME,
            column("AddressType", "The type of the slice's addresses."),
            column("Ports", "The ports of the slice."),
            column("Endpoints", "Addresses of the slice's endpoints."),
            AGE,
        ),
        endpoint_slice_cells,
    ),
    ("networking.k8s.io", "Ingress"): Printer(
        (
            NAME,
            column("Class", "The IngressClass that serves this ingress."),
            column("Hosts", "Hosts the ingress rules match."),
            column("Address", "Addresses of the load balancer."),
            column("Ports", "Ports the ingress opens."),
            AGE,
        ),
        ingress_cells,
    ),
    ("networking.k8s.io", "IngressClass"): Printer(
        (
            NAME,
            column("Controller", "The controller that handles this class."),
            column("Parameters", "The resource holding the class's parameters."),
            AGE,
        ),
        ingress_class_cells,
    ),
    ("networking.k8s.io", "NetworkPolicy"): Printer(
        (NAME, column("Pod-Selector", "Labels of the pods the policy applies to."), AGE), network_policy_cells
    ),
}
