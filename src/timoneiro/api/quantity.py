"""Kubernetes resource quantities ("100m", "1Gi", "1e3", "0.5"): exact values, canonical text, order.

A Quantity keeps its exact value as a Fraction and the format its suffix chose, which decides how it
prints: DecimalSI ("1500m", "2k"), BinarySI ("1536Mi"), DecimalExponent ("1e3"). Values finer than
a nano-unit are rounded away from zero when parsed, as resource.ParseQuantity does.

This is the project's one quantity implementation: validation parses with `parse`, while defaulting,
conversion and printers write quantities back with `canonicalize`, the text kube-apiserver re-encodes
a decoded quantity as (string-level results are cached: every create and update goes through here).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

SPLIT_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT = f"quantities must match the regular expression '{SPLIT_PATTERN}'"
ERR_SUFFIX = "unable to parse quantity's suffix"
ERR_TOO_LARGE = "quantity is too large"
MAX_DIGITS = 1000
MAX_EXPONENT = 1000

_NUMBER = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?")
_EXPONENT = re.compile(r"[eE]([+-]?\d+)")
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_NAMES = {exp: name for name, exp in _DECIMAL_SUFFIXES.items()}
_BINARY_NAMES = {exp: name for name, exp in _BINARY_SUFFIXES.items()}
MAX_BINARY = 2**63 - 1  # resource.ParseQuantity caps BinarySI amounts at the largest int64


class QuantityError(ValueError):
    """Text that is not a quantity; the message is the one the apiserver's decoder gives."""


@dataclass(frozen=True)
class Split:
    """The parts of a quantity's text: sign, digits before and after the point, suffix."""

    negative: bool
    whole: str
    fraction: str
    suffix: str


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Quantity:
    value: Fraction
    format: str = DECIMAL_SI

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __lt__(self, other: Quantity) -> bool:
        return self.value < other.value

    def __str__(self) -> str:
        return canonical(self)

    def __repr__(self) -> str:
        return f"Quantity({canonical(self)!r})"

    def sign(self) -> int:
        return (self.value > 0) - (self.value < 0)

    def scaled(self, exponent: int) -> int:
        """ceil(value / 10**exponent), like Quantity.ScaledValue: Value() is scaled(0)."""
        return math.ceil(self.value / Fraction(10) ** exponent)

    def int_value(self) -> int:
        return self.scaled(0)

    def milli_value(self) -> int:
        return self.scaled(-3)

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.value + other.value, self.format)

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(self.value - other.value, self.format)


def split(text: str) -> Split:
    """Split quantity text into its parts, raising QuantityError for malformed text."""
    m = _NUMBER.match(text)
    if not m or not (m.group(2) or m.group(3)):
        raise QuantityError(ERR_FORMAT)
    return Split(m.group(1) == "-", m.group(2), m.group(3) or "", text[m.end() :])


def suffix_scale(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) a suffix stands for: "Ki" -> (2, 10, BinarySI)."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    m = _EXPONENT.fullmatch(suffix)
    if m and len(m.group(1)) <= 11 and -(2**31) <= int(m.group(1)) < 2**31:  # upstream reads an int32
        return 10, int(m.group(1)), DECIMAL_EXPONENT
    raise QuantityError(ERR_SUFFIX)


