"""Resource lists (resource name -> Quantity) with the arithmetic quota accounting does on them, as
upstream's quota helpers do it: sums keep the first non-zero operand's format, so "0" plus "1Gi" is "1Gi"."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from timoneiro.api.quantity import Quantity, QuantityError, canonical, parse

ResourceList = dict[str, Quantity]

ZERO = Quantity(Fraction(0))
ONE = Quantity(Fraction(1))


def parse_list(raw: dict | None) -> ResourceList:
    """A ResourceList from JSON; validation has already refused values that are not quantities."""
    out: ResourceList = {}
    for name, value in (raw or {}).items():
        try:
            out[name] = parse(value)
        except (QuantityError, TypeError):
            continue
    return out


def to_json(resources: ResourceList) -> dict[str, str]:
    return {name: canonical(q) for name, q in sorted(resources.items())}


def plus(a: Quantity, b: Quantity) -> Quantity:
    """a + b in a's format, or b's when a is zero (Quantity.Add)."""
    return Quantity(a.value + b.value, b.format if a.value == 0 else a.format)


def minus(a: Quantity, b: Quantity) -> Quantity:
    return Quantity(a.value - b.value, b.format if a.value == 0 else a.format)


def add(a: ResourceList, b: ResourceList) -> ResourceList:
    out = {name: plus(q, b[name]) if name in b else q for name, q in a.items()}
    for name, q in b.items():
        out.setdefault(name, q)
    return out


def add_into(total: ResourceList, more: ResourceList) -> None:
    for name, q in more.items():
        total[name] = plus(total[name], q) if name in total else q


def max_into(peak: ResourceList, other: ResourceList) -> None:
    for name, q in other.items():
        if name not in peak or q > peak[name]:
            peak[name] = q


def subtract_non_negative(a: ResourceList, b: ResourceList) -> ResourceList:
    """a - b per resource, negative results as zero; resources only in b are zero."""
    out: ResourceList = {}
    for name, q in a.items():
        diff = minus(q, b[name]) if name in b else q
        out[name] = diff if diff.value > 0 else ZERO
    for name in b:
        out.setdefault(name, ZERO)
    return out


def mask(resources: ResourceList, names: Iterable[str]) -> ResourceList:
    keep = set(names)
    return {name: q for name, q in resources.items() if name in keep}


def exceeding(a: ResourceList, b: ResourceList) -> list[str]:
    """The resources of a that are above their amount in b (resources b does not list are not limited)."""
    return [name for name, q in a.items() if name in b and q > b[name]]


def equals(a: ResourceList, b: ResourceList) -> bool:
    return a.keys() == b.keys() and all(q == b[name] for name, q in a.items())


def is_zero(resources: ResourceList) -> bool:
    return all(q.value == 0 for q in resources.values())


def negative(resources: ResourceList) -> list[str]:
    return [name for name, q in resources.items() if q.value < 0]


def pretty(resources: ResourceList) -> str:
    """name=value pairs in name order, as quota error messages list them."""
    return ",".join(f"{name}={canonical(resources[name])}" for name in sorted(resources))
