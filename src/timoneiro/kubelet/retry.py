"""Calls the kubelet cannot go on without (registering its Node, posting it Ready): retried with back-off
while the API server is unreachable or overloaded, as upstream's registration loop retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from timoneiro.client import ApiError, TransportError

log = logging.getLogger("timoneiro.kubelet")
T = TypeVar("T")


def retriable(error: Exception) -> bool:
    """The server may answer differently later: no answer, too busy, or failing inside."""
    return isinstance(error, TransportError) or (isinstance(error, ApiError) and (error.code == 429 or error.code >= 500))


async def until_done(call: Callable[[], Awaitable[T]], what: str, initial: float = 0.1, cap: float = 7.0) -> T:
    delay = initial
    while True:
        try:
            return await call()
        except (ApiError, TransportError) as e:
            if not retriable(e):
                raise
            log.warning("%s failed: %s; trying again in %.1fs", what, e, delay)
        await asyncio.sleep(delay)
        delay = min(cap, delay * 2)
