"""Small helpers over ObjectMeta shared by the request path."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # upstream's alphabet for generated name suffixes


def now(after_seconds: int = 0) -> str:
    """The time (after some seconds) as metav1.Time writes it."""
    return (datetime.now(UTC) + timedelta(seconds=after_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(base: str) -> str:
    """generateName plus five random characters, the base cut so the result fits 63 characters."""
    return base[: 63 - 5] + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))


def meta(obj: dict) -> dict:
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = obj["metadata"] = {}
    return m
