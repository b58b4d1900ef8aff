"""The loop every controller shares: informer events enqueue keys, workers sync one key at a time.

Nothing is triggered by the content of an event, only by the key: sync reads the current state from
the informers' caches and takes one idempotent step toward the desired state; a failure requeues the
key with back-off.
"""

from __future__ import annotations

import asyncio

from timoneiro.client import Client
from timoneiro.client.informer import Informer, InformerFactory
from timoneiro.client.store import object_key
from timoneiro.client.workqueue import WorkQueue, default_rate_limiter, run_worker


class Controller:
    name = "controller"
    workers = 1
    # the kube-system ServiceAccount whose credentials the controller acts with, named as upstream's
    # controller manager names it (--use-service-account-credentials), e.g. "replicaset-controller"
    service_account = ""

    def __init__(self, client: Client, informers: InformerFactory) -> None:
        self.client = client
        self.informers = informers
        self.queue: WorkQueue[str] = WorkQueue(default_rate_limiter())

    def enqueue(self, obj: dict) -> None:
        self.queue.add(object_key(obj))

    def follow(self, informer: Informer) -> Informer:
        """Enqueue the key of every object the informer sees change."""
        informer.add_handler(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new),
                             on_delete=self.enqueue)
        return informer

    async def sync(self, key: str) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        try:
            await asyncio.gather(*(run_worker(self.queue, self.sync) for _ in range(self.workers)))
        finally:
            self.queue.shutdown()
