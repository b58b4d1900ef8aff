"""The functions Kubernetes adds to CEL beyond the standard ones cel-python has: cel-go's strings and
lists extensions, the Kubernetes lists, regex, URL and quantity libraries, and cel-go's cross-type numeric
comparisons and heterogeneous equality. In cel-python a method call `x.f(y)` is the function `f(x, y)`,
so functions shared by several receiver types (indexOf on strings and lists) dispatch on the receiver."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

import re2
from celpy import celtypes
from celpy.evaluation import CELEvalError, base_functions

from timoneiro.api import quantity as quantities
from timoneiro.api.cel import authorizer

S, Int, B, L = celtypes.StringType, celtypes.IntType, celtypes.BoolType, celtypes.ListType


class LibraryError(ValueError):
    """A library function refused its arguments; the message is cel-go's."""


def _is_number(v: Any) -> bool:
    return isinstance(v, (celtypes.IntType, celtypes.UintType, celtypes.DoubleType)) \
        and not isinstance(v, celtypes.BoolType)


def _native(v: Any) -> int | float:
    return float(v) if isinstance(v, celtypes.DoubleType) else int(v)


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def compare(a: Any, b: Any) -> Any:
        if isinstance(a, CELEvalError) or isinstance(b, CELEvalError):
            return a if isinstance(a, CELEvalError) else b
        if _is_number(a) and _is_number(b):
            return B(op(_native(a), _native(b)))
        if isinstance(a, Quantity) or isinstance(b, Quantity):
            raise TypeError("no such overload")
        return base_functions[_OP_NAMES[op]](a, b)
    return compare


def _equals(negate: bool) -> Callable[[Any, Any], Any]:
    def equals(a: Any, b: Any) -> Any:
        if isinstance(a, CELEvalError) or isinstance(b, CELEvalError):
            return a if isinstance(a, CELEvalError) else b
        if _is_number(a) and _is_number(b):
            same = _native(a) == _native(b)
        else:
            try:
                same = bool(base_functions["_==_"](a, b))
            except TypeError:
                same = False  # values of different types are unequal, not an error (heterogeneous equality)
        return B(same != negate)
    return equals


def _lt(a, b):
    return a < b


def _le(a, b):
    return a <= b


def _gt(a, b):
    return a > b


def _ge(a, b):
    return a >= b


_OP_NAMES = {_lt: "_<_", _le: "_<=_", _gt: "_>_", _ge: "_>=_"}


# strings (cel-go ext.Strings, version 2)

def char_at(s: str, i: int) -> S:
    if i < 0 or i > len(s):
        raise LibraryError(f"index out of range: {i}")
    return S(s[i:i + 1])


def index_of(target: Any, item: Any, start: int = 0) -> Int:
    if isinstance(target, str):
        if start < 0 or start > len(target):
            raise LibraryError(f"index out of range: {start}")
        return Int(target.find(item, start))
    return Int(next((i for i, v in enumerate(target) if _equals(False)(v, item)), -1))


def last_index_of(target: Any, item: Any, end: int | None = None) -> Int:
    if isinstance(target, str):
        if end is not None and (end < 0 or end > len(target)):
            raise LibraryError(f"index out of range: {end}")
        return Int(target.rfind(item, 0, None if end is None else end + len(item)))
    found = [i for i, v in enumerate(target) if _equals(False)(v, item)]
    return Int(found[-1] if found else -1)


def replace(s: str, old: str, new: str, n: int = -1) -> S:
    return S(s.replace(old, new, n if n >= 0 else -1))


def split(s: str, sep: str, n: int = -1) -> L:
    if n == 0:
        return L([])
    if sep == "":
        parts = list(s)
        if n > 0 and len(parts) > n:
            parts = parts[:n - 1] + ["".join(parts[n - 1:])]
    else:
        parts = s.split(sep, n - 1) if n > 0 else s.split(sep)
    return L([S(p) for p in parts])


def substring(s: str, start: int, end: int | None = None) -> S:
    end = len(s) if end is None else end
    if start < 0 or start > len(s) or end > len(s) or end < start:
        raise LibraryError(f"index out of range: {start if start < 0 or start > len(s) else end}")
    return S(s[start:end])


def join(items: list, sep: str = "") -> S:
    return S(sep.join(items))


# lists (Kubernetes library and cel-go ext.Lists)

def is_sorted(items: list) -> B:
    return B(all(not _compare(_gt)(a, b) for a, b in zip(items, items[1:], strict=False)))


def list_sum(items: list) -> Any:
    if not items:
        return Int(0)
    total = items[0]
    for v in items[1:]:
        total = total + v
    return total


def list_max(items: list) -> Any:
    if not items:
        raise LibraryError("max(list) called on empty list")
    return max(items)


