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


class _Node:
    """A schema reduced to what decoding checks, built once per schema and reused for every request."""

    __slots__ = ("open", "types", "go_type", "props", "extra", "closed", "items")

    def __init__(self, schema: dict) -> None:
        self.open = bool(schema.get("x-kubernetes-preserve-unknown-fields") or "oneOf" in schema
                         or "anyOf" in schema)
        t = schema.get("type")
        names = [x for x in (t if isinstance(t, list) else [t]) if x and x != "null"] if t else []
        self.types = tuple(_JSON_TYPES[n] for n in names)
        self.go_type = _GO_TYPES[names[0]] if names else ""
        self.props: dict | None = schema.get("properties")
        extra = schema.get("additionalProperties")
        self.extra = extra if isinstance(extra, dict) else None
        self.closed = self.props is not None or extra is False
        item = schema.get("items")
        self.items = item if isinstance(item, dict) else None


_nodes: dict[int, _Node | None] = {}


def _node(schema: dict | None) -> _Node | None:
    if schema is None:
        return None
    key = id(schema)
    node = _nodes.get(key, False)
    if node is False:
        resolved = sch.resolve(schema)
        node = _nodes[key] = _Node(resolved) if resolved is not None else None
    return node


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
        _walk(obj, _node(schema), "", unknown, top=True)
    return unknown


def _walk(value: object, node: _Node | None, path: str, unknown: list[str], top: bool = False) -> None:
    if node is None or value is None or node.open:
        return
    if node.types and (not isinstance(value, node.types) or (isinstance(value, bool) and bool not in node.types)):
        if int in node.types and isinstance(value, float) and value.is_integer():
            return
        raise DecodeError(f"json: cannot unmarshal {_json_name(value)} into Go struct field "
                          f"{path or '.'} of type {node.go_type}")
    if isinstance(value, dict):
        props, extra = node.props, node.extra
        for key in list(value):
            if props and key in props:
                _walk(value[key], _node(props[key]), f"{path}.{key}" if path else key, unknown)
            elif extra is not None:
                _walk(value[key], _node(extra), f"{path}.{key}" if path else key, unknown)
            elif node.closed:
                if top and key in ("apiVersion", "kind", "metadata"):
                    continue
                unknown.append(f"{path}.{key}" if path else key)
                del value[key]
    elif isinstance(value, list) and node.items is not None:
        item = _node(node.items)
        if item is not None and not item.open:
            for i, v in enumerate(value):
                _walk(v, item, f"{path}[{i}]", unknown)
