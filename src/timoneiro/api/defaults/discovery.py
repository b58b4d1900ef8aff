"""Defaults of discovery.k8s.io/v1 EndpointSlices (pkg/apis/discovery/v1/defaults.go)."""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.api.defaults import fill


def endpoint_slice(obj: dict) -> None:
    for port in fill.dicts(obj, "ports"):
        fill.if_nil(port, "name", "")
        fill.if_nil(port, "protocol", "TCP")


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "EndpointSlice": endpoint_slice,
}
