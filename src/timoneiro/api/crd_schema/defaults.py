"""Applying a structural schema's defaults to a custom object, as kube-apiserver does on decoding."""

from __future__ import annotations

import copy
from typing import Any

from timoneiro.api.crd_schema.prune import child, prune


def _non_nullable_null(value: Any, s: Any) -> bool:
    return value is None and isinstance(s, dict) and not s.get("nullable")


def _default_of(s: dict) -> Any:
    """A copy of a schema's default, pruned to what the schema describes (upstream prunes defaults)."""
    value = copy.deepcopy(s["default"])
    prune(value, s, resource_root=bool(s.get("x-kubernetes-embedded-resource")))
    return value


def apply(x: Any, s: dict | None) -> None:
    """Fill in missing (and non-nullable null) fields that have defaults, outside in."""
    if s is None:
        return
    if isinstance(x, dict):
        for key, prop in (s.get("properties") or {}).items():
            if prop.get("default") is not None and (key not in x or _non_nullable_null(x[key], prop)):
                x[key] = _default_of(prop)
        for key in x:
            sub = child(s, key)
            if isinstance(sub, dict):
                if key not in (s.get("properties") or {}) and _non_nullable_null(x[key], sub) and "default" in sub:
                    x[key] = _default_of(sub)
                apply(x[key], sub)
    elif isinstance(x, list):
        items = s.get("items")
        if isinstance(items, dict):
            for i, value in enumerate(x):
                if _non_nullable_null(value, items) and "default" in items:
                    x[i] = _default_of(items)
                apply(x[i], items)
