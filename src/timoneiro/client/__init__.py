"""How timoneiro's components talk to the API server: a REST client, kubeconfigs, informers, work queues."""

from timoneiro.client.config import ClientConfig
from timoneiro.client.errors import ApiError, TransportError
from timoneiro.client.resources import Resource
from timoneiro.client.rest import Client
from timoneiro.client.watch import WatchEvent

__all__ = ["ApiError", "Client", "ClientConfig", "Resource", "TransportError", "WatchEvent"]
