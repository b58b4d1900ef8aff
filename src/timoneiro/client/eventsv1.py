"""Recording events.k8s.io/v1 Events, as client-go's tools/events package does: kube-scheduler's recorder.

Unlike the core/v1 recorder (client/events.py), this one has no correlator and no spam filter. Every event
is written, asynchronously: recording only queues it, and up to `writers` tasks write the queue (client-go
starts a goroutine per event; a pool of tasks sharing the keep-alive connections does the same work for
less). Nothing is dropped for being too many; an event the server cannot be reached for is tried again,
up to 12 times, 10 s apart.

Isomorphic events (same regarding and related objects, reason, action and reporting controller) make a
series: the first repeat patches the event with `series: {count: 2, lastObservedTime}`, later repeats only
count in memory, and the series is written again every 30 minutes while it goes on, and once more when it
has been quiet for 6 minutes, when it is forgotten (a single event is forgotten after 6 minutes too).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
import time
from collections import deque

from timoneiro.client.errors import ApiError, TransportError
from timoneiro.client.events import reference
from timoneiro.client.resources import EVENTS_V1
from timoneiro.client.rest import Client

log = logging.getLogger("timoneiro.client.eventsv1")
MAX_TRIES = 12  # maxTriesPerEvent
RETRY_AFTER = 10.0  # defaultSleepDuration, jittered up to 25% more
FINISH_AFTER = 360.0  # finishTime: a series quiet this long is written a last time and forgotten
REFRESH_EVERY = 1800.0  # refreshTime: ongoing series are written again this often


def micro_time(t: float) -> str:
    """metav1.MicroTime on the wire."""
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _frozen(ref: dict | None) -> tuple:
    return tuple(sorted(ref.items())) if ref else ()


class EventRecorder:
    def __init__(self, client: Client, controller: str, instance: str, *, writers: int = 32) -> None:
        """controller: reportingController (kube-scheduler's profile name); instance: reportingInstance."""
        self.client = client
        self.controller = controller
        self.instance = instance
        self.writers = writers
        self.written = 0  # events created or patched
        self.failed = 0  # events given up on
        self._cache: dict[tuple, dict] = {}  # isomorphic key -> the event last written for it
        self._queue: deque[dict] = deque()
        self._busy: set[asyncio.Task] = set()
        self._series_tasks: list[asyncio.Task] = []
        self._last_ns = 0

    @property
    def pending(self) -> int:
        """Events recorded and not written (or given up on) yet."""
        return len(self._queue) + len(self._busy)

    def event(self, regarding: dict, type_: str, reason: str, action: str, note: str,
              related: dict | None = None) -> None:
        """Record an event about the object `regarding` (the whole object), and optionally `related`; never
        blocks."""
        now_ns = max(time.time_ns(), self._last_ns + 1)  # names stay unique
        self._last_ns = now_ns
        ref = reference(regarding)
        event = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
                 "metadata": {"name": f"{ref.get('name', '')}.{now_ns:x}",
                              "namespace": ref.get("namespace") or "default"},
                 "eventTime": micro_time(now_ns / 1e9), "reportingController": self.controller,
                 "reportingInstance": self.instance, "action": action, "reason": reason, "regarding": ref,
                 "note": note, "type": type_}
        related_ref = reference(related) if related else None
        if related_ref:
            event["related"] = related_ref
        key = (action, reason, self.controller, _frozen(ref), _frozen(related_ref))
        cached = self._cache.get(key)
        if cached is None:
            self._cache[key] = event
            self._submit(event)
            return
        series = cached.get("series")
        when = micro_time(now_ns / 1e9)
        if series is not None:
            series["count"] += 1
            series["lastObservedTime"] = when
            return
        cached["series"] = {"count": 2, "lastObservedTime": when}
        self._submit(cached)

    def start(self) -> None:
        """Keep series up to date in the background (until stop)."""
        loop = asyncio.get_running_loop()
        self._series_tasks = [loop.create_task(self._periodically(self.finish_series, FINISH_AFTER)),
                              loop.create_task(self._periodically(self.refresh_series, REFRESH_EVERY))]

    async def stop(self, flush: float = 2.0) -> None:
        """Write what is queued (for up to `flush` seconds), then stop writing."""
        for task in self._series_tasks:
            task.cancel()
        deadline = time.monotonic() + flush
        while self._busy and time.monotonic() < deadline:
            await asyncio.wait(list(self._busy), timeout=max(0.0, deadline - time.monotonic()))
        self._queue.clear()
        for task in [*self._busy, *self._series_tasks]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._series_tasks = []

    # series upkeep

    def finish_series(self, now: float | None = None) -> None:
        """Write the last count of series quiet for FINISH_AFTER, and forget them and old single events."""
        horizon = micro_time((time.time() if now is None else now) - FINISH_AFTER)
        for key, event in list(self._cache.items()):
            series = event.get("series")
            if series is not None and series["lastObservedTime"] < horizon:
                self._submit(event)
                del self._cache[key]
            elif series is None and event["eventTime"] < horizon:
                del self._cache[key]

    def refresh_series(self) -> None:
        for event in self._cache.values():
            if event.get("series") is not None:
                self._submit(event)

    async def _periodically(self, work, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            work()

    # writing

    def _submit(self, event: dict) -> None:
        # a copy: what is written must not change while it waits (the cached one's series counts on)
        self._queue.append({**event, "series": dict(event["series"])} if "series" in event else {**event})
        if len(self._busy) < self.writers:
            task = asyncio.get_running_loop().create_task(self._drain(), name="event writer")
            self._busy.add(task)
            task.add_done_callback(self._busy.discard)

    async def _drain(self) -> None:
        while self._queue:
            event = self._queue.popleft()
            for tries in range(1, MAX_TRIES + 1):
                try:
                    await self._write(event)
                    self.written += 1
                    break
                except ApiError as e:  # the server refused it: it would refuse it again
                    if e.code != 409:
                        log.warning("server rejected event %s %r: %s", event["reason"], event["note"][:80], e)
                    self.failed += 1
                    break
                except TransportError as e:
                    if tries == MAX_TRIES:
                        log.error("unable to write event %s %r (retry limit exceeded): %s", event["reason"],
                                  event["note"][:80], e)
                        self.failed += 1
                        break
                    await asyncio.sleep(RETRY_AFTER * (1 + 0.25 * random.random()))

    async def _write(self, event: dict) -> None:
        meta = event["metadata"]
        series = event.get("series")
        if series is not None:
            try:
                await self.client.patch(EVENTS_V1, meta["name"], {"series": series}, meta["namespace"],
                                        patch_type="strategic")
                return
            except ApiError as e:
                if e.code != 404:  # gone (or never made it): created whole instead
                    raise
        await self.client.create(EVENTS_V1, event, meta["namespace"])
