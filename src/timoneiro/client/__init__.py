"""How timoneiro's components talk to the API server: a REST client, kubeconfigs, informers, work queues.

The names below are loaded on first use, so that a process which only needs ClientConfig (the API server
writing kubeconfigs) does not pay for importing the HTTP client stack."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from timoneiro.client.config import ClientConfig
    from timoneiro.client.errors import ApiError, TransportError
    from timoneiro.client.resources import Resource
    from timoneiro.client.rest import Client
    from timoneiro.client.watch import WatchEvent

_HOMES = {"ClientConfig": "config", "ApiError": "errors", "TransportError": "errors", "Resource": "resources",
          "Client": "rest", "WatchEvent": "watch"}
__all__ = ["ApiError", "Client", "ClientConfig", "Resource", "TransportError", "WatchEvent"]


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