def list_slice(items: list, start: int, end: int) -> L:
    if start < 0 or end < start or end > len(items):
        raise LibraryError(f"cannot slice({start}, {end}), list is length {len(items)}")
    return L(items[start:end])


def flatten(items: list, depth: int = 1) -> L:
    out: list = []
    for v in items:
        if isinstance(v, list) and depth > 0:
            out.extend(flatten(v, depth - 1))
        else:
            out.append(v)
    return L(out)


# regex

def find(s: str, pattern: str) -> S:
    m = re2.search(pattern, s)
    return S(m.group(0) if m else "")


def find_all(s: str, pattern: str, n: int = -1) -> L:
    found = [S(m.group(0)) for m in re2.finditer(pattern, s)]
    return L(found if n < 0 else found[:n])


# URLs (Kubernetes library)

class URL(celtypes.MapType):
    """A parsed URL; only its accessor functions read it."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.parts = urllib.parse.urlsplit(text)


def url(text: str) -> URL:
    if not is_url(text):
        raise LibraryError(f"URL parse error during conversion from string: parse \"{text}\": invalid URI")
    return URL(text)


def is_url(text: str) -> B:
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        return B(False)
    return B(bool(parts.scheme) or text.startswith("/"))


def get_host(u: URL) -> S:
    return S(u.parts.netloc.rpartition("@")[2])


def get_hostname(u: URL) -> S:
    return S(u.parts.hostname or "")


def get_port(u: URL) -> S:
    host = get_host(u)
    return S(host.rpartition(":")[2] if ":" in host.rpartition("]")[2] else "")


def get_query(u: URL) -> celtypes.MapType:
    query: dict[str, list[str]] = urllib.parse.parse_qs(u.parts.query, keep_blank_values=True)
    return celtypes.MapType({S(k): L([S(v) for v in vs]) for k, vs in query.items()})


# quantities (Kubernetes library)

class Quantity(celtypes.MapType):
    def __init__(self, q: quantities.Quantity) -> None:
        super().__init__()
        self.q = q

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.q == other.q

    def __hash__(self) -> int:
        return hash(self.q)


def quantity(text: str) -> Quantity:
    try:
        return Quantity(quantities.parse(str(text)))
    except ValueError:
        raise LibraryError("quantities must match the regular expression "
                           "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'") from None


def is_quantity(text: str) -> B:
    return B(quantities.is_quantity(str(text)))


def _other(v: Any) -> quantities.Quantity:
    return v.q if isinstance(v, Quantity) else quantities.parse(int(v))


def compare_to(a: Quantity, b: Quantity) -> Int:
    return Int(-1 if a.q < b.q else 1 if b.q < a.q else 0)


def as_integer(a: Quantity) -> Int:
    if a.q.value.denominator != 1 or not -(2**63) <= a.q.value.numerator < 2**63:
        raise LibraryError("cannot convert value to integer")
    return Int(a.q.value.numerator)


def _add(target: Any, other: Any) -> Any:
    return Quantity(target.q + _other(other))


def _sub(target: Any, other: Any) -> Any:
    return Quantity(target.q - _other(other))


FUNCTIONS: dict[str, Callable] = {
    "_<_": _compare(_lt), "_<=_": _compare(_le), "_>_": _compare(_gt), "_>=_": _compare(_ge),
    "_==_": _equals(False), "_!=_": _equals(True),
    "charAt": char_at, "indexOf": index_of, "lastIndexOf": last_index_of,
    "lowerAscii": lambda s: S("".join(c.lower() if c.isascii() else c for c in s)),
    "upperAscii": lambda s: S("".join(c.upper() if c.isascii() else c for c in s)),
    "replace": replace, "split": split, "substring": substring, "trim": lambda s: S(s.strip()), "join": join,
    "isSorted": is_sorted, "sum": list_sum, "max": list_max, "slice": list_slice, "flatten": flatten,
    "find": find, "findAll": find_all,
    "url": url, "isURL": is_url, "getScheme": lambda u: S(u.parts.scheme), "getHost": get_host,
    "getHostname": get_hostname, "getPort": get_port, "getEscapedPath": lambda u: S(u.parts.path),
    "getQuery": get_query,
    "quantity": quantity, "isQuantity": is_quantity, "sign": lambda a: Int(a.q.sign()),
    "isInteger": lambda a: B(a.q.value.denominator == 1), "asInteger": as_integer,
    "asApproximateFloat": lambda a: celtypes.DoubleType(float(a.q.value)),
    "compareTo": compare_to, "isGreaterThan": lambda a, b: B(b.q < a.q), "isLessThan": lambda a, b: B(a.q < b.q),
    "add": _add, "sub": _sub,
    **authorizer.FUNCTIONS,
}
