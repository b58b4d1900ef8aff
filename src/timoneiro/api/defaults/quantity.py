"""Resource quantities in the canonical form kube-apiserver writes them back in.

The apiserver decodes every quantity into resource.Quantity and re-encodes it canonically, so "0.5"
reads back as "500m", "1000" as "1k" and "1.5Gi" as "1536Mi". SetDefaults_ResourceList also rounds
resource lists up to milli precision. Values that do not parse are left for validation to reject.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_NUMBER = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(.*)")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
_BINARY_SUFFIX = {power: suffix for suffix, power in _BINARY.items()}
_EXPONENT = re.compile(r"[eE]([+-]?\d+)")
_MAX_BINARY = 2**63 - 1


def parse(text: str) -> tuple[Fraction, str] | None:
    """The exact value and format ("binary", "decimal" or "exponent") of a quantity, rounded up to nano."""
    m = _NUMBER.fullmatch(text.strip())
    if not m or not (m.group(2) or m.group(3)):
        return None
    sign, whole, frac, suffix = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    value = Fraction(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac))
    if suffix in _BINARY:
        value, fmt = value * 1024 ** _BINARY[suffix], "binary"
    elif suffix in _DECIMAL:
        value, fmt = value * Fraction(10) ** _DECIMAL[suffix], "decimal"
    elif e := _EXPONENT.fullmatch(suffix):
        value, fmt = value * Fraction(10) ** int(e.group(1)), "exponent"
    else:
        return None
    value = _round_up(value, 9)
    if fmt == "binary":
        value = min(value, _MAX_BINARY)
        if 0 < value < 1:
            fmt = "decimal"
    return (-value if sign == "-" else value), fmt


def canonical(value: object, milli: bool = False) -> object:
    """A quantity (string or JSON number) in canonical form, rounded up to milli when asked."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value
    parsed = parse(str(value))
    if parsed is None:
        return value
    amount, fmt = parsed
    return _format(_round_up(amount, 3) if milli else amount, fmt)


def resource_list(obj: dict | None, key: str) -> None:
    """SetDefaults_ResourceList: every quantity of a resource list rounded up to milli, canonical."""
    resources = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(resources, dict):
        for name, value in resources.items():
            resources[name] = canonical(value, milli=True)


def _round_up(value: Fraction, digits: int) -> Fraction:
    """Away from zero, to `digits` decimal places, as inf.Dec's RoundUp does."""
    scale = 10**digits
    magnitude = Fraction(math.ceil(abs(value) * scale), scale)
    return -magnitude if value < 0 else magnitude


def _format(amount: Fraction, fmt: str) -> str:
    if amount == 0:
        return "0"
    if fmt == "binary" and (-1024 < amount < 1024 or amount.denominator != 1):
        fmt = "decimal"
    if fmt == "binary":
        number, power = amount.numerator, 0
        while number % 1024 == 0 and power < 6:
            number, power = number // 1024, power + 1
        return f"{number}{_BINARY_SUFFIX.get(power, '')}"
    number, exponent = _decimal_parts(amount)
    if fmt == "decimal" and exponent in _DECIMAL_SUFFIX:
        return f"{number}{_DECIMAL_SUFFIX[exponent]}"
    return f"{number}e{exponent}" if exponent else str(number)


def _decimal_parts(amount: Fraction) -> tuple[int, int]:
    """amount == number * 10**exponent, exponent a multiple of three and as large as possible."""
    exponent = 0
    while amount.denominator != 1:
        amount, exponent = amount * 10, exponent - 1
    number = amount.numerator
    while number % 10 == 0:
        number, exponent = number // 10, exponent + 1
    shift = exponent % 3
    return number * 10**shift, exponent - shift
