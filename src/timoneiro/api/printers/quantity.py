"""Quantity.String() as printers call it, on the project's canonical quantity form."""

from __future__ import annotations

from timoneiro.api.quantity import canonicalize


def quantity(value: object) -> str:
    """A value-typed quantity in canonical form; a missing one is zero, as in Go."""
    return "0" if value is None else str(canonicalize(value))


def quantity_or_nil(value: object) -> str:
    """Quantity.String() through a pointer: "<nil>" when there is none."""
    return "<nil>" if value is None else quantity(value)
