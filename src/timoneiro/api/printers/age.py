"""Timestamps as kube-apiserver prints them: ages in HumanDuration form, RFC 3339 in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# metav1.Time and MicroTime on the wire; fractions beyond microseconds are dropped
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)
_ZERO_TIME = "0001-01-01T00:00:00Z"


def parse_time(value: object) -> datetime | None:
    """A wire timestamp as an aware datetime; None where Go would hold the zero time."""
    if not isinstance(value, str):
        return None
    m = _RFC3339.fullmatch(value)
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    offset = timedelta(0)
    if zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        naive = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro)
    except ValueError:
        return None
    return naive.replace(tzinfo=UTC) - offset


def human_duration(delta: timedelta) -> str:
    """duration.HumanDuration: about two significant figures, "<invalid>" well in the future."""
    micros = delta // timedelta(microseconds=1)
    seconds = int(micros / 1_000_000)  # Go truncates toward zero
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        h = hours % 24
        return f"{days}d" if h == 0 else f"{days}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        dy = days % 365
        return f"{years}y" if dy == 0 else f"{years}y{dy}d"
    return f"{years}y"


def since(value: object, now: datetime) -> str:
    """translateTimestampSince: the age of a timestamp, "<unknown>" when it is unset."""
    when = value if isinstance(value, datetime) else parse_time(value)
    if when is None:
        return "<unknown>"
    return human_duration(now - when)


def rfc3339(value: object) -> str:
    """A timestamp re-rendered as Go's time.RFC3339 in UTC (whole seconds), as the default table shows it."""
    when = parse_time(value)
    if when is None:
        return _ZERO_TIME
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
