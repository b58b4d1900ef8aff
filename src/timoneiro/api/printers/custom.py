"""Custom resources: tables from a CRD version's additionalPrinterColumns, as apiextensions-apiserver builds them."""

from __future__ import annotations

import json
import math
from datetime import datetime

from timoneiro.api.printers import jsonpath
from timoneiro.api.printers.age import parse_time, since
from timoneiro.api.printers.columns import NAME, Printer, name
from timoneiro.api.validation.golit import go_float

# served when a version declares no columns of its own
AGE_COLUMN = {
    "name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
    "description": "Time since the object was created.",
}


def crd_printer(crd: dict, version: str) -> Printer:
    """A printer for one served version: NAME, then the version's columns in order.

    Like upstream, a column whose JSONPath does not parse ends the list; the columns before it stay.
    """
    columns, paths = [NAME], []
    for col in _declared_columns(crd, version) or [AGE_COLUMN]:
        try:
            paths.append(jsonpath.parse(col.get("jsonPath", "")))
        except jsonpath.JSONPathError:
            break
        columns.append({
            "name": col.get("name", ""),
            "type": col.get("type", ""),
            "format": col.get("format", ""),
            "description": col.get("description")
            or f"Custom resource definition column (in JSONPath format): {col.get('jsonPath', '')}",
            "priority": col.get("priority", 0),
        })
    types = [c["type"] for c in columns[1:]]

    def cells(obj: dict, now: datetime) -> list:
        row = [name(obj)]
        for path, type_ in zip(paths, types, strict=True):
            try:
                found = jsonpath.find(path, obj)
            except jsonpath.JSONPathError:
                found = []
            row.append(cell(type_, found[0], now) if found else None)
        return row

    return Printer(tuple(columns), cells)


def _declared_columns(crd: dict, version: str) -> list:
    crd_spec = crd.get("spec") or {}
    for served in crd_spec.get("versions") or []:
        if served.get("name") == version:
            return served.get("additionalPrinterColumns") or []
    return []


def cell(type_: str, value: object, now: datetime) -> object:
    """A found value as the column's type (cellForJSONValue); strings print it as kubectl's JSONPath does."""
    if value is None:
        return None
    if type_ == "string":
        return go_text(value)
    if type_ == "integer" and _number(value):
        return int(value)
    if type_ == "number" and _number(value):
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        if value in ("", "null"):
            return "<unknown>"
        when = parse_time(value)
        return "<invalid>" if when is None else since(when, now)
    return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def go_text(value: object) -> str:
    """JSONPath's PrintResults: compact JSON for maps and lists, Go's %v for scalars."""
    if isinstance(value, dict | list):
        text = json.dumps(_integral(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            text = text.replace(char, escaped)
        return text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def _integral(value: object) -> object:
    """Whole floats as ints, as Go's encoder writes them (1.0 is 1)."""
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value
