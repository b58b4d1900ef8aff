"""What becomes of a recorded Event before it is written, as client-go's EventCorrelator decides (its defaults):

- dedup: an event identical to one written before (same source, object and field path, type, reason and
  message) is a patch of that one's count, lastTimestamp and message, so kubectl shows "(x3 over 2m)";
- aggregation: once 10 different messages with the same source, object, type and reason come within 10
  minutes, they are written as one event whose message starts "(combined from similar events): ";
- spam filter: a source may write 25 events about one object at once, then one every 5 minutes (a token
  bucket); the others are dropped, though their counts still add up.

Pure: no I/O; the recorder writes what it answers.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

CACHE_SIZE = 4096  # client-go's maxLruCacheEntries, for each of the three caches
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL = 600.0
SPAM_BURST = 25
SPAM_QPS = 1 / 300
COMBINED = "(combined from similar events): "


def timestamp(t: float) -> str:
    """metav1.Time on the wire: whole seconds."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _LRU(OrderedDict):
    """A dict that forgets its least recently used keys beyond a size, as groupcache's lru.Cache."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def lookup(self, key: object) -> object | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: object, value: object) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)


@dataclass
class _Aggregate:
    messages: set[str]
    last: float


@dataclass
class _Observed:
    count: int
    first: str  # firstTimestamp
    name: str


@dataclass
class _Bucket:
    tokens: float
    last: float


@dataclass
class Correlated:
    event: dict  # the Event to write, whole
    patch: dict | None  # when it repeats one written before: the strategic merge patch of that one


def _object_key(event: dict) -> tuple:
    source, ref = event.get("source") or {}, event["involvedObject"]
    return (source.get("component", ""), source.get("host", ""), ref.get("kind", ""), ref.get("namespace", ""),
            ref.get("name", ""), ref.get("uid", ""), ref.get("apiVersion", ""))


def _event_key(event: dict) -> tuple:
    return (*_object_key(event), event["involvedObject"].get("fieldPath", ""), event["type"], event["reason"],
            event["message"])


def _aggregate_key(event: dict) -> tuple:
    return (*_object_key(event), event["type"], event["reason"], event.get("reportingComponent", ""),
            event.get("reportingInstance", ""))


class EventCorrelator:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._aggregates = _LRU(CACHE_SIZE)
        self._observed = _LRU(CACHE_SIZE)
        self._buckets = _LRU(CACHE_SIZE)

    def correlate(self, event: dict) -> Correlated | None:
        """What to write for a new event (as makeEvent builds it: count 1, first = last timestamp); None if
        the spam filter drops it."""
        now = self.clock()
        event, key = self._aggregate(event, now)
        event, patch = self._observe(event, key)
        if not self._allowed(event, now):
            return None
        return Correlated(event, patch)

    def _aggregate(self, event: dict, now: float) -> tuple[dict, tuple]:
        key = _aggregate_key(event)
        record = self._aggregates.lookup(key)
        if record is None or now - record.last > AGGREGATE_INTERVAL:
            record = _Aggregate(set(), now)
        record.messages.add(event["message"])
        record.last = now
        self._aggregates.put(key, record)
        if len(record.messages) < AGGREGATE_MAX_EVENTS:
            return event, _event_key(event)
        record.messages.pop()  # keep the set from growing past the threshold
        ref = event["involvedObject"]
        combined = {"apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": f"{ref.get('name', '')}.{time.time_ns():x}",
                                 "namespace": event["metadata"]["namespace"]},
                    "involvedObject": ref, "reason": event["reason"], "message": COMBINED + event["message"],
                    "type": event["type"], "source": event.get("source") or {}, "count": 1,
                    "firstTimestamp": timestamp(now), "lastTimestamp": timestamp(now)}
        return combined, key

    def _observe(self, event: dict, key: tuple) -> tuple[dict, dict | None]:
        seen = self._observed.lookup(key)
        patch = None
        if seen is not None:
            event = {**event, "metadata": {**event["metadata"], "name": seen.name}, "count": seen.count + 1,
                     "firstTimestamp": seen.first}
            patch = {"count": event["count"], "lastTimestamp": event["lastTimestamp"], "message": event["message"]}
        self._observed.put(key, _Observed(event["count"], event["firstTimestamp"], event["metadata"]["name"]))
        return event, patch

    def _allowed(self, event: dict, now: float) -> bool:
        key = _object_key(event)
        bucket = self._buckets.lookup(key)
        if bucket is None:
            bucket = _Bucket(SPAM_BURST, now)
        bucket.tokens = min(SPAM_BURST, bucket.tokens + (now - bucket.last) * SPAM_QPS)
        bucket.last = now
        self._buckets.put(key, bucket)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True
