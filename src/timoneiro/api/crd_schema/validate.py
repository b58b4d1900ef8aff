"""Schema validation of a custom object: kube-openapi's validator, with apiextensions' field errors.

The checks, their order, the messages and the paths ("spec.items[0].name") are upstream's; so is the
conversion to field errors (a type error reports the JSON type it found, enum failures are
NotSupported, errors without a field are reported on "<nil>"). With an old object, update ratcheting
applies: errors inside a value that the update left unchanged are dropped.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from timoneiro.api.crd_schema import formats
from timoneiro.api.crd_schema.values import go_number, is_integral_float, is_number, json_equal, type_of
from timoneiro.api.field import FieldError
from timoneiro.api.validation.golit import go_string
from timoneiro.api.validation.names import is_signed_int

MISSING: Any = object()
_TYPE_META = ("apiVersion", "kind")
_INT32, _INT64 = (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)
_FLOAT32_MAX = 3.4028234663852886e38


def _field(name: str) -> str:
    """The field of an error kube-openapi raised at `name` ("" and "." mean none: upstream prints <nil>)."""
    return name.removeprefix(".") if name and name != "." else "<nil>"


def _invalid(name: str, value: Any, message: str) -> FieldError:
    return FieldError("Invalid", _field(name), message, "" if value is None else value)


def _type_invalid(name: str, expected: str, found: str) -> FieldError:
    return FieldError("TypeInvalid", _field(name), f"{name} in body must be of type {expected}: {go_string(found)}",
                      found)


def _unplaced(message: str) -> FieldError:
    """An error kube-openapi raises without a field (junctors, number ranges)."""
    return FieldError("Invalid", "<nil>", message, "")


def _too_many(name: str, count: int, limit: int) -> FieldError:
    noun = "item" if limit == 1 else "items"
    return FieldError("TooMany", _field(name), f"must have at most {limit} {noun}", count)


@dataclass
class _Result:
    errors: list[FieldError] = field(default_factory=list)
    matches: int = 0

    def add(self, error: FieldError | None) -> None:
        if error is not None and all(str(error) != str(e) for e in self.errors):
            self.errors.append(error)

    def merge(self, other: _Result) -> None:
        for error in other.errors:
            self.add(error)
        self.matches += other.matches


def types_of(schema: dict) -> list[str]:
    """The types a value may have: int-or-string allows two."""
    if schema.get("x-kubernetes-int-or-string"):
        return ["integer", "string"]
    kind = schema.get("type")
    return [kind] if kind else []


@functools.lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern | str:
    try:
        return re.compile(pattern)
    except re.error as e:
        return str(e)


def validate(obj: Any, schema: dict, old: Any = MISSING) -> list[FieldError]:
    """Field errors of `obj` against a CRD version's openAPIV3Schema (ratcheted against `old` if given)."""
    return _node(obj, schema, "", old, root=True).errors


def _node(data: Any, s: dict, path: str, old: Any, root: bool = False) -> _Result:
    res = _Result()
    types, fmt = types_of(s), formats.effective(s)
    if types or fmt:
        res.add(_check_type(data, types, bool(s.get("nullable")), fmt, path))
        res.matches += 1
    if data is not None:
        res.merge(_junctors(data, s, path, old))
        if isinstance(data, str):
            res.add(_check_string(data, s, path))
            if fmt and fmt.replace("-", "") in formats.FORMATS and not formats.valid(fmt, data):
                res.add(_type_invalid(path, fmt, data))
        elif is_number(data):
            res.merge(_check_number(data, s, types, fmt, path))
        elif isinstance(data, list):
            res.merge(_check_list(data, s, path, old))
    res.add(_check_enum(data, s, path))
    if isinstance(data, dict):
        res.merge(_check_object(data, s, path, old, root))
    res.matches += 1
    if res.errors and old is not MISSING and json_equal(data, old):
        return _Result(matches=res.matches)
    return res


