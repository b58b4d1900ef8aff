"""The controller manager: shared informers and the controllers that use them, in one task group."""

from __future__ import annotations

import asyncio
import contextlib

from timoneiro.client import Client, ClientConfig
from timoneiro.client.informer import InformerFactory
from timoneiro.controllers.base import Controller
from timoneiro.controllers.namespace import NamespaceController

CONTROLLERS: tuple[type[Controller], ...] = (NamespaceController,)


class ControllerManager:
    def __init__(self, config: ClientConfig | str) -> None:
        self.client = Client(config)
        self.informers = InformerFactory(self.client)
        self.controllers = [cls(self.client, self.informers) for cls in CONTROLLERS]
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self.informers.start()
        await self.informers.wait_for_sync()
        self._tasks = [asyncio.get_running_loop().create_task(c.run(), name=c.name) for c in self.controllers]

    async def stop(self) -> None:
        if not self._tasks and self.client is None:
            return
        for c in self.controllers:
            c.queue.shutdown()
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        await self.informers.stop()
        await self.client.close()
