"""The watch cache: the whole current state and recent history in memory, fed by one store watch.

Lists, gets and watches are served from here so reads never touch the store. Each object is kept as
JSON bytes with its resourceVersion already written in, so a list is a join of bytes. Labels and the
kind's selectable fields are extracted once per write for selector filtering.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import zlib
from collections import deque
from collections.abc import Callable
from sys import intern

import orjson

from timoneiro.storage.interface import Compacted, Event, Store, Unreadable

Describe = Callable[[str, dict], dict]  # key, object -> selectable field values


class Codec:
    """Compresses a resource's objects against one of them: siblings share most of their bytes, so a
    2.4 KB pod keeps about 140 bytes, and it reads back in a few microseconds."""

    __slots__ = ("zdict",)

    def __init__(self, sample: bytes) -> None:
        self.zdict = sample[-32768:]

    def pack(self, data: bytes) -> bytes:
        c = zlib.compressobj(1, zdict=self.zdict)
        return c.compress(data) + c.flush()

    def unpack(self, blob: bytes) -> bytes:
        return zlib.decompressobj(zdict=self.zdict).decompress(blob)


class Entry:
    __slots__ = ("key", "blob", "codec", "rev", "create_rev", "labels", "fields", "plain")

    def __init__(self, key: str, blob: bytes, codec: Codec, rev: int, create_rev: int, labels: dict,
                 fields: dict) -> None:
        self.key = key
        self.blob = blob
        self.codec = codec
        self.rev = rev
        self.create_rev = create_rev
        self.labels = labels
        self.fields = fields
        self.plain: bytes | None = None  # data, uncompressed, while the entry is among the newest

    @property
    def data(self) -> bytes:
        """The object as JSON, its resourceVersion written in."""
        return self.plain if self.plain is not None else self.codec.unpack(self.blob)


class CacheEvent:
    __slots__ = ("type", "entry", "prev", "rev")

    def __init__(self, type: str, entry: Entry, prev: Entry | None) -> None:
        self.type = type  # "PUT" or "DELETE"
        self.entry = entry
        self.prev = prev
        self.rev = entry.rev


Predicate = Callable[[Entry], bool]


class Watcher:
    """One client watch: the events for its prefix that pass its predicate, as (type, entry) pairs."""

    def __init__(self, cache: WatchCache, prefix: str, predicate: Predicate | None, limit: int) -> None:
        self.cache = cache
        self.prefix = prefix
        self.predicate = predicate
        self.queue: deque[tuple[str, Entry]] = deque()
        self.ready = asyncio.Event()
        self.limit = limit
        self.overflowed = False
        self.closed = False

    def offer(self, ev: CacheEvent) -> None:
        if not ev.entry.key.startswith(self.prefix):
            return
        pred = self.predicate
        now = ev.type == "PUT" and (pred is None or pred(ev.entry))
        before = ev.prev is not None and (pred is None or pred(ev.prev))
        if now:
            kind = "MODIFIED" if before else "ADDED"
        elif before:
            kind = "DELETED"
        else:
            return
        if len(self.queue) >= self.limit:
            self.overflowed = True  # too slow a reader: end its watch, as upstream does
            self.close()
            return
        self.queue.append((kind, ev.entry))
        self.ready.set()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.cache._unwatch(self)
            self.ready.set()

    async def next_batch(self, timeout: float | None) -> list[tuple[str, Entry]] | None:
        """Queued events, waiting up to timeout for some; None once closed and drained."""
        if not self.queue and not self.closed:
            self.ready.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.ready.wait(), timeout)
        if not self.queue:
            return None if self.closed else []
        batch = list(self.queue)
        self.queue.clear()
        return batch


class WatchCache:
    def __init__(self, store: Store, describe: Describe, history: int = 20000, watcher_queue: int = 10000,
                 plain: int = 1024) -> None:
        """`plain`: how many of the newest entries keep their data uncompressed too, so that the watches
        each write goes out to, and the writes that read it back soon after, do not each decompress it."""
        self.store = store
        self.describe = describe
        self.rev = 0
        self._objects: dict[str, dict[str, Entry]] = {}  # parent key -> name -> entry
        self._codecs: dict[str, Codec] = {}  # resource prefix -> the codec of its entries
        self._history: deque[CacheEvent] = deque(maxlen=history)
        self._floor = 0  # the oldest revision a watch can start after
        self._watchers: set[Watcher] = set()
        # the same watchers by the resource they watch ("/group/resource/"), "" for wider prefixes: a write is
        # offered only to the watchers of its resource
        self._by_resource: dict[str, set[Watcher]] = {}
        self._waiters: list[tuple[int, int, asyncio.Future]] = []
        self._seq = 0
        self._watcher_queue = watcher_queue
        self._newest: deque[Entry] = deque()
        self._plain = plain
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        items, rev = await self.store.list("/")
        for kv in items:
            entry = self.make_entry(kv.key, kv.value, kv.mod_revision, kv.create_revision)
            if entry:
                self._put(entry)
        self.rev = rev
        # replay recent history so watches from before a restart can resume without a relist
        after = max(self.store.compacted_revision, rev - self._history.maxlen)
        self._floor = after
        events = aiter(self.store.watch("/", after))
        seen = after
        while seen < rev:
            ev = await anext(events)
            seen = ev.kv.mod_revision
            self._apply(ev)
        self._task = asyncio.get_running_loop().create_task(self._follow(events))

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.close_watchers()

    def close_watchers(self) -> None:
        for w in list(self._watchers):
            w.close()

    def make_entry(self, key: str, value: bytes, rev: int, create_rev: int, newest: bool = False
                   ) -> Entry | None:
        """The cache's entry for a stored value; `newest`: one just written, which keeps its data uncompressed
        for a while."""
        try:
            obj = orjson.loads(value)
            meta = obj["metadata"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            if isinstance(value, Unreadable):  # kept: reading it fails (500) rather than finds nothing
                return Entry(key, value, value, rev, create_rev, {}, {})
            return None
        meta["resourceVersion"] = str(rev)
        data = orjson.dumps(obj)
        resource = _resource_of(key)
        codec = self._codecs.get(resource)
        if codec is None:
            codec = self._codecs[resource] = Codec(data)
        labels = {intern(k): intern(v) for k, v in (meta.get("labels") or {}).items() if isinstance(v, str)}
        # only non-empty values are kept: absent reads as "", and the key already holds name and namespace
        fields = {intern(k): intern(v) for k, v in self.describe(key, obj).items()
                  if v and not k.startswith("metadata.")}
        entry = Entry(key, codec.pack(data), codec, rev, create_rev, labels, fields)
        if newest:
            entry.plain = data
            self._newest.append(entry)
            if len(self._newest) > self._plain:
                self._newest.popleft().plain = None
        return entry

    def _put(self, entry: Entry) -> None:
        parent, _, name = entry.key.rpartition("/")
        self._objects.setdefault(parent, {})[name] = entry

    def _remove(self, key: str) -> None:
        parent, _, name = key.rpartition("/")
        names = self._objects.get(parent)
        if names is not None:
            names.pop(name, None)
            if not names:
                del self._objects[parent]

    async def _follow(self, events) -> None:
        async for ev in events:
            self._apply(ev)

    def _remember(self, cev: CacheEvent) -> None:
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].rev
        self._history.append(cev)

    def _apply(self, ev: Event) -> None:
        kv = ev.kv
        if kv.mod_revision <= self.rev:  # history replayed at start: keep it for resuming watches only
            entry = self.make_entry(kv.key, kv.value, kv.mod_revision, kv.create_revision)
            prev = self.make_entry(ev.prev.key, ev.prev.value, ev.prev.mod_revision, ev.prev.create_revision) \
                if ev.prev else None
            if entry:
                self._remember(CacheEvent(ev.type, entry, prev))
            return
        prev = self.get(kv.key)
        entry = self.make_entry(kv.key, kv.value, kv.mod_revision, kv.create_revision, newest=True)
        if entry is not None:
            if ev.type == "PUT":
                self._put(entry)
            else:
                self._remove(kv.key)
            cev = CacheEvent(ev.type, entry, prev)
            self._remember(cev)
            for w in list(self._by_resource.get(_resource_of(kv.key), ())):
                w.offer(cev)
            for w in list(self._by_resource.get("", ())):
                w.offer(cev)
        self.rev = kv.mod_revision
        while self._waiters and self._waiters[0][0] <= self.rev:
            _, _, fut = self._waiters.pop(0)
            if not fut.done():
                fut.set_result(None)

    async def wait_until(self, rev: int) -> None:
        """Return once the cache has seen every write up to rev (read-your-writes for clients)."""
        if self.rev >= rev:
            return
        fut = asyncio.get_running_loop().create_future()
        self._seq += 1
        bisect.insort(self._waiters, (rev, self._seq, fut))
        await fut

    async def fresh(self) -> None:
        """Catch up with every write the store has acknowledged (a consistent read)."""
        await self.wait_until(self.store.revision)

    # reads

    def get(self, key: str) -> Entry | None:
        parent, _, name = key.rpartition("/")
        names = self._objects.get(parent)
        return names.get(name) if names else None

    def list(self, prefix: str, predicate: Predicate | None = None, start: str = "") -> list[Entry]:
        """Entries under prefix (a "parent/" or a resource prefix) in key order, from key `start` on."""
        parent = prefix[:-1]
        if parent in self._objects:
            groups = [self._objects[parent]]
        elif parent.count("/") >= 3:  # one namespace of one resource ("/group/resource/ns"), empty
            return []
        else:
            groups = [self._objects[p] for p in sorted(self._objects) if p.startswith(prefix)]
        out: list[Entry] = []
        for names in groups:
            for name in sorted(names):
                entry = names[name]
                if start and entry.key < start:
                    continue
                if predicate is None or predicate(entry):
                    out.append(entry)
        return out

    def count(self, prefix: str) -> int:
        return sum(len(v) for p, v in self._objects.items() if (p + "/").startswith(prefix))

    def forget_before(self, rev: int) -> None:
        """History at or below rev was compacted in the store: watches from there get 410 too."""
        while self._history and self._history[0].rev <= rev:
            self._history.popleft()
        self._floor = max(self._floor, min(rev, self.rev))

    # watches

    def watch(self, prefix: str, after: int, predicate: Predicate | None = None) -> Watcher:
        """A watch of writes after revision `after`; Compacted if that is older than the history kept."""
        if after < self._floor:
            raise Compacted(after, self._floor)
        w = Watcher(self, prefix, predicate, self._watcher_queue)
        if after < self.rev:
            for ev in self._history:
                if ev.rev > after:
                    w.offer(ev)
        self._watchers.add(w)
        self._by_resource.setdefault(_resource_of(prefix), set()).add(w)
        return w

    def _unwatch(self, w: Watcher) -> None:
        self._watchers.discard(w)
        watchers = self._by_resource.get(_resource_of(w.prefix))
        if watchers is not None:
            watchers.discard(w)
            if not watchers:
                del self._by_resource[_resource_of(w.prefix)]


def _resource_of(key: str) -> str:
    """"/group/resource/" for a key or prefix that names one, else "" (a prefix wider than a resource)."""
    second = key.find("/", 1)
    third = key.find("/", second + 1) if second > 0 else -1
    return key[:third + 1] if third > 0 else ""
