"""The time controllers read, injectable so that tests can jump ahead instead of waiting.

Controllers that act at a moment (a cron schedule, a TTL, a deadline) ask their clock for the time and
subscribe to it: a FakeClock that is stepped tells its subscribers, which re-check their objects.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from timoneiro.controllers.base import Controller

RFC3339 = "%Y-%m-%dT%H:%M:%SZ"


def rfc3339(t: datetime) -> str:
    """A metav1.Time on the wire: UTC, whole seconds."""
    return t.astimezone(UTC).strftime(RFC3339)


class Clock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def subscribe(self, on_step: Callable[[], object]) -> None:
        """Real time never jumps: nothing to tell."""

    def unsubscribe(self, on_step: Callable[[], object]) -> None:
        """Nothing was kept."""


class FakeClock(Clock):
    """A clock that stands still until stepped; stepping may happen from another thread (a test's)."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[], object]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def step(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            now, subscribers = self._now, list(self._subscribers)
        for on_step in subscribers:
            on_step()
        return now

    def subscribe(self, on_step: Callable[[], object]) -> None:
        with self._lock:
            self._subscribers.append(on_step)

    def unsubscribe(self, on_step: Callable[[], object]) -> None:
        with self._lock:
            if on_step in self._subscribers:
                self._subscribers.remove(on_step)


class Clocked(Controller):
    """A controller that acts at moments in time: it reads `clock` and, when the clock jumps, re-checks
    its objects (on_clock_step). Tests put a FakeClock here, before the controllers start."""

    clock: Clock = Clock()

    def on_clock_step(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        loop = asyncio.get_running_loop()

        def stepped() -> None:
            loop.call_soon_threadsafe(self.on_clock_step)

        self.clock.subscribe(stepped)
        try:
            await super().run()
        finally:
            self.clock.unsubscribe(stepped)
