"""Pod workers: each pod is synced by one worker at a time, and a change that comes in meanwhile is synced
right after, so a pod's sync always sees its latest spec and state, and pods never wait on each other.

As upstream's podWorkers, but a worker is a task only while it has work: an idle pod costs a dict entry.
A sync answers when it wants to run again (a back-off that ends, a grace period); a failed sync is
retried with back-off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("timoneiro.kubelet.pod_workers")

Sync = Callable[[str], Awaitable[float | None]]  # a pod uid -> seconds until it wants another sync, or None


class PodWorkers:
    def __init__(self, sync: Sync, *, retry_initial: float = 0.2, retry_max: float = 10.0) -> None:
        self.sync = sync
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._working: dict[str, asyncio.Task] = {}
        self._again: set[str] = set()  # updated while being synced
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._failures: dict[str, int] = {}
        self._stopped = False

    def update(self, uid: str) -> None:
        """Sync the pod soon: now, or right after the sync under way."""
        if self._stopped:
            return
        if uid in self._working:
            self._again.add(uid)
            return
        self._working[uid] = asyncio.get_running_loop().create_task(self._work(uid), name=f"pod {uid}")

    def update_after(self, uid: str, delay: float) -> None:
        """Sync the pod after delay seconds (an earlier pending request stands)."""
        if self._stopped:
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        timer = self._timers.get(uid)
        if timer is not None:
            if timer.when() <= due:
                return
            timer.cancel()
        self._timers[uid] = loop.call_at(due, self._due, uid)

    def forget(self, uid: str) -> None:
        """The pod is gone for good: drop its pending syncs."""
        timer = self._timers.pop(uid, None)
        if timer is not None:
            timer.cancel()
        self._failures.pop(uid, None)
        self._again.discard(uid)

    async def stop(self) -> None:
        self._stopped = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._working.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _due(self, uid: str) -> None:
        self._timers.pop(uid, None)
        self.update(uid)

    async def _work(self, uid: str) -> None:
        try:
            while True:
                self._again.discard(uid)
                try:
                    delay = await self.sync(uid)
                except Exception:
                    failures = self._failures[uid] = self._failures.get(uid, 0) + 1
                    delay = min(self.retry_max, self.retry_initial * 2 ** (failures - 1))
                    log.exception("syncing pod %s failed; retrying in %.1fs", uid, delay)
                else:
                    self._failures.pop(uid, None)
                if delay is not None:
                    self.update_after(uid, delay)
                if uid not in self._again or self._stopped:
                    return
        finally:
            self._working.pop(uid, None)
