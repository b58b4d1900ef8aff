"""Container restart back-off, as client-go's flowcontrol.Backoff keeps it for the kubelet: per container,
doubling from an initial delay up to a cap, forgotten once nothing happened for twice the cap."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    delay: float
    last_update: float


class Backoff:
    def __init__(self, initial: float, cap: float, clock: Callable[[], float] = time.time) -> None:
        self.initial = initial
        self.cap = cap
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    def next(self, key: str, event_time: float) -> None:
        """Count one more failure of key: the next wait is twice the last (or the initial one again)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            entry = self._entries[key] = _Entry(self.initial, 0.0)
        else:
            entry.delay = min(entry.delay * 2, self.cap)
        entry.last_update = self.clock()

    def get(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def remaining(self, key: str, event_time: float) -> float:
        """Seconds until key may be retried after a failure at event_time; 0 if it may be now."""
        entry = self._entries.get(key)
        now = self.clock()
        if entry is None or self._expired(now, entry):
            return 0.0
        return max(0.0, entry.delay - (now - event_time))

    def remaining_since_update(self, key: str) -> float:
        """Seconds until key may be retried, counted from its last failure (IsInBackOffSinceUpdate)."""
        entry = self._entries.get(key)
        return self.remaining(key, entry.last_update) if entry is not None else 0.0

    def forget(self, prefix: str) -> None:
        """Drop the entries of every key that starts with prefix (a pod's uid)."""
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def _expired(self, at: float, entry: _Entry) -> bool:
        return at - entry.last_update > 2 * self.cap


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration prints it: 10s, 1m20s, 5m0s, 200ms, 1.6s."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return _trim(nanos / size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _trim(rest / 1e9) + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")
