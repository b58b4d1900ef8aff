"""Upstream's definitions in the two shapes kube-apiserver publishes: Swagger 2.0 and OpenAPI 3.0.

kubernetes-validate stores them JSON-schema style (nullable type lists, `#/$defs/` refs, int-or-string
and quantity as oneOf, apiVersion/kind pinned by enum); publishing undoes exactly those changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from timoneiro.api import schema

V2_PREFIX = "#/definitions/"
V3_PREFIX = "#/components/schemas/"
_SOURCE_PREFIX = "#/$defs/"

INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

# the two types whose Go marshalling makes them strings in v2 and a oneOf in v3
_SCALARS: dict[str, tuple[dict, list[str]]] = {
    INT_OR_STRING: ({"description": "An integer or a string, e.g. a port number or name, or a count or percentage.",
                     "format": "int-or-string", "type": "string"}, ["integer", "string"]),
    QUANTITY: ({"description": "A fixed-point number written as a string with an optional SI or binary suffix, "
                               "e.g. \"100m\", \"1.5Gi\" or \"2\".",
                "type": "string"}, ["string", "number"]),
}


def _from_source(node: Any, parent_key: str = "") -> Any:
    if isinstance(node, list):
        return [_from_source(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref":
            out[key] = V2_PREFIX + value.removeprefix(_SOURCE_PREFIX)
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out[key] = types[0] if len(types) == 1 else types
        elif key == "enum" and parent_key in ("apiVersion", "kind"):
            continue
        elif key == "properties":
            out[key] = {name: _from_source(prop, name) for name, prop in value.items()}
        elif key in ("items", "additionalProperties", "allOf", "anyOf", "oneOf", "not"):
            out[key] = _from_source(value)
        else:
            out[key] = value
    return out


@functools.cache
def v2_definitions() -> dict[str, dict]:
    """Every upstream definition as /openapi/v2 publishes it."""
    out = {name: _from_source(d) for name, d in schema.definitions().items()}
    out.update({name: dict(v2) for name, (v2, _) in _SCALARS.items()})
    return out


def to_v3(node: Any) -> Any:
    """A v2 schema in v3 form: refs into components, and a ref with siblings wrapped in allOf."""
    if isinstance(node, list):
        return [to_v3(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref":
            out[key] = V3_PREFIX + value.removeprefix(V2_PREFIX)
        elif key == "properties":
            out[key] = {name: to_v3(prop) for name, prop in value.items()}
        elif key in ("items", "additionalProperties", "allOf", "anyOf", "oneOf", "not"):
            out[key] = to_v3(value)
        else:
            out[key] = value
    if "$ref" in out and len(out) > 1:
        out["allOf"] = [{"$ref": out.pop("$ref")}]
    return out


@functools.cache
def _builtin_v3(name: str) -> dict:
    if name in _SCALARS:
        v2, one_of = _SCALARS[name]
        out = {k: v for k, v in v2.items() if k != "type"}
        out["oneOf"] = [{"type": t} for t in one_of]
        return out
    return to_v3(v2_definitions()[name])


def v3_definition(name: str, extra: dict[str, dict]) -> dict | None:
    """A definition in v3 form, from `extra` (already v3, e.g. custom resources) or upstream's."""
    if name in extra:
        return extra[name]
    return _builtin_v3(name) if name in v2_definitions() else None


def refs(node: Any) -> Iterator[str]:
    """The definition names a schema (or a whole path item) refers to, with either prefix."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def closure(roots: Iterable[str], lookup: Callable[[str], dict | None]) -> dict[str, dict]:
    """The named definitions and everything they refer to, transitively."""
    out: dict[str, dict] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in out:
            continue
        found = lookup(name)
        if found is None:
            continue
        out[name] = found
        pending.extend(refs(found))
    return out
