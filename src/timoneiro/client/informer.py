"""Informers: a local cache of one resource kept current by list-then-watch, with change notifications.

As client-go's reflector does, an informer lists once, then watches from the list's resourceVersion with
bookmarks. After a dropped connection or a server restart it watches again from the last resourceVersion it
saw, so nothing is missed or repeated and nothing is relisted while the server still has that history. Only
when the server answers 410 Gone (the history was compacted) does it list again, and then it tells its
handlers what changed by comparing the new list with its cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from timoneiro.client.errors import ApiError, TransportError
from timoneiro.client.resources import Resource
from timoneiro.client.rest import Client
from timoneiro.client.store import IndexFunc, Store, object_key
from timoneiro.client.watch import WatchEvent

log = logging.getLogger("timoneiro.client.informer")

SHORT_WATCH = 1.0  # a watch that ends this fast without an event counts as a failure, to back off


@dataclass(frozen=True)
class Handler:
    """Callbacks run in the informer's task, in event order: keep them quick (typically: enqueue a key)."""

    on_add: Callable[[dict], object] | None = None
    on_update: Callable[[dict, dict], object] | None = None  # (old, new)
    on_delete: Callable[[dict], object] | None = None  # the last state known


@dataclass(frozen=True)
class Backoff:
    """Waits between failed attempts: doubling from `initial` up to `cap`, with up to 100% jitter."""

    initial: float = 0.8
    cap: float = 30.0

    def delay(self, failures: int) -> float:
        return min(self.cap, self.initial * 2 ** (failures - 1)) * (1 + random.random())


Transform = Callable[[dict], dict]  # an object as listed or watched -> what the cache keeps of it


