"""The pod-template-hash, computed as kube-controller-manager's ComputeHash does, so that a Deployment's
ReplicaSets get the names upstream would give them ("web-7c5ddbdf54").

Upstream hashes (FNV-32a) the text go-spew prints for the Go struct with `%#v`, sorted map keys and methods
disabled, then appends the collision count and spells the number with SafeEncodeString. The text depends on
the Go layout of every type in a pod template (template_layout) and on how the template looks after the
controller manager decoded it from protobuf: empty lists and maps are nil, quantities are parsed from their
canonical text, timestamps (never set in a template) are zero.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from timoneiro.api import quantity
from timoneiro.controllers.template_layout import LAYOUT

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand: no vowels, no 0/1/3
MAX_DIGITS = 18  # digits an int64 always holds (maxInt64Factors)
NANO = -9


def compute_hash(template: dict, collision_count: int | None = None) -> str:
    data = spew("v1.PodTemplateSpec", template).encode()
    if collision_count is not None:
        data += struct.pack("<I", collision_count & 0xFFFFFFFF) + bytes(4)
    return safe_encode(str(fnv32a(data)))


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    return "".join(ALPHANUMS[ord(c) % len(ALPHANUMS)] for c in text)


def spew(type_name: str, value: object, typed: bool = True) -> str:
    """go-spew's `%#v` of a value of the Go type, given as its JSON form. Types are shown in parentheses
    except where spew leaves them out: slice elements, map keys and values, and what a pointer points to."""
    adapt = _ADAPTERS.get(type_name)
    if adapt is not None:
        value = adapt(value)
    layout = LAYOUT[type_name]
    kind = layout[0]
    head = f"({type_name})" if typed else ""
    if kind == "ptr":
        if value is None:
            return head + "<nil>"
        return (head or "<*>") + spew(layout[1], value, False)
    if kind == "struct":
        obj = value or {}
        fields = (f"{go}:{spew(t, obj if not js else obj.get(js))}" for go, js, t in layout[1])
        return head + "{" + " ".join(fields) + "}"
    if kind == "slice":
        if not value:
            return head + "<nil>"
        return head + "[" + " ".join(spew(layout[1], v, False) for v in value) + "]"
    if kind == "map":
        if not value:
            return head + "<nil>"
        pairs = (f"{spew(layout[1], k, False)}:{spew(layout[2], value[k], False)}" for k in sorted(value))
        return head + "map[" + " ".join(pairs) + "]"
    if kind == "string":
        return head + (value or "")
    if kind in ("int", "uint"):
        return head + str(int(value or 0))
    if kind == "bool":
        return head + ("true" if value else "false")
    raise ValueError(f"cannot print a non-nil {type_name}")


def _int_or_string(value: object) -> dict:
    if isinstance(value, str):
        return {"Type": 1, "StrVal": value}
    return {"Type": 0, "IntVal": value or 0}


def _quantity(value: object) -> dict:
    """resource.ParseQuantity of the canonical text: int64 mantissa and scale when they fit (keeping the
    text only when it is already canonical for that form), else an inf.Dec of nano-units."""
    text = str(quantity.canonicalize(value))
    if text == "0":
        return {"s": text, "Format": quantity.DECIMAL_SI}
    parts = quantity.split(text)
    _base, exponent, fmt = quantity.suffix_scale(parts.suffix)
    num, denom = parts.whole.lstrip("0") or "0", parts.fraction
    mantissa, scale = 1, exponent
    precision = MAX_DIGITS - len(num) - len(denom)
    if fmt == quantity.BINARY_SI:
        scale = 0
        precision = -1
        if exponent >= 0 and not denom:
            mantissa = 1 << exponent
            precision = 15 - len(num) - exponent * 3 // 10 - 1
    scale -= len(denom)
    if precision >= 0 and scale >= NANO:
        shifted = num + denom
        result = int(shifted) * mantissa
        if result < 2**63:
            if fmt == quantity.BINARY_SI:
                keep = exponent % 10 == 0 and int(shifted) & 7 != 0
            else:
                keep = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
            return {"i": {"value": -result if parts.negative else result, "scale": scale},
                    "s": text if keep else "", "Format": fmt}
    q = quantity.parse(text)
    unscaled = int(q.value * 10**9)
    words = []
    rest = abs(unscaled)
    while rest:
        words.append(rest & 0xFFFFFFFFFFFFFFFF)
        rest >>= 64
    if fmt == quantity.BINARY_SI and abs(q.value) < 1:
        fmt = quantity.DECIMAL_SI
    return {"d": {"Dec": {"unscaled": {"neg": unscaled < 0, "abs": words}, "scale": 9}}, "Format": fmt}


_ADAPTERS: dict[str, Callable[[object], object]] = {
    "intstr.IntOrString": _int_or_string,
    "resource.Quantity": _quantity,
    "v1.Time": lambda _value: {},  # zero: a template's timestamps are never set
}
