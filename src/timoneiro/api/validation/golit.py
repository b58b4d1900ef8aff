"""Go values printed the way kube-apiserver's messages print them: fmt's %q, %v and %#v, and the words
encoding/json uses for decoded values.

Bad values in field errors: maps, string slices, label selectors and the few small structs that show
up in common messages are rendered exactly (map[string]string{"app":"x"}); anything else keeps
field.py's JSON rendering. The scalar and decoded-JSON renderings also serve the custom resource
schema messages, the custom resource printer and the patch errors.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from decimal import Decimal
from typing import Any

from timoneiro.api import quantity
from timoneiro.api.field import Rendered


def go_string(value: str) -> str:
    """%q: a double-quoted Go string literal."""
    return json.dumps(value, ensure_ascii=False)


def go_float(value: float) -> str:
    """Go's %v of a float64 (strconv 'g', shortest): exponent form below 1e-4 and from 1e6 up."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    mantissa = "".join(map(str, digits))
    point = len(mantissa) + exponent  # position of the decimal point within the digits
    head = "-" if sign else ""
    if point - 1 < -4 or point - 1 >= 6:
        fraction = f".{mantissa[1:]}" if len(mantissa) > 1 else ""
        return f"{head}{mantissa[0]}{fraction}e{'-' if point - 1 < 0 else '+'}{abs(point - 1):02d}"
    if point <= 0:
        return f"{head}0.{'0' * -point}{mantissa}"
    if point >= len(mantissa):
        return f"{head}{mantissa}{'0' * (point - len(mantissa))}"
    return f"{head}{mantissa[:point]}.{mantissa[point:]}"


def json_kind(value: Any) -> str:
    """The word encoding/json's UnmarshalTypeError uses for a JSON value."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


def cannot_unmarshal(value: Any, go_type: str, struct_field: str = "") -> str:
    """encoding/json's message for a value of the wrong JSON type."""
    into = f"Go struct field {struct_field} of type {go_type}" if struct_field else f"Go value of type {go_type}"
    return f"json: cannot unmarshal {json_kind(value)} into {into}"


def type_name(value: Any) -> str:
    """reflect.TypeOf(value) of a value decoded into interface{} (%s of a nil type included)."""
    if value is None:
        return "%!s(<nil>)"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "int64" if isinstance(value, int) else "float64"


def go_value(v: Any) -> str:
    """fmt's %v of a decoded JSON value: map[k:v] with sorted keys, [a b], <nil>."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_value(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(go_value(item) for item in v) + "]"
    if isinstance(v, float):
        text = repr(v)
        return text[:-2] if text.endswith(".0") else text
    return str(v)


def string_map(value: dict | None) -> Rendered:
    """map[string]string with keys sorted, as fmt prints maps."""
    if value is None:
        return Rendered("map[string]string(nil)")
    items = ", ".join(f"{go_string(k)}:{go_string(str(v))}" for k, v in sorted(value.items()))
    return Rendered("map[string]string{" + items + "}")


def string_slice(value: list | None, type_name: str = "string") -> Rendered:
    if value is None:
        return Rendered(f"[]{type_name}(nil)")
    return Rendered(f"[]{type_name}{{" + ", ".join(go_string(str(v)) for v in value) + "}")


def struct(type_name: str, fields: list[tuple[str, str]]) -> Rendered:
    """A Go struct literal from (field name, already-rendered value) pairs in declaration order."""
    return Rendered(type_name + "{" + ", ".join(f"{k}:{v}" for k, v in fields) + "}")


def label_selector(value: dict | None) -> Rendered | None:
    """A *metav1.LabelSelector as %#v shows it once dereferenced; None stays null."""
    if value is None:
        return None
    exprs = value.get("matchExpressions")
    if exprs is None:
        rendered_exprs = "[]v1.LabelSelectorRequirement(nil)"
    else:
        rendered_exprs = (
            "[]v1.LabelSelectorRequirement{"
            + ", ".join(
                struct(
                    "v1.LabelSelectorRequirement",
                    [
                        ("Key", go_string(e.get("key", ""))),
                        ("Operator", go_string(e.get("operator", ""))),
                        ("Values", string_slice(e.get("values"))),
                    ],
                )
                for e in exprs
            )
            + "}"
        )
    return struct(
        "v1.LabelSelector",
        [
            ("MatchLabels", string_map(value.get("matchLabels"))),
            ("MatchExpressions", rendered_exprs),
        ],
    )


def role_ref(value: dict) -> Rendered:
    return struct(
        "rbac.RoleRef",
        [
            ("APIGroup", go_string(value.get("apiGroup", ""))),
            ("Kind", go_string(value.get("kind", ""))),
            ("Name", go_string(value.get("name", ""))),
        ],
    )


def timestamp(value: str | None) -> Rendered:
    """metav1.Time prints through time.Time's String(): 2024-01-02 03:04:05 +0000 UTC."""
    if not value:
        return Rendered("0001-01-01 00:00:00 +0000 UTC")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return Rendered(value)
    zone = "UTC" if parsed.utcoffset() is not None and not parsed.utcoffset() else parsed.strftime("%z")
    return Rendered(parsed.strftime("%Y-%m-%d %H:%M:%S %z ") + zone)


def quantity_struct(text: Any) -> Rendered | Any:
    """A resource.Quantity value, which has no value-receiver String(), as %#v dumps its fields.

    Only quantities resource.ParseQuantity keeps as an int64Amount can be shown exactly; any other
    value falls back to its text.
    """
    amount = _int64_amount(str(text))
    if amount is None:
        return text
    value, scale, fmt, cached = amount
    return Rendered(
        f"resource.Quantity{{i:resource.int64Amount{{value:{value}, scale:{scale}}}, "
        f"d:resource.infDecAmount{{Dec:(*inf.Dec)(nil)}}, s:{go_string(cached)}, Format:{go_string(fmt)}}}"
    )


def _int64_amount(text: str) -> tuple[int, int, str, str] | None:
    """(value, scale, format, cached string) for the int64 fast path of resource.ParseQuantity."""
    text = text.strip()
    if text == "0":
        return 0, 0, quantity.DECIMAL_SI, "0"
    try:
        parts = quantity.split(text)
        base, exponent, fmt = quantity.suffix_scale(parts.suffix)
    except quantity.QuantityError:
        return None
    num = parts.whole.lstrip("0") or "0"
    denom = parts.fraction
    mantissa = 1
    if fmt == quantity.BINARY_SI:
        precision = 15 - len(num) - exponent * 3 // 10 - 1 if not denom else -1
        scale, mantissa = 0, 1 << exponent
    else:
        precision = 18 - (len(num) + len(denom))
        scale = exponent
    if precision < 0:
        return None
    scale -= len(denom)
    if scale < -9:
        return None
    shifted = num + denom
    value = int(shifted or "0") * mantissa
    if value >= 2**63:
        return None
    if parts.negative:
        value = -value
    canonical_text = (
        (exponent % 10 == 0 and int(shifted or "0") & 7 != 0)
        if fmt == quantity.BINARY_SI
        else (scale % 3 == 0 and not shifted.endswith("000") and shifted[:1] != "0")
    )
    return value, scale, fmt, text if canonical_text else ""
