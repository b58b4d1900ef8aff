"""Recording core/v1 Events about objects, as client-go's event recorder does for controllers.

Recording never blocks or fails a sync: each event is written by a task of its own. An event that repeats
one recorded before (same object, type, reason and message) bumps that event's count and lastTimestamp
instead of adding another, as client-go's correlator does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime

from timoneiro.client import ApiError, Client, TransportError
from timoneiro.client.resources import EVENTS
from timoneiro.controllers.clock import rfc3339

log = logging.getLogger("timoneiro.controllers.events")
NORMAL = "Normal"
WARNING = "Warning"
CACHE_SIZE = 4096  # client-go's maxLruCacheEntries


class EventRecorder:
    def __init__(self, client: Client, component: str) -> None:
        self.client = client
        self.component = component
        self._seen: OrderedDict[tuple, tuple[str, str, int]] = OrderedDict()  # key -> (namespace, name, count)
        self._tasks: set[asyncio.Task] = set()

    def normal(self, ref: dict, reason: str, message: str) -> None:
        self.event(ref, NORMAL, reason, message)

    def warning(self, ref: dict, reason: str, message: str) -> None:
        self.event(ref, WARNING, reason, message)

    def event(self, ref: dict, type_: str, reason: str, message: str) -> None:
        """Record an event about the object `ref` (an ObjectReference) in the background."""
        task = asyncio.get_running_loop().create_task(self._write(ref, type_, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, ref: dict, type_: str, reason: str, message: str) -> None:
        namespace = ref.get("namespace") or "default"
        key = (ref.get("uid"), ref.get("kind"), ref.get("namespace"), ref.get("name"), type_, reason, message)
        now = rfc3339(datetime.now(UTC))
        try:
            seen = self._seen.get(key)
            if seen is not None:
                ns, name, count = seen
                self._seen.move_to_end(key)
                self._seen[key] = (ns, name, count + 1)
                try:
                    await self.client.patch(EVENTS, name, {"count": count + 1, "lastTimestamp": now}, ns,
                                            patch_type="strategic")
                    return
                except ApiError as e:
                    if e.code != 404:
                        raise
            name = f"{ref.get('name', '')}.{time.time_ns():x}"
            body = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": ref, "reason": reason, "message": message, "type": type_,
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                "source": {"component": self.component},
                "reportingComponent": self.component, "reportingInstance": "",
            }
            await self.client.create(EVENTS, body, namespace)
            self._seen[key] = (namespace, name, 1)
            while len(self._seen) > CACHE_SIZE:
                self._seen.popitem(last=False)
        except (ApiError, TransportError) as e:
            log.warning("could not record event %s %s about %s/%s: %s", type_, reason, namespace,
                        ref.get("name"), e)
