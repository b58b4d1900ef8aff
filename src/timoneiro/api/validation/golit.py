"""Bad values printed the way kube-apiserver's field errors print Go values with %#v.

Maps, string slices, label selectors and the few small structs that show up in common messages are
rendered exactly (map[string]string{"app":"x"}); anything else keeps field.py's JSON rendering.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from timoneiro.api import quantity
from timoneiro.api.field import Rendered


def go_string(value: str) -> str:
    """%q: a double-quoted Go string literal."""
    return json.dumps(value, ensure_ascii=False)


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
