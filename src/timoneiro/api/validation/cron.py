"""CronJob schedules, checked like cron.ParseStandard (robfig/cron v3) with its error texts.

A standard schedule has five fields (minute hour day-of-month month day-of-week), may start with
TZ=<zone> or CRON_TZ=<zone>, or be a descriptor such as @daily or "@every 1h30m".
"""

from __future__ import annotations

import re
import zoneinfo

_BOUNDS = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (
        1,
        12,
        {
            m: i
            for i, m in enumerate(
                ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
            )
        },
    ),
    (0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}),
)
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_DURATION_UNITS = {"ns": 1, "us": 1e3, "µs": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")
_ATOI = re.compile(r"[+-]?[0-9]+")


class ScheduleError(ValueError):
    pass


def load_location(name: str) -> str | None:
    """time.LoadLocation's error for a zone name, or None when the zone exists."""
    if name in ("", "UTC"):
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name}"
    return None


def parse_standard(spec: str) -> None:
    """Raise ScheduleError with robfig/cron's message when spec is not a standard schedule."""
    if not spec:
        raise ScheduleError("empty spec string")
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space = spec.find(" ")
        zone = spec[spec.index("=") + 1 : space if space >= 0 else len(spec)]
        problem = load_location(zone)
        if problem:
            raise ScheduleError(f"provided bad location {zone}: {problem}")
        spec = spec[space:].strip() if space >= 0 else ""
    if spec.startswith("@"):
        _descriptor(spec)
        return
    fields = spec.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    for text, bounds in zip(fields, _BOUNDS, strict=True):
        for expr in (part for part in text.split(",") if part):
            _range(expr, *bounds)


def _descriptor(spec: str) -> None:
    if spec in _DESCRIPTORS:
        return
    if spec.startswith("@every "):
        problem = parse_duration(spec[len("@every ") :])
        if problem:
            raise ScheduleError(f"failed to parse duration {spec}: {problem}")
        return
    raise ScheduleError(f"unrecognized descriptor: {spec}")


def parse_duration(text: str) -> str | None:
    """time.ParseDuration's error for text, or None when it is a duration."""
    quoted = '"' + text + '"'
    body = text.lstrip("+-")
    if body == "0":
        return None
    if not body:
        return f"time: invalid duration {quoted}"
    pos = 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        number, unit = m.group(1), m.group(2)  # type: ignore[union-attr]
        if not number or number == ".":
            return f"time: invalid duration {quoted}"
        if not unit:
            return f"time: missing unit in duration {quoted}"
        if unit not in _DURATION_UNITS:
            return f'time: unknown unit "{unit}" in duration {quoted}'
        pos = m.end()  # type: ignore[union-attr]
    return None


def _parse_int(expr: str) -> int:
    if not _ATOI.fullmatch(expr):
        raise ScheduleError(
            f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax'
        )
    number = int(expr)
    if number < 0:
        raise ScheduleError(f"negative number ({number}) not allowed: {expr}")
    return number


def _int_or_name(expr: str, names: dict[str, int]) -> int:
    return names[expr.lower()] if expr.lower() in names else _parse_int(expr)


def _range(expr: str, lo: int, hi: int, names: dict[str, int]) -> None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    if low_and_high[0] in ("*", "?"):
        start, end = lo, hi
    else:
        start = _int_or_name(low_and_high[0], names)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _int_or_name(low_and_high[1], names)
        else:
            raise ScheduleError(f"too many hyphens: {expr}")
    if len(range_and_step) == 2:
        step = _parse_int(range_and_step[1])
        if len(low_and_high) == 1:
            end = hi
    elif len(range_and_step) > 2:
        raise ScheduleError(f"too many slashes: {expr}")
    else:
        step = 1
    if start < lo:
        raise ScheduleError(f"beginning of range ({start}) below minimum ({lo}): {expr}")
    if end > hi:
        raise ScheduleError(f"end of range ({end}) above maximum ({hi}): {expr}")
    if start > end:
        raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise ScheduleError(f"step of range should be a positive number: {expr}")
