"""The kubectl (client-go) JSONPath subset that CRD printer columns use, over decoded JSON.

Missing keys yield no results (AllowMissingKeys), while misuse such as indexing a map, an index out of
range or comparing a string with a number raises JSONPathError: either way the cell comes out empty.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_TERMINATORS = set(" \t\r\n.,[]$@{}")
_SLICE = re.compile(r"(-?\d*)(?::(-?\d*))?(?::(-?\d*))?")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")


class JSONPathError(ValueError):
    pass


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Wildcard:
    pass


@dataclass(frozen=True)
class Recursive:
    pass


@dataclass(frozen=True)
class Slice:
    start: int | None
    end: int | None
    step: int | None
    end_derived: bool  # [i] is read as [i:i+1]


@dataclass(frozen=True)
class Union:
    branches: tuple[tuple, ...]


@dataclass(frozen=True)
class Filter:
    left: tuple | Literal
    op: str  # one of _OPERATORS, or "exists"
    right: tuple | Literal | None


@dataclass(frozen=True)
class Literal:
    value: object


@functools.lru_cache(maxsize=1024)
def parse(path: str) -> tuple:
    """The steps of a path such as `.status.conditions[?(@.type=="Ready")].status` (immutable, so
    cached: a custom resource's columns are parsed again for every table, watch events included)."""
    text, i, steps = path.strip(), 0, []
    if text.startswith("$"):
        i = 1
    while i < len(text):
        char = text[i]
        if text.startswith("..", i):
            steps.append(Recursive())
            i += 1
        elif char == ".":
            i, field = _field(text, i + 1)
            if field:
                steps.append(Wildcard() if field == "*" else Field(field))
        elif char == "[":
            end = _closing(text, i)
            steps.append(_bracket(text[i + 1:end]))
            i = end + 1
        elif char.isspace():
            i += 1
        else:
            raise JSONPathError(f"unexpected {char!r} in {path!r}")
    return tuple(steps)


def _field(text: str, i: int) -> tuple[int, str]:
    out = []
    while i < len(text) and text[i] not in _TERMINATORS:
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        out.append(text[i])
        i += 1
    return i, "".join(out)


def _closing(text: str, start: int) -> int:
    """The index of the `]` closing the bracket at start, skipping quoted text and nested brackets."""
    depth, quote = 0, ""
    for i in range(start, len(text)):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
            if depth == 0:
                return i
    raise JSONPathError(f"unclosed bracket in {text!r}")


def _bracket(inner: str) -> object:
    inner = inner.strip()
    if inner.startswith("?(") and inner.endswith(")"):
        return _filter(inner[2:-1])
    if inner == "*":
        return Wildcard()
    parts = _split(inner, ",")
    branches = tuple(_subscript(p.strip()) for p in parts)
    return branches[0] if len(branches) == 1 else Union(tuple((b,) for b in branches))


def _subscript(part: str) -> object:
    if part[:1] in ("'", '"'):
        if len(part) < 2 or part[-1] != part[0]:
            raise JSONPathError(f"unterminated quote in {part!r}")
        return Field(part[1:-1])
    m = _SLICE.fullmatch(part.replace(" ", ""))
    if not m:
        raise JSONPathError(f"invalid array index {part!r}")
    start, end, step = (int(g) if g else None for g in m.groups())
    if m.group(2) is None and start is not None:
        return Slice(start, start + 1, None, True)
    return Slice(start, end, step, False)


def _filter(expression: str) -> Filter:
    for op in _OPERATORS:
        pieces = _split(expression, op)
        if len(pieces) == 2:
            return Filter(_operand(pieces[0]), op, _operand(pieces[1]))
    return Filter(_operand(expression), "exists", None)


def _split(text: str, separator: str) -> list[str]:
    """text split on separator wherever it is outside quotes."""
    pieces, quote, current, i = [], "", [], 0
    while i < len(text):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif text.startswith(separator, i):
            pieces.append("".join(current))
            current, i = [], i + len(separator)
            continue
        current.append(char)
        i += 1
    pieces.append("".join(current))
    return pieces


def _operand(text: str) -> tuple | Literal:
    text = text.strip()
    if text[:1] in ("@", "$"):
        return parse(text[1:])
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return Literal(text[1:-1])
    if text in ("true", "false"):
        return Literal(text == "true")
    try:
        return Literal(int(text))
    except ValueError:
        pass
    try:
        return Literal(float(text))
    except ValueError:
        raise JSONPathError(f"unrecognized filter operand {text!r}") from None


def find(steps: tuple, data: object) -> list:
    """Every value the path reaches, in order."""
    values = [data]
    for step in steps:
        values = _apply(step, values)
    return values


def _apply(step: object, values: list) -> list:
    present = [v for v in values if v is not None]
    if isinstance(step, Field):
        return [v[step.name] for v in present if isinstance(v, dict) and step.name in v]
    if isinstance(step, Wildcard):
        return [c for v in present for c in _children(v)]
    if isinstance(step, Recursive):
        return _descendants(present)
    if isinstance(step, Slice):
        return [item for v in present for item in _slice(step, v)]
    if isinstance(step, Union):
        return [item for branch in step.branches for v in present for item in find(branch, v)]
    if isinstance(step, Filter):
        return [item for v in present for item in _select(step, v)]
    raise JSONPathError(f"unknown step {step!r}")


def _children(value: object) -> list:
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list) else []