def without_managed_fields(obj: dict) -> dict:
    """A transform that drops metadata.managedFields, which most components never read (kube-scheduler's pod
    informer drops them): a smaller cache, and less for the garbage collector to walk."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


class Informer:
    def __init__(self, client: Client, resource: Resource, namespace: str | None = None, *,
                 label_selector: str | None = None, field_selector: str | None = None,
                 indexers: Mapping[str, IndexFunc] | None = None, resync_period: float | None = None,
                 page_size: int = 500, backoff: Backoff = Backoff(), transform: Transform | None = None) -> None:
        """`transform` (client-go's SetTransform) is applied to every object before it is cached and handed
        to the handlers."""
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.store = Store(indexers)
        self.resync_period = resync_period
        self.page_size = page_size
        self.backoff = backoff
        self.transform = transform
        self.resource_version: str | None = None  # the last one seen; None until listed, or after a 410
        self._handlers: list[Handler] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._progressed_at = float("-inf")  # when the last list or watch event arrived

    # consumers

    def add_handler(self, on_add: Callable[[dict], object] | None = None,
                    on_update: Callable[[dict, dict], object] | None = None,
                    on_delete: Callable[[dict], object] | None = None) -> None:
        """Register callbacks; one added after the first list is first told of every cached object as an add."""
        self._handlers.append(Handler(on_add, on_update, on_delete))
        if self.has_synced() and on_add is not None:
            for obj in self.store.list():
                self._call(on_add, obj)

    def has_synced(self) -> bool:
        """True once the first list is in the cache and its adds were handed out."""
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._synced.wait(), timeout)
        return self.has_synced()

    # lifecycle

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Run in a task of the current event loop until stop()."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name=f"informer {self.resource.plural}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        resync = asyncio.get_running_loop().create_task(self._resync()) if self.resync_period else None
        failures = 0
        try:
            while True:
                began = time.monotonic()
                try:
                    if self.resource_version is None:
                        await self._relist()
                    await self._watch()
                    if self._progressed_at >= began or time.monotonic() - began >= SHORT_WATCH:
                        failures = 0
                        continue  # the server ended a working watch (its timeout): watch again at once
                    log.warning("watch of %s ended at once without an event", self.resource.plural)
                except ApiError as e:
                    if e.resource_version_unavailable and self.resource_version is not None:
                        log.info("watch of %s from %s: %s; listing again", self.resource.plural,
                                 self.resource_version, e.message)
                        self.resource_version = None
                        continue
                    log.warning("list/watch of %s failed: %s", self.resource.plural, e)
                except TransportError as e:
                    log.info("list/watch of %s: %s", self.resource.plural, e)
                except Exception:  # e.g. an undecodable answer: keep the cache alive, as client-go's reflector does
                    log.exception("list/watch of %s failed", self.resource.plural)
                # back off, from the shortest wait again if this attempt got anywhere before failing
                failures = 1 if self._progressed_at >= began else failures + 1
                await asyncio.sleep(self.backoff.delay(failures))
        finally:
            if resync is not None:
                resync.cancel()

    # list and watch

    async def _relist(self) -> None:
        listing = await self.client.list_all(self.resource, self.namespace, label_selector=self.label_selector,
                                             field_selector=self.field_selector, page_size=self.page_size)
        items = listing.get("items") or ()
        if self.transform is not None:
            items = [self.transform(obj) for obj in items]
        fresh = {object_key(obj): obj for obj in items}
        for key in self.store.list_keys():
            gone = None if key in fresh else self.store.delete(key)
            if gone is not None:
                self._deleted(gone)
        for obj in fresh.values():
            old = self.store.put(obj)
            if old is None:
                self._added(obj)
            elif _rv(old) != _rv(obj):
                self._updated(old, obj)
        self.resource_version = listing["metadata"]["resourceVersion"]
        self._progressed_at = time.monotonic()
        self._synced.set()

    async def _watch(self) -> None:
        """Follow one watch stream to its end."""
        async with self.client.watch(self.resource, self.namespace, resource_version=self.resource_version,
                                     label_selector=self.label_selector, field_selector=self.field_selector,
                                     allow_bookmarks=True, timeout_seconds=random.randint(300, 600)) as events:
            async for event in events:
                self._apply(event)

    def _apply(self, event: WatchEvent) -> None:
        obj = event.object
        if self.transform is not None and event.type != "BOOKMARK":
            obj = self.transform(obj)
        if event.type in ("ADDED", "MODIFIED"):
            old = self.store.put(obj)
            if old is None:
                self._added(obj)
            else:
                self._updated(old, obj)
        elif event.type == "DELETED":
            self.store.delete(object_key(obj))
            self._deleted(obj)
        elif event.type != "BOOKMARK":
            log.warning("watch of %s: unknown event type %r", self.resource.plural, event.type)
        self.resource_version = _rv(obj) or self.resource_version
        self._progressed_at = time.monotonic()

    async def _resync(self) -> None:
        """Hand every cached object to on_update again, so controllers re-check state they may have missed."""
        assert self.resync_period
        while True:
            await asyncio.sleep(self.resync_period)
            if self.has_synced():
                for obj in self.store.list():
                    self._updated(obj, obj)

    # notifications

    def _added(self, obj: dict) -> None:
        for h in list(self._handlers):
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _updated(self, old: dict, new: dict) -> None:
        for h in list(self._handlers):
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _deleted(self, obj: dict) -> None:
        for h in list(self._handlers):
            if h.on_delete is not None:
                self._call(h.on_delete, obj)

    def _call(self, func: Callable[..., object], *args: dict) -> None:
        try:
            func(*args)
        except Exception:  # one handler's bug must not stop the informer or the other handlers
            log.exception("event handler for %s failed", self.resource.plural)


class InformerFactory:
    """One informer per (resource, selectors), shared by every controller that asks for it."""

    def __init__(self, client: Client, namespace: str | None = None, *, resync_period: float | None = None,
                 backoff: Backoff = Backoff(), transform: Transform | None = None) -> None:
        """`transform`: every informer's unless it is given one of its own (client-go's WithTransform)."""
        self.client = client
        self.namespace = namespace
        self.resync_period = resync_period
        self.backoff = backoff
        self.transform = transform
        self._informers: dict[tuple[Resource, str | None, str | None], Informer] = {}

    def informer(self, resource: Resource, *, label_selector: str | None = None,
                 field_selector: str | None = None, indexers: Mapping[str, IndexFunc] | None = None,
                 transform: Transform | None = None) -> Informer:
        """The shared informer for a resource; indexers asked for are added to it if it already exists. Its
        transform is the first asker's: a later one asking for another is refused (ValueError)."""
        transform = transform or self.transform
        key = (resource, label_selector, field_selector)
        informer = self._informers.get(key)
        if informer is None:
            informer = self._informers[key] = Informer(
                self.client, resource, self.namespace, label_selector=label_selector,
                field_selector=field_selector, indexers=indexers, resync_period=self.resync_period,
                backoff=self.backoff, transform=transform)
        else:
            if transform is not informer.transform:
                raise ValueError(f"the shared informer of {resource.plural} has another transform")
            if indexers:
                informer.store.add_indexers(indexers)
        return informer

    def start(self) -> None:
        """Start the informers not started yet (asked for since the last start)."""
        for informer in self._informers.values():
            informer.start()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        results = await asyncio.gather(*(i.wait_for_sync(timeout) for i in self._informers.values() if i.started))
        return all(results)

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self._informers.values()))


def _rv(obj: dict) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")
