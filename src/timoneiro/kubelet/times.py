"""Timestamps on the wire, from seconds since the epoch: metav1.Time (whole seconds), metav1.MicroTime."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def rfc3339(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seconds(text: str) -> float:
    """Seconds since the epoch of a metav1.Time or MicroTime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