def _check_type(data: Any, types: list[str], nullable: bool, fmt: str, path: str) -> FieldError | None:
    if data is None:
        if types and "null" not in types and not nullable:
            return _type_invalid(path, ",".join(types), "null")
        return None
    found, found_format = type_of(data)
    float_int = found == "number" and is_integral_float(data) and "integer" in types
    int_float = found == "integer" and "number" in types
    textual = isinstance(data, (str, list))
    if not textual and fmt and not (found in types or found_format == fmt or float_int or int_float):
        return _type_invalid(path, fmt, found_format)
    if textual and fmt and not ("number" in types or "integer" in types):
        return None
    if not (found in types or float_int or int_float):
        return _type_invalid(path, ",".join(types), found)
    return None


def _junctors(data: Any, s: dict, path: str, old: Any) -> _Result:
    res = _Result()
    if s.get("anyOf"):
        best: _Result | None = None
        for sub in s["anyOf"]:
            result = _node(data, sub, path, old)
            if not result.errors:
                best = None
                res.matches += result.matches
                break
            if best is None or result.matches > best.matches:
                best = result
        if best is not None:
            res.add(_unplaced(f"{go_string(path)} must validate at least one schema (anyOf)"))
            res.merge(best)
    if s.get("oneOf"):
        results = [_node(data, sub, path, old) for sub in s["oneOf"]]
        valid = sum(1 for r in results if not r.errors)
        if valid != 1:
            found = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
            res.add(_unplaced(f"{go_string(path)} must validate one and only one schema (oneOf). {found}"))
            if valid == 0:
                res.merge(max(results, key=lambda r: r.matches))
    if s.get("allOf"):
        results = [_node(data, sub, path, old) for sub in s["allOf"]]
        for result in results:
            res.merge(result)
        valid = sum(1 for r in results if not r.errors)
        if valid != len(results):
            none = ". None validated" if valid == 0 else ""
            res.add(_unplaced(f"{go_string(path)} must validate all the schemas (allOf){none}"))
    if isinstance(s.get("not"), dict) and not _node(data, s["not"], path, old).errors:
        res.add(_unplaced(f"{go_string(path)} must not validate the schema (not)"))
    return res


def _check_string(data: str, s: dict, path: str) -> FieldError | None:
    """Only the first failing of maxLength, minLength and pattern is reported, as upstream does."""
    if "maxLength" in s and len(data) > s["maxLength"]:
        limit = s["maxLength"]
        return FieldError("TooLong", _field(path), f"may not be more than {limit} {'byte' if limit == 1 else 'bytes'}")
    if "minLength" in s and len(data) < s["minLength"]:
        return _invalid(path, data, f"{path} in body should be at least {s['minLength']} chars long")
    pattern = s.get("pattern")
    if pattern:
        compiled = _regex(pattern)
        if isinstance(compiled, str):
            return _invalid(path, data, f"{path} in body should match '{pattern}, but pattern is invalid: {compiled}'")
        if not compiled.search(data):
            return _invalid(path, data, f"{path} in body should match '{pattern}'")
    return None


def _range_error(value: int | float, type_name: str, fmt: str, what: str, path: str) -> FieldError | None:
    """kube-openapi's check that a number (the value or a bound) fits the schema's type and format."""
    text = str(value) if isinstance(value, int) else format(Decimal(repr(value)).normalize(), "f")
    fits = True
    if type_name == "integer":
        low, high = _INT32 if fmt == "int32" else _INT64
        fits = is_signed_int(text) and low <= int(text) <= high
    elif fmt == "float":
        fits = abs(float(value)) <= _FLOAT32_MAX
    if fits:
        return None
    kind = f"with format {fmt}" if fmt else "(default format)"
    return _unplaced(f"{what} value must be of type {type_name} {kind} in {path}")


