"""Small helpers over ObjectMeta shared by the request path."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # upstream's alphabet for generated name suffixes


def now(after_seconds: int = 0) -> str:
    """The time (after some seconds) as metav1.Time writes it."""
    if not after_seconds:
        return _this_second()
    return (datetime.now(UTC) + timedelta(seconds=after_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


_last: tuple[int, str] = (0, "")


def _this_second() -> str:
    """The current second as metav1.Time writes it, formatted once per second: every write asks for it."""
    global _last
    second = int(time.time())
    if second != _last[0]:
        _last = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return _last[1]


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