def parse(text: str | int | float) -> Quantity:
    """Parse a quantity from JSON: a string, or a bare number as YAML manifests often carry."""
    if isinstance(text, bool):
        raise QuantityError(ERR_FORMAT)
    if isinstance(text, int):
        return Quantity(Fraction(text))
    return _parse_text(repr(text) if isinstance(text, float) else text.strip())


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Quantity:
    """parse() of stripped text; Quantity is immutable, so one parsed value can serve every caller."""
    if not text:
        raise QuantityError(ERR_FORMAT)
    if text == "0":
        return Quantity(Fraction(0))
    parts = split(text)
    base, exponent, fmt = suffix_scale(parts.suffix)
    digits = (parts.whole + parts.fraction) or "0"
    # bound the arithmetic: a huge scale would take minutes to expand (anyone who can write could ask)
    if len(digits) > MAX_DIGITS or exponent > MAX_EXPONENT:
        raise QuantityError(ERR_TOO_LARGE)
    exponent = max(exponent, -MAX_EXPONENT)  # so small it rounds to one nano-unit either way
    value = Fraction(int(digits), 10 ** len(parts.fraction)) * Fraction(base) ** exponent
    if parts.negative:
        value = -value
    # finer than a nano-unit rounds away from zero, so a tiny request still gets some
    return Quantity(_round_away(value, 9), fmt)


def is_quantity(value: object) -> bool:
    try:
        parse(value)  # type: ignore[arg-type]
    except (QuantityError, TypeError):
        return False
    return True


def capped(q: Quantity) -> Quantity:
    """The bounds resource.ParseQuantity puts on what it decodes: a BinarySI amount is capped at the
    largest int64, and a BinarySI fraction of one becomes DecimalSI. (parse() leaves them to callers.)"""
    if q.format != BINARY_SI:
        return q
    magnitude = min(abs(q.value), MAX_BINARY)
    fmt = DECIMAL_SI if 0 < magnitude < 1 else BINARY_SI
    return Quantity(-magnitude if q.value < 0 else magnitude, fmt)


def rounded_up(q: Quantity, digits: int) -> Quantity:
    """q rounded away from zero to `digits` decimal places, as inf.Dec's RoundUp does."""
    return Quantity(_round_away(q.value, digits), q.format)


def _round_away(value: Fraction, digits: int) -> Fraction:
    scale = 10**digits
    magnitude = Fraction(math.ceil(abs(value) * scale), scale)
    return -magnitude if value < 0 else magnitude


@functools.lru_cache(maxsize=4096)
def canonical_text(text: str, milli: bool = False) -> str | None:
    """The text kube-apiserver writes a decoded quantity back as ("0.5" -> "500m", "1.5Gi" -> "1536Mi"),
    rounded up to milli precision when asked (as SetDefaults_ResourceList does); None for non-quantities."""
    try:
        q = capped(parse(text))
    except QuantityError:
        return None
    return canonical(rounded_up(q, 3) if milli else q)


def canonicalize(value: object, milli: bool = False) -> object:
    """A quantity from JSON (a string or a bare number) in canonical form; anything else as it was."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value
    text = canonical_text(str(value), milli)
    return value if text is None else text


def canonical(q: Quantity) -> str:
    """The text Quantity.String() gives: the shortest form in q's format without losing precision."""
    if q.value == 0:
        return "0"
    fmt = q.format
    if fmt == BINARY_SI and (abs(q.value) < 1024 or q.value.denominator != 1):
        fmt = DECIMAL_SI
    if fmt == BINARY_SI:
        amount, exponent = _strip_factors(int(q.value), 1024)
        return f"{amount}{_BINARY_NAMES.get(exponent * 10, '')}"
    amount, exponent = _decimal_mantissa(q.value)
    if fmt == DECIMAL_EXPONENT:
        return f"{amount}e{exponent}" if exponent else str(amount)
    if exponent in _DECIMAL_NAMES:
        return f"{amount}{_DECIMAL_NAMES[exponent]}"
    return f"{amount}e{exponent}"


def _decimal_mantissa(value: Fraction) -> tuple[int, int]:
    """value as amount * 10**exponent with exponent a multiple of 3 and amount as small as that allows."""
    exponent = 0
    while value.denominator != 1:
        value *= 10
        exponent -= 1
    amount, times = _strip_factors(int(value), 10)
    exponent += times
    shift = exponent % 3
    return amount * 10**shift, exponent - shift


def _strip_factors(value: int, base: int) -> tuple[int, int]:
    times = 0
    while value and value % base == 0:
        value //= base
        times += 1
    return value, times
