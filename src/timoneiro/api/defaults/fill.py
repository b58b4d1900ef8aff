"""Go's two tests for "unset", which upstream's defaulters apply field by field, and safe walking.

A pointer field is unset when nil (absent or null on the wire). A plain field is unset when it holds
its zero value ("", 0, empty list or map), so an explicit zero in such a field is defaulted too.
Struct fields that are not pointers are always written by Go, even when empty; `ensure` and
`embedded_metadata` put those in so objects read back in upstream's shape.
"""

from __future__ import annotations

from typing import Any


def if_nil(obj: dict, key: str, value: Any) -> None:
    """Default a pointer field (*int32, *bool, *string ...)."""
    if obj.get(key) is None:
        obj[key] = value


def if_zero(obj: dict, key: str, value: Any) -> None:
    """Default a plain field (string, int32 ...) that holds its zero value."""
    if not obj.get(key):
        obj[key] = value


def child(obj: dict | None, key: str) -> dict | None:
    """The object under key, or None when absent or not an object."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(key)
    return value if isinstance(value, dict) else None


def ensure(obj: dict, key: str) -> dict:
    """The object under key, created empty when missing: a Go struct field that is always there."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = obj[key] = {}
    return value


def dicts(obj: dict | None, key: str) -> list[dict]:
    """The objects of the list under key (none when absent or null)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def embedded_metadata(obj: dict) -> None:
    """Metadata of a template inside an object: Go writes its zero creationTimestamp as null."""
    ensure(obj, "metadata").setdefault("creationTimestamp", None)
