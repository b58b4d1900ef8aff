"""Upstream's OpenAPI schemas (from kubernetes-validate) and walking them by field path.

Patch strategies, merge keys and list types all come from here, so that strategic merge patch,
server-side apply, OpenAPI and validation agree with kube-apiserver without hand-written tables.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any

SCHEMA_VERSION = "v1.32.0-local"


@functools.cache
def definitions() -> dict[str, dict]:
    """All upstream definitions, keyed by their OpenAPI name (io.k8s.api.core.v1.Pod)."""
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema" / SCHEMA_VERSION
    with (root / "_definitions.json").open("rb") as f:
        return json.load(f)["$defs"]


@functools.cache
def _by_gvk() -> dict[tuple[str, str, str], str]:
    out = {}
    for name, d in definitions().items():
        for gvk in d.get("x-kubernetes-group-version-kind", ()):
            out[(gvk["group"], gvk["version"], gvk["kind"])] = name
    return out


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The definition name of a kind, e.g. ("apps", "v1", "Deployment") -> io.k8s.api.apps.v1.Deployment."""
    return _by_gvk().get((group, version, kind))


def resolve(schema: dict | None) -> dict | None:
    """Follow a $ref (and a lone allOf wrapper) to the schema it names."""
    while schema:
        ref = schema.get("$ref")
        if ref:
            schema = definitions().get(ref.rsplit("/", 1)[-1])
            continue
        all_of = schema.get("allOf")
        if all_of and len(all_of) == 1 and "properties" not in schema:
            schema = all_of[0]
            continue
        return schema
    return None


def for_kind(group: str, version: str, kind: str) -> dict | None:
    name = definition_name(group, version, kind)
    return definitions()[name] if name else None


def field(schema: dict | None, name: str) -> dict | None:
    """The schema of property `name` of an object schema (additionalProperties for maps)."""
    schema = resolve(schema)
    if not schema:
        return None
    props = schema.get("properties")
    if props and name in props:
        return props[name]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def items(schema: dict | None) -> dict | None:
    """The schema of the elements of an array schema."""
    schema = resolve(schema)
    return schema.get("items") if schema else None


def list_info(schema: dict | None) -> dict[str, Any]:
    """Patch strategy, merge key and list type of an array field, as upstream annotates it."""
    if not schema:
        return {}
    keys = ("x-kubernetes-patch-strategy", "x-kubernetes-patch-merge-key",
            "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-map-type")
    return {k[len("x-kubernetes-"):]: schema[k] for k in keys if k in schema}


def walk(schema: dict | None, path: list[str | int]) -> dict | None:
    """The schema at a path of field names and list indexes below `schema`."""
    for part in path:
        schema = items(schema) if isinstance(part, int) else field(schema, part)
        if schema is None:
            return None
    return schema
