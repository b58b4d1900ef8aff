"""resource.Quantity's canonical text (Quantity.String()), which printed capacities and usage show."""

from __future__ import annotations

import re
from fractions import Fraction

_NUMBER = re.compile(r"([+-]?)(\d+(?:\.\d*)?|\.\d+)(.*)")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exp: suffix for suffix, exp in _DECIMAL.items()}
_BINARY_SUFFIX = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_NANO = 10**9


def quantity(value: object) -> str:
    """The canonical form of a quantity held by value (a missing one is zero, as in Go)."""
    if value is None:
        return "0"
    text = str(value)
    parsed = _parse(text)
    if parsed is None:
        return text
    negative, amount, fmt = parsed
    if amount == 0:
        return "0"
    sign = "-" if negative else ""
    if fmt == "binary" and amount >= 1024 and amount.denominator == 1:
        number, power = int(amount), 0
        while number % 1024 == 0 and power < len(_BINARY_SUFFIX) - 1:
            number //= 1024
            power += 1
        return f"{sign}{number}{_BINARY_SUFFIX[power]}"
    mantissa, exponent = int(amount * _NANO), -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3
    mantissa, exponent = mantissa * 10**shift, exponent - shift
    if fmt == "exponent":
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
    if exponent > 18:
        mantissa, exponent = mantissa * 10 ** (exponent - 18), 18
    return f"{sign}{mantissa}{_DECIMAL_SUFFIX[exponent]}"


def quantity_or_nil(value: object) -> str:
    """Quantity.String() through a pointer: "<nil>" when there is none."""
    return "<nil>" if value is None else quantity(value)


def _parse(text: str) -> tuple[bool, Fraction, str] | None:
    """Sign, magnitude (rounded up to whole nanos, as ParseQuantity does) and format of a quantity."""
    m = _NUMBER.fullmatch(text.strip())
    if not m:
        return None
    sign, number, suffix = m.groups()
    amount = Fraction(number)
    if suffix in _BINARY:
        amount, fmt = amount * 2 ** _BINARY[suffix], "binary"
    elif suffix in _DECIMAL:
        amount, fmt = amount * Fraction(10) ** _DECIMAL[suffix], "decimal"
    elif re.fullmatch(r"[eE][+-]?\d+", suffix):
        amount, fmt = amount * Fraction(10) ** int(suffix[1:]), "exponent"
    else:
        return None
    nanos = amount * _NANO
    amount = Fraction(-(-nanos.numerator // nanos.denominator), _NANO)
    if fmt == "binary" and amount < 1:
        fmt = "decimal"
    return sign == "-", amount, fmt
