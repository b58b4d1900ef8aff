"""The constraints botocore's models put on input members (length, pattern, enum, range), checked as IAM
and STS check them before anything else, with their words: "1 validation error detected: Value 'jane doe'
at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+".
(botocore checks only presence, types and minimum lengths on the client's side.)"""

from __future__ import annotations

import functools
import re

from botocore.model import Shape

from timoneiro.eks.protocol.shapes import Invalid


def check(shape: Shape, value: object, where: str = "") -> None:
    """Invalid for the first member of `value` (parsed from the input shape `shape`) breaking its shape's
    constraints; `where` names it as the services do (lowerCamel member names, dotted)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if value.get(name) is not None:
                check(member, value[name], f"{where}.{_camel(name)}" if where else _camel(name))
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value, 1):
            check(shape.member, item, f"{where}.{i}")
    elif kind == "string" and isinstance(value, str):
        _check_string(shape, value, where)
    elif kind in ("integer", "long") and isinstance(value, int):
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            raise Invalid(where, value, f"Member must have value greater than or equal to {low}")
        if high is not None and value > high:
            raise Invalid(where, value, f"Member must have value less than or equal to {high}")


def _check_string(shape: Shape, value: str, where: str) -> None:
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        raise Invalid(where, value, f"Member must satisfy enum value set: [{', '.join(enum)}]")
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        raise Invalid(where, value, f"Member must have length greater than or equal to {low}")
    if high is not None and len(value) > high:
        raise Invalid(where, value, f"Member must have length less than or equal to {high}")
    pattern = shape.metadata.get("pattern")
    compiled = _compiled(pattern) if pattern else None
    if compiled is not None and compiled.fullmatch(value) is None:
        raise Invalid(where, value, f"Member must satisfy regular expression pattern: {pattern}")


@functools.cache
def _compiled(pattern: str) -> re.Pattern | None:
    try:
        return re.compile(pattern)
    except re.error:  # a Java-only construct: the service's own check is not reproduced
        return None


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]
