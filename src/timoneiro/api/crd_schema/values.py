"""How Go sees decoded JSON values: their OpenAPI type names, equality, and number printing."""

from __future__ import annotations

from typing import Any

from timoneiro.api.validation.golit import go_float

_MAX_EXACT = 2.0**53


def type_of(value: Any) -> tuple[str, str]:
    """The type name and format kube-openapi infers for a decoded JSON value (ints decode as int64)."""
    if isinstance(value, bool):
        return "boolean", ""
    if isinstance(value, str):
        return "string", ""
    if isinstance(value, int):
        return ("integer", "int64") if -(2**63) <= value < 2**63 else ("number", "float64")
    if isinstance(value, float):
        return "number", "float64"
    if isinstance(value, list):
        return "array", ""
    if isinstance(value, dict):
        return "object", ""
    return "", ""


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_integral_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer() and abs(value) <= _MAX_EXACT


def json_equal(a: Any, b: Any) -> bool:
    """Equality of decoded JSON values that, like Go, never confuses booleans with numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def go_number(value: float | int) -> str:
    """A number as Go's %v prints it: shortest digits, in exponent form below 1e-4 or from 1e6."""
    if isinstance(value, int) or value == 0:
        return str(int(value))
    return go_float(value)
