"""Cron schedules as the CronJob controller reads them (robfig/cron's ParseStandard): five fields or a
descriptor (@hourly, @daily, @every 90m ...), optionally prefixed by TZ= or CRON_TZ=, in a time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

_DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


class ScheduleError(ValueError):
    pass


def zone(name: str | None) -> tzinfo:
    """The named IANA zone; no name is UTC (Go's LoadLocation("")). Raises ScheduleError if unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ScheduleError(f"unknown time zone {name}") from e


def parse_duration(text: str) -> float:
    """A Go duration ("1h30m", "90s") in seconds."""
    if not text or _DURATION_PART.sub("", text):
        raise ScheduleError(f'time: invalid duration "{text}"')
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


@dataclass(frozen=True)
class Schedule:
    expression: str  # five cron fields, or "" for a constant delay
    every: float  # seconds between runs of an @every schedule
    location: tzinfo

    def next(self, after: datetime) -> datetime | None:
        """The first activation strictly after `after`, in whole seconds; None if there is none."""
        if self.every:
            return after.replace(microsecond=0) + timedelta(seconds=self.every)
        try:
            return croniter(self.expression, after.astimezone(self.location)).get_next(datetime)
        except CroniterBadDateError:
            return None


def parse(spec: str, time_zone: str | None = None) -> Schedule:
    """A schedule from spec.schedule; spec.timeZone applies unless the schedule names its own zone."""
    text = spec.strip()
    location = zone(time_zone)
    if text.startswith(("TZ=", "CRON_TZ=")):
        name, _, text = text.partition(" ")
        location = zone(name.split("=", 1)[1])
        text = text.strip()
    if text.startswith("@every "):
        delay = parse_duration(text[len("@every "):].strip())
        return Schedule("", max(1.0, float(int(delay))), location)
    if text.startswith("@"):
        if text not in _DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {text}")
        text = _DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    if not croniter.is_valid(text):
        raise ScheduleError(f"invalid cron expression: {text}")
    return Schedule(text, 0.0, location)
