"""One API client for all the kubelets of an event loop that talk to the same server, so that thousands of
simulated nodes in one process share one connection pool instead of holding thousands of their own."""

from __future__ import annotations

import asyncio
import weakref

from timoneiro.client import Client, ClientConfig

# loop -> (the config, or its id for a ClientConfig) -> [client, users]
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[object, list]] = weakref.WeakKeyDictionary()


def _key(config: ClientConfig | str) -> object:
    return config if isinstance(config, str) else id(config)


def acquire(config: ClientConfig | str) -> Client:
    """The client for config in the running loop; release() it when done."""
    shared = _clients.setdefault(asyncio.get_running_loop(), {})
    entry = shared.setdefault(_key(config), [Client(config), 0])
    entry[1] += 1
    return entry[0]


async def release(config: ClientConfig | str) -> None:
    """One user fewer; the last one closes the client."""
    shared = _clients.get(asyncio.get_running_loop(), {})
    entry = shared.get(_key(config))
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del shared[_key(config)]
        await entry[0].close()
