"""Recording core/v1 Events, as client-go's tools/record package does for the kubelet and the controllers
(the scheduler writes events.k8s.io/v1 ones, with eventsv1.py).

Recording never blocks or fails the caller: the event is correlated at once (client-go's EventCorrelator:
repeats bump a count, similar ones are combined, spam is dropped; see event_correlator) and queued, and
writers drain the queue in the background. Each object's events are written by one writer, in the order
they were recorded (a repeat's patch never overtakes the create it patches); events about different
objects are written in parallel, at most `qps` a second if given (the kubelet's eventRecordQPS and
eventBurst), each once `yield_to` allows, so that a burst of pods does not become a burst of event writes
competing with their status writes. When the API server cannot keep up and the queue is full, new events
are dropped, as client-go's broadcaster drops them. An event is named, as upstream names it, after its
object and the nanosecond it was recorded, so that listing events gives them in the order they happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from timoneiro.client.errors import ApiError, TransportError
from timoneiro.client.event_correlator import Correlated, EventCorrelator, timestamp
from timoneiro.client.resources import EVENTS
from timoneiro.client.rest import Client
from timoneiro.client.workqueue import TokenBucket

log = logging.getLogger("timoneiro.client.events")
YIELD_AT_MOST = 1.0  # seconds an event waits for yield_to at the most
NORMAL = "Normal"
WARNING = "Warning"


def reference(obj: dict, field_path: str = "") -> dict:
    """An ObjectReference to obj (a part of it, with field_path), as reference.GetReference makes one."""
    meta = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
           "uid": meta.get("uid", ""), "apiVersion": obj.get("apiVersion", ""),
           "resourceVersion": meta.get("resourceVersion", ""), "fieldPath": field_path}
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    def __init__(self, client: Client, component: str, *, host: str = "", capacity: int = 1000,
                 writers: int = 4, qps: float = 0.0, burst: int = 0,
                 yield_to: Callable[[], Awaitable[None]] | None = None) -> None:
        """component and host are the events' source (the kubelet's host is its node's name), and their
        reportingComponent and reportingInstance, as client-go fills them. qps 0: writes are not
        rate-limited. yield_to: what each write waits for first (up to a second), so that it does not
        compete with more pressing writes (the kubelet's: its pods' status)."""
        self.client = client
        self.source = {"component": component, **({"host": host} if host else {})}
        self.capacity = capacity
        self.dropped = 0  # events the full queue turned away
        self.correlator = EventCorrelator()
        self._queues: list[deque[Correlated]] = [deque() for _ in range(max(1, writers))]
        self._writers: list[asyncio.Task | None] = [None] * len(self._queues)
        self._queued = 0
        self._last_ns = 0
        self._limiter = TokenBucket(qps, max(1, burst)) if qps > 0 else None
        self.yield_to = yield_to

    # recording

    def record(self, ref: dict, type_: str, reason: str, message: str) -> None:
        """Record an event about the object `ref` (an ObjectReference); never blocks."""
        now_ns = max(time.time_ns(), self._last_ns + 1)  # names stay unique and in recording order
        self._last_ns = now_ns
        when = timestamp(now_ns / 1e9)
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": f"{ref.get('name', '')}.{now_ns:x}",
                              "namespace": ref.get("namespace") or "default"},
                 "involvedObject": ref, "reason": reason, "message": message, "type": type_,
                 "source": self.source, "firstTimestamp": when, "lastTimestamp": when, "count": 1,
                 "reportingComponent": self.source["component"], "reportingInstance": self.source.get("host", "")}
        correlated = self.correlator.correlate(event)
        if correlated is not None:
            self._enqueue(correlated, ref.get("uid") or ref.get("name", ""))

    def normal(self, ref: dict, reason: str, message: str) -> None:
        self.record(ref, NORMAL, reason, message)

    def warning(self, ref: dict, reason: str, message: str) -> None:
        self.record(ref, WARNING, reason, message)

    async def stop(self, flush: float = 2.0) -> None:
        """Write what is queued (for up to `flush` seconds), then stop writing."""
        writers = [w for w in self._writers if w is not None and not w.done()]
        if writers:
            await asyncio.wait(writers, timeout=flush)
        for writer in writers:
            writer.cancel()
        for writer in writers:
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    # writing

    def _enqueue(self, correlated: Correlated, object_key: str) -> None:
        if self._queued >= self.capacity:
            self.dropped += 1
            return
        shard = hash(object_key) % len(self._queues)
        self._queues[shard].append(correlated)
        self._queued += 1
        writer = self._writers[shard]
        if writer is None or writer.done():
            self._writers[shard] = asyncio.get_running_loop().create_task(self._drain(shard), name="event writer")

    async def _drain(self, shard: int) -> None:
        """Write one shard's events until none is left; a writer is a task only while it has work."""
        queue = self._queues[shard]
        while queue:
            item = queue.popleft()
            if self._limiter is not None:
                await asyncio.sleep(self._limiter.when(None))
            if self.yield_to is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.yield_to(), YIELD_AT_MOST)
            try:
                await self._write(item)
            except (ApiError, TransportError) as e:
                log.warning("writing event %s %r: %s", item.event["reason"], item.event["message"][:80], e)
            except Exception:
                log.exception("writing event %s", item.event["reason"])
            finally:
                self._queued -= 1

    async def _write(self, item: Correlated) -> None:
        event = item.event
        meta = event["metadata"]
        if item.patch is not None:
            try:
                await self.client.patch(EVENTS, meta["name"], item.patch, meta["namespace"], patch_type="strategic")
                return
            except ApiError as e:
                if e.code != 404:
                    raise
        await self.client.create(EVENTS, event, meta["namespace"])
