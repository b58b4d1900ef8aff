"""Decoded JSON values named and printed the way Go's encoding/json and fmt do in upstream's error texts."""

from __future__ import annotations

from typing import Any


def json_kind(value: Any) -> str:
    """The word encoding/json's UnmarshalTypeError uses for a JSON value."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


def cannot_unmarshal(value: Any, go_type: str, struct_field: str = "") -> str:
    """encoding/json's message for a value of the wrong JSON type."""
    into = f"Go struct field {struct_field} of type {go_type}" if struct_field else f"Go value of type {go_type}"
    return f"json: cannot unmarshal {json_kind(value)} into {into}"


def type_name(value: Any) -> str:
    """reflect.TypeOf(value) of a value decoded into interface{} (%s of a nil type included)."""
    if value is None:
        return "%!s(<nil>)"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "int64" if isinstance(value, int) else "float64"


def value(v: Any) -> str:
    """fmt's %v of a decoded JSON value: map[k:v] with sorted keys, [a b], <nil>."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{value(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(value(item) for item in v) + "]"
    if isinstance(v, float):
        text = repr(v)
        return text[:-2] if text.endswith(".0") else text
    return str(v)
