"""Dropping what a structural schema does not describe, as custom objects are decoded.

Unknown fields go (and are reported, for fieldValidation Warn and Strict) unless the schema preserves
unknown fields there; apiVersion, kind and metadata are left alone at the root and in embedded
resources. Nulls go too where the schema neither allows nor defaults them.
"""

from __future__ import annotations

from typing import Any

_META = ("apiVersion", "kind", "metadata")
_UNDESCRIBED: Any = object()  # additionalProperties: true, a schema-less value


def child(schema: dict | None, key: str) -> dict | None | Any:
    """The schema of a map entry: its property, else additionalProperties, else _UNDESCRIBED / None."""
    if schema is None:
        return None
    props = schema.get("properties") or {}
    if key in props:
        return props[key]
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    return _UNDESCRIBED if extra is True else None


def prune(x: Any, schema: dict, resource_root: bool = True) -> list[str]:
    """Prune a value in place; return the dropped fields' paths, sorted (e.g. "spec.foo").

    A resource root (a whole object) keeps apiVersion, kind and metadata, as an embedded resource does.
    """
    unknown: list[str] = []
    _prune(x, {**schema, "x-kubernetes-embedded-resource": True} if resource_root else schema, "", unknown)
    return sorted(unknown)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _prune(x: Any, s: dict | None, path: str, unknown: list[str]) -> None:
    if s is not None and s.get("x-kubernetes-preserve-unknown-fields"):
        _prune_known(x, s, path, unknown)
        return
    if isinstance(x, dict):
        for key in list(x):
            if s is not None and s.get("x-kubernetes-embedded-resource") and key in _META:
                continue
            sub = child(s, key)
            if sub is None:
                if key not in _META or path:
                    unknown.append(_join(path, key))
                del x[key]
            else:
                _prune(x[key], None if sub is _UNDESCRIBED else sub, _join(path, key), unknown)
    elif isinstance(x, list):
        items = s.get("items") if s is not None else None
        for i, value in enumerate(x):
            _prune(value, items if isinstance(items, dict) else None, f"{path}[{i}]", unknown)


def _prune_known(x: Any, s: dict, path: str, unknown: list[str]) -> None:
    """Under preserve-unknown-fields only the fields the schema does describe are pruned inside."""
    if isinstance(x, dict):
        for key, value in x.items():
            if s.get("x-kubernetes-embedded-resource") and key in _META:
                continue
            sub = child(s, key)
            if sub is not None:
                _prune(value, None if sub is _UNDESCRIBED else sub, _join(path, key), unknown)
    elif isinstance(x, list):
        items = s.get("items")
        if isinstance(items, dict):
            for i, value in enumerate(x):
                _prune_known(value, items, f"{path}[{i}]", unknown)


def drop_nulls(x: Any, s: dict | None) -> None:
    """Remove nulls the schema neither allows (nullable) nor defaults."""
    if isinstance(x, dict):
        for key in list(x):
            sub = child(s, key)
            sub = None if sub is _UNDESCRIBED else sub
            if x[key] is None and sub is not None and not sub.get("nullable") and "default" not in sub:
                del x[key]
            else:
                drop_nulls(x[key], sub)
    elif isinstance(x, list):
        items = s.get("items") if s is not None else None
        for value in x:
            drop_nulls(value, items if isinstance(items, dict) else None)
