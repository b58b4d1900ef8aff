"""Kubernetes Events about pods (Scheduled, FailedScheduling, Preempted), written in the background.

Writing events never holds up scheduling: they wait in a bounded queue that a few writers drain, and when the
API server cannot keep up, new ones are dropped, as client-go's broadcaster does. A repeat of an event (same
object, reason and message) within ten minutes bumps the count of the one already written instead of adding
another, so kubectl shows "(x3 over 2m)".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import OrderedDict

from timoneiro.client import ApiError, Client, TransportError
from timoneiro.client.resources import EVENTS
from timoneiro.scheduler.podstatus import now

log = logging.getLogger("timoneiro.scheduler.recorder")

SERIES_WINDOW = 600.0  # seconds within which a repeat counts into the same Event
REMEMBERED = 4096  # events remembered for counting repeats


class EventRecorder:
    def __init__(self, client: Client, component: str, *, capacity: int = 1000, writers: int = 4) -> None:
        self.client = client
        self.component = component
        self.instance = f"{component}-{socket.gethostname()}"
        self.capacity = capacity
        self.writers = writers
        self.dropped = 0
        self._queue: asyncio.Queue[tuple] = asyncio.Queue(capacity)
        self._series: OrderedDict[tuple, tuple[str, str, int, float]] = OrderedDict()  # -> ns, name, count, when
        self._tasks: list[asyncio.Task] = []

    def event(self, obj: dict, type_: str, reason: str, action: str, message: str) -> None:
        """Record an event about obj (a pod); never blocks, drops the event if the queue is full."""
        try:
            self._queue.put_nowait((obj, type_, reason, action, message, now()))
        except asyncio.QueueFull:
            self.dropped += 1

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._drain(), name="event writer") for _ in range(self.writers)]

    async def stop(self, flush: float = 2.0) -> None:
        """Write what is queued (for up to `flush` seconds), then stop the writers."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), flush)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _drain(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._write(*item)
            except (ApiError, TransportError) as e:
                log.warning("writing event %s %s: %s", item[2], item[4][:80], e)
            except Exception:
                log.exception("writing event %s", item[2])
            finally:
                self._queue.task_done()

    async def _write(self, obj: dict, type_: str, reason: str, action: str, message: str, timestamp: str) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (meta.get("uid"), type_, reason, message)
        seen = self._series.get(key)
        if seen is not None and time.monotonic() - seen[3] < SERIES_WINDOW:
            ns, name, count, _ = seen
            try:
                await self.client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": timestamp}, ns)
                self._remember(key, ns, name, count + 1)
                return
            except ApiError as e:
                if e.code != 404:
                    raise
        name = f"{meta['name']}.{time.time_ns():x}"
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": obj.get("kind") or "Pod", "apiVersion": obj.get("apiVersion") or "v1",
                               "namespace": meta.get("namespace"), "name": meta["name"], "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "type": type_, "action": action,
            "source": {"component": self.component},
            "firstTimestamp": timestamp, "lastTimestamp": timestamp, "count": 1,
            "reportingComponent": self.component, "reportingInstance": self.instance,
        }
        await self.client.create(EVENTS, body, namespace)
        self._remember(key, namespace, name, 1)

    def _remember(self, key: tuple, namespace: str, name: str, count: int) -> None:
        self._series[key] = (namespace, name, count, time.monotonic())
        self._series.move_to_end(key)
        while len(self._series) > REMEMBERED:
            self._series.popitem(last=False)