def _descendants(values: list) -> list:
    """The recursive-descent set: each container, then everything nested in it."""
    out = []
    for value in values:
        children = _children(value)
        if children:
            out.append(value)
            out.extend(_descendants(children))
    return out


def _slice(step: Slice, value: object) -> list:
    if not isinstance(value, list):
        raise JSONPathError(f"{type(value).__name__} is not an array")
    length = len(value)
    start = 0 if step.start is None else step.start
    start += length if start < 0 else 0
    end = length if step.end is None else step.end
    if end < 0 or (end == 0 and step.end_derived):
        end += length
    if start == end:
        return []
    if not (0 <= start < length) or not (0 <= end <= length) or start > end:
        raise JSONPathError(f"array index out of bounds: [{start}:{end}] of {length}")
    if step.step is not None and step.step <= 0:
        raise JSONPathError("step must be > 0")
    return value[start:end:step.step or 1]


def _select(step: Filter, value: object) -> list:
    if not isinstance(value, list):
        raise JSONPathError(f"{type(value).__name__} is not an array and cannot be filtered")
    out = []
    for item in value:
        lefts = _operand_values(step.left, item)
        if step.op == "exists":
            if lefts:
                out.append(item)
            continue
        if not lefts:
            continue
        rights = _operand_values(step.right, item)
        if len(lefts) > 1 or len(rights) != 1:
            raise JSONPathError("can only compare one element at a time")
        if _compare(lefts[0], step.op, rights[0]):
            out.append(item)
    return out


def _operand_values(operand: tuple | Literal, item: object) -> list:
    return [operand.value] if isinstance(operand, Literal) else find(operand, item)


def _kind(value: object) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    for kind, types in (("int", int), ("float", float), ("string", str)):
        if isinstance(value, types):
            return kind
    return "other"


def _compare(left: object, op: str, right: object) -> bool:
    """Go text/template's eq/ne/lt/le/gt/ge: like kinds only, no ordering of bools, nil equal only to nil."""
    kinds = {_kind(left), _kind(right)}
    if op in ("==", "!="):
        if "nil" in kinds:
            equal = left is None and right is None
        elif len(kinds) > 1 or "other" in kinds:
            raise JSONPathError(f"incompatible types for comparison: {left!r} {op} {right!r}")
        else:
            equal = left == right
        return equal if op == "==" else not equal
    if len(kinds) > 1 or kinds & {"nil", "bool", "other"}:
        raise JSONPathError(f"invalid types for comparison: {left!r} {op} {right!r}")
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
