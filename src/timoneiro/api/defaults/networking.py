"""Defaults of networking.k8s.io/v1 (pkg/apis/networking/v1/defaults.go); Ingress has none."""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.api.defaults import fill


def network_policy(obj: dict) -> None:
    """Ports are TCP; a policy without policyTypes is Ingress, plus Egress when it has egress rules."""
    spec = fill.ensure(obj, "spec")
    for direction in ("ingress", "egress"):
        for rule in fill.dicts(spec, direction):
            for port in fill.dicts(rule, "ports"):
                fill.if_nil(port, "protocol", "TCP")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def ingress_class(obj: dict) -> None:
    parameters = fill.child(fill.child(obj, "spec"), "parameters")
    if parameters is not None:
        fill.if_nil(parameters, "scope", "Cluster")


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "IngressClass": ingress_class,
    "NetworkPolicy": network_policy,
}
