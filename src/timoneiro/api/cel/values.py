"""JSON values as CEL values: plain conversion, or guided by a structural schema as the CRD rules see
them (a `number` is a double even when written 1, date-time strings are timestamps, durations durations)."""

from __future__ import annotations

import datetime
from typing import Any

from celpy import celtypes
from celpy.adapter import json_to_cel


def to_cel(value: Any) -> Any:
    return json_to_cel(value)


def from_cel(value: Any) -> Any:
    """A CEL value back as plain JSON-like Python (messageExpression results, audit annotation values)."""
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.MapType):
        return {from_cel(k): from_cel(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType):
        return [from_cel(v) for v in value]
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, int):
        return int(value)
    return value


def type_name(value: Any) -> str:
    """The CEL type name of a value, as cel-go prints it in messages."""
    for cls, name in ((celtypes.BoolType, "bool"), (celtypes.IntType, "int"), (celtypes.UintType, "uint"),
                      (celtypes.DoubleType, "double"), (str, "string"),
                      (celtypes.BytesType, "bytes"), (celtypes.ListType, "list"), (celtypes.MapType, "map"),
                      (celtypes.TimestampType, "google.protobuf.Timestamp"),
                      (celtypes.DurationType, "google.protobuf.Duration")):
        if isinstance(value, cls):
            return name
    return "null_type" if value is None else type(value).__name__


def with_schema(value: Any, schema: dict | None, resource_root: bool = False) -> Any:
    """A custom object's value as CEL sees it through its schema. At a resource's root only apiVersion,
    kind and metadata.name/generateName are visible of the type and object meta (upstream's
    WithTypeAndObjectMeta)."""
    if value is None or not schema:
        return to_cel(value)
    kind = schema.get("type")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            if resource_root and key == "metadata" and isinstance(item, dict):
                out[celtypes.StringType(key)] = to_cel({k: v for k, v in item.items()
                                                       if k in ("name", "generateName")})
            elif key in props:
                out[celtypes.StringType(key)] = with_schema(item, props[key], bool(props[key].get(
                    "x-kubernetes-embedded-resource")))
            elif isinstance(extra, dict):
                out[celtypes.StringType(key)] = with_schema(item, extra)
            else:
                out[celtypes.StringType(key)] = to_cel(item)
        return celtypes.MapType(out)
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else None
        return celtypes.ListType([with_schema(v, items) for v in value])
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return celtypes.DoubleType(value)
    if kind == "string" and isinstance(value, str):
        return _formatted(value, schema.get("format", ""))
    return to_cel(value)


def _formatted(value: str, fmt: str) -> Any:
    try:
        if fmt == "date-time":
            return celtypes.TimestampType(value)
        if fmt == "date":
            return celtypes.TimestampType(datetime.datetime.fromisoformat(value).replace(tzinfo=datetime.UTC))
        if fmt == "duration":
            return celtypes.DurationType(value)
    except ValueError:
        pass
    return celtypes.StringType(value)
