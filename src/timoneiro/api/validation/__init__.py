"""Validation of built-in kinds with upstream's field paths and messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.api.field import FieldError

if TYPE_CHECKING:
    from timoneiro.api.kinds import Kind


def validate(kind: Kind, obj: dict) -> list[FieldError]:
    return []


def validate_update(kind: Kind, new: dict, old: dict) -> list[FieldError]:
    return []