def _check_number(data: int | float, s: dict, types: list[str], fmt: str, path: str) -> _Result:
    type_name = types[0] if len(types) == 1 and types[0] in ("integer", "number") else ""
    number_fmt = fmt if fmt in {"integer": ("int32", "int64"), "number": ("float", "double")}.get(type_name, ()) else ""
    res = _Result(matches=1)
    res.add(_range_error(data, type_name, number_fmt, "Checked", path))
    factor = s.get("multipleOf")
    if factor is not None:
        bad = _range_error(factor, type_name, number_fmt, "MultipleOf", path)
        res.add(bad)
        native = bad is None and isinstance(data, int)
        step = int(factor) if native else float(factor)
        if step <= 0:
            res.add(_invalid(path, step, f"factor MultipleOf declared for {path} must be positive: {go_number(step)}"))
        elif (data % step != 0) if native else not _is_whole(1 / step * data if step < 1 else data / step):
            res.add(_invalid(path, data, f"{path} in body should be a multiple of {go_number(step)}"))
    for key, exclusive_key, word, beyond in (("minimum", "exclusiveMinimum", "greater", lambda a, b: a < b),
                                             ("maximum", "exclusiveMaximum", "less", lambda a, b: a > b)):
        if s.get(key) is None:
            continue
        bad = _range_error(s[key], type_name, number_fmt, f"{key.capitalize()} boundary", path)
        res.add(bad)
        bound = int(s[key]) if bad is None and isinstance(data, int) else float(s[key])
        exclusive = bool(s.get(exclusive_key))
        if beyond(data, bound) or (exclusive and data == bound):
            relation = f"{word} than" if exclusive else f"{word} than or equal to"
            res.add(_invalid(path, data, f"{path} in body should be {relation} {go_number(bound)}"))
    return res


def _is_whole(value: float) -> bool:
    return value == int(value) if abs(value) < 2**63 else is_integral_float(value)


def _check_list(data: list, s: dict, path: str, old: Any) -> _Result:
    res = _Result(matches=1)
    items = s.get("items")
    if isinstance(items, dict):
        for i, value in enumerate(data):
            res.merge(_node(value, items, f"{path}[{i}]", _old_item(value, s, old)))
    size = len(data)
    if "minItems" in s and size < s["minItems"]:
        res.add(_invalid(path, size, f"{path} in body should have at least {s['minItems']} items"))
    if "maxItems" in s and size > s["maxItems"]:
        res.add(_too_many(path, size, s["maxItems"]))
    if s.get("uniqueItems") and any(json_equal(a, b) for i, a in enumerate(data) for b in data[:i]):
        res.add(_invalid(path, "", f"{path} in body shouldn't contain duplicates"))
    return res


def _old_item(value: Any, s: dict, old: Any) -> Any:
    """The old element a new one corresponds to: only items of map lists correlate, by their keys."""
    keys = s.get("x-kubernetes-list-map-keys")
    if s.get("x-kubernetes-list-type") != "map" or not keys or not isinstance(old, list) \
            or not isinstance(value, dict):
        return MISSING
    for candidate in old:
        if isinstance(candidate, dict) and all(json_equal(candidate.get(k), value.get(k)) for k in keys):
            return candidate
    return MISSING


def _check_enum(data: Any, s: dict, path: str) -> FieldError | None:
    enum = s.get("enum")
    if not enum or (data is not None and any(json_equal(data, e) for e in enum if e is not None)):
        return None
    supported = ", ".join(go_string(e if isinstance(e, str) else json.dumps(e, separators=(",", ":"))) for e in enum)
    return FieldError("NotSupported", _field(path), f"supported values: {supported}", data)


def _check_object(data: dict, s: dict, path: str, old: Any, root: bool) -> _Result:
    res = _Result()
    props: dict = s.get("properties") or {}
    extra = s.get("additionalProperties")
    size = len(data)
    if "minProperties" in s and size < s["minProperties"]:
        res.add(_invalid(path, size, f"{path} in body should have at least {s['minProperties']} properties"))
    if "maxProperties" in s and size > s["maxProperties"]:
        res.add(_too_many(path, size, s["maxProperties"]))

    def old_of(key: str) -> Any:
        if not isinstance(old, dict) or key not in old or (root and key in _TYPE_META):
            return MISSING
        return old[key]

    for key, value in data.items():
        if key in props:
            continue
        if extra is False:
            res.add(_invalid(path, key, f"{path}.{key} in body is a forbidden property"))
        elif isinstance(extra, dict):
            res.merge(_node(value, extra, f"{path}.{key}", old_of(key)))
    for name, sub in props.items():
        if name in data:
            res.merge(_node(data[name], sub, f"{path}.{name}" if path else name, old_of(name)))
    for name in s.get("required") or ():
        if name not in data:
            res.add(FieldError("Required", _field(f"{path}.{name}")))
    return res
