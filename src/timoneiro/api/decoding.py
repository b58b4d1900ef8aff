"""Decoding a request body into an object the way the typed decoder would: unknown fields are dropped
(and reported for fieldValidation), wrong JSON types are refused with the decoder's message."""

from __future__ import annotations

from timoneiro.api import schema as sch

_JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict,
               "array": list}
_GO_TYPES = {"string": "string", "integer": "int64", "number": "float64", "boolean": "bool",
             "object": "object", "array": "array"}


class DecodeError(ValueError):
    pass


def _types(schema: dict) -> list[str]:
    t = schema.get("type")
    if t is None:
        return []
    return [x for x in (t if isinstance(t, list) else [t]) if x != "null"]


def _json_name(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def prune(obj: dict, schema: dict | None) -> list[str]:
    """Remove fields the schema does not know, in place; returns their paths ("spec.foo").

    Raises DecodeError for a value of the wrong JSON type.
    """
    unknown: list[str] = []
    if schema is not None:
        _walk(obj, schema, "", unknown, top=True)
    return unknown


def _walk(value: object, schema: dict | None, path: str, unknown: list[str], top: bool = False) -> None:
    schema = sch.resolve(schema)
    if schema is None or value is None:
        return
    if schema.get("x-kubernetes-preserve-unknown-fields") or "oneOf" in schema or "anyOf" in schema:
        return
    types = _types(schema)
    if types and not any(isinstance(value, _JSON_TYPES[t]) and not (t in ("integer", "number")
                         and isinstance(value, bool)) for t in types):
        if "integer" in types and isinstance(value, float) and value.is_integer():
            return
        raise DecodeError(f"json: cannot unmarshal {_json_name(value)} into Go struct field "
                          f"{path or '.'} of type {_GO_TYPES[types[0]]}")
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key in list(value):
            sub_path = f"{path}.{key}" if path else key
            if props and key in props:
                _walk(value[key], props[key], sub_path, unknown)
            elif isinstance(extra, dict):
                _walk(value[key], extra, sub_path, unknown)
            elif props is not None or extra is False:
                if top and key in ("apiVersion", "kind", "metadata"):
                    continue
                unknown.append(sub_path)
                del value[key]
    elif isinstance(value, list):
        item = schema.get("items")
        if isinstance(item, dict):
            for i, v in enumerate(value):
                _walk(v, item, f"{path}[{i}]", unknown)
