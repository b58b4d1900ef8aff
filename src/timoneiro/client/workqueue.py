"""The controllers' work queue, with client-go's semantics: informer handlers add keys, workers sync them.

A key is queued at most once however often it is added; a key being processed is never handed to a second
worker (added meanwhile, it is queued again when the first worker is done); failed keys come back after a
per-key exponential back-off, which forget() resets once they succeed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

from timoneiro.client.errors import ApiError

log = logging.getLogger("timoneiro.client.workqueue")
T = TypeVar("T", bound=Hashable)


class ShutDown(Exception):
    """get() on a queue that is shut down and has nothing left to hand out."""


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float:
        """Seconds to wait before item is retried; counts the retry."""

    def forget(self, item: Hashable) -> None:
        """item succeeded: its next failure starts from the shortest wait again."""

    def num_requeues(self, item: Hashable) -> int:
        """How many times item was retried since it was last forgotten."""


class ItemExponentialBackoff:
    """base, 2*base, 4*base ... up to cap, counted per item."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        return min(self.cap, self.base * 2 ** failures)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class TokenBucket:
    """An overall limit across items: `burst` retries at once, then `qps` a second (each retry reserves a token)."""

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Callable[[], float] = time.monotonic) -> None:
        self.qps = qps
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, item: Hashable) -> float:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps) - 1
        self._last = now
        return max(0.0, -self._tokens / self.qps)

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOf:
    """The longest wait any of several limiters asks for."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_rate_limiter() -> RateLimiter:
    """client-go's default for controllers: 5ms doubling to 1000s per key, and 10 retries/s (burst 100) overall."""
    return MaxOf(ItemExponentialBackoff(0.005, 1000.0), TokenBucket(10.0, 100))


class WorkQueue(Generic[T]):
    """Used from the tasks of one event loop."""

    def __init__(self, rate_limiter: RateLimiter | None = None) -> None:
        self.rate_limiter = rate_limiter or default_rate_limiter()
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()  # queued, or added again while being processed
        self._processing: set[T] = set()
        # add_after items: (when due, its timer); uvloop's call_at gives a plain Handle, without when(), for
        # a time already past
        self._waiting: dict[T, tuple[float, asyncio.Handle]] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, item: T) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item not in self._processing:
            self._queue.append(item)
            self._wake_one()

    async def get(self) -> T:
        """The next item, which the caller must pass to done() when finished with it. Raises ShutDown
        once the queue is shut down and empty (items queued before the shutdown are still handed out)."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, then cancelled: pass the wake-up on
                raise
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    def done(self, item: T) -> None:
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one()

    def add_after(self, item: T, delay: float) -> None:
        """Add item once delay seconds have passed; an item already waiting keeps the earlier of the two times."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        pending = self._waiting.get(item)
        if pending is not None:
            if pending[0] <= due:
                return
            pending[1].cancel()
        self._waiting[item] = (due, loop.call_at(due, self._due, item))

    def add_rate_limited(self, item: T) -> None:
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)

    def shutdown(self) -> None:
        """Refuse new items, drop delayed ones, and let workers drain what is queued and then stop."""
        self._shutting_down = True
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _due(self, item: T) -> None:
        del self._waiting[item]
        self.add(item)

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


async def run_worker(queue: WorkQueue[T], sync: Callable[[T], Awaitable[object]]) -> None:
    """A controller worker: sync keys until the queue shuts down; a key whose sync raises is retried with
    back-off, one that succeeds has its back-off forgotten."""
    while True:
        try:
            key = await queue.get()
        except ShutDown:
            return
        try:
            await sync(key)
        except Exception as e:
            if isinstance(e, ApiError) and e.code == 409:  # a write raced another: the next try reads anew
                log.info("sync of %r: %s; will retry", key, e)
            else:
                log.exception("sync of %r failed; will retry", key)
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
        finally:
            queue.done(key)
