"""Webhook token authentication (kube-apiserver's --authentication-token-webhook-config-file): a bearer
token that no local authenticator knows is sent to a remote service as an authentication.k8s.io/v1
TokenReview, at the server a kubeconfig names, with that kubeconfig's credentials; the service's
status.authenticated and status.user say whose it is. This is how an EKS cluster hands `k8s-aws-v1.` tokens
to EKS to check.

As upstream: answers are kept for --authentication-token-webhook-cache-ttl (2m), authenticated or not, keyed
by a hash of the token and the audiences asked for, and concurrent requests with one token make one call;
an answer that cannot be had (no connection, a non-2xx status, status.error) is not kept and leaves the
request unauthenticated (401); a 429, 500 or 504 is retried with upstream's back-off (0.5s, x1.5, 5 tries).
When the service names no audiences, the token is good for the API server's own (the implicit audiences)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson
import yaml

from timoneiro.apiserver.authn import Unauthorized, UserInfo, authenticated, bearer_token
from timoneiro.apiserver.authn.serviceaccount import AUTHENTICATED_AUDIENCES, REQUESTED_AUDIENCES
from timoneiro.client import Client
from timoneiro.client.config import ClientConfig
from timoneiro.client.errors import ApiError, TransportError
from timoneiro.client.kubeconfig import KubeconfigError, load_kubeconfig

if TYPE_CHECKING:
    from timoneiro.apiserver.http import Request

DEFAULT_CACHE_TTL = 120.0  # --authentication-token-webhook-cache-ttl's default, 2m
REQUEST_TIMEOUT = 30.0  # upstream's default for a webhook call
RETRY_STATUSES = frozenset({429, 500, 504})  # upstream's DefaultShouldRetry: too many requests, internal, timeout
BACKOFF_INITIAL, BACKOFF_FACTOR, BACKOFF_JITTER, BACKOFF_STEPS = 0.5, 1.5, 0.2, 5
CACHE_SIZE = 4096
API_VERSION = "authentication.k8s.io/v1"


class WebhookConfigError(ValueError):
    """The webhook's kubeconfig cannot be used: the server does not start."""


@dataclass(frozen=True)
class Answer:
    user: UserInfo | None  # None: not authenticated
    audiences: tuple[str, ...]  # those of the requested audiences the token is good for
    expires: float


class WebhookTokenAuthenticator:
    def __init__(self, config: ClientConfig, implicit_audiences: tuple[str, ...],
                 cache_ttl: float = DEFAULT_CACHE_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.implicit_audiences = tuple(implicit_audiences)
        self.cache_ttl = cache_ttl
        self.clock = clock
        self._cache: OrderedDict[bytes, Answer] = OrderedDict()
        self._pending: dict[bytes, asyncio.Future[Answer]] = {}

    @classmethod
    def from_file(cls, path: str, implicit_audiences: tuple[str, ...],
                  cache_ttl: float = DEFAULT_CACHE_TTL) -> WebhookTokenAuthenticator:
        """The webhook a kubeconfig names (its current context's server and user)."""
        if not os.path.isfile(path):
            raise WebhookConfigError(f"stat {path}: no such file or directory")
        try:
            config = load_kubeconfig(path)
        except (OSError, KubeconfigError, yaml.YAMLError) as e:
            raise WebhookConfigError(f"the authentication webhook config {path}: {e}") from None
        return cls(dataclasses.replace(config, timeout=REQUEST_TIMEOUT), implicit_audiences, cache_ttl)

    async def authenticate(self, req: Request) -> UserInfo | None:
        token = bearer_token(req)
        if not token:
            return None
        answer = await self.review(token, tuple(req.scope.get(REQUESTED_AUDIENCES) or self.implicit_audiences))
        if answer.user is not None:
            req.scope[AUTHENTICATED_AUDIENCES] = list(answer.audiences)
        return answer.user

    async def review(self, token: str, audiences: tuple[str, ...]) -> Answer:
        """The webhook's answer for a token and the audiences it must be good for, from the cache while it
        lasts; Unauthorized when there is no answer to be had."""
        key = hashlib.sha256(orjson.dumps([token, audiences])).digest()
        cached = self._cache.get(key)
        if cached is not None and cached.expires > self.clock():
            self._cache.move_to_end(key)
            return cached
        pending = self._pending.get(key)
        if pending is None:  # the first of concurrent requests with this token asks; the others wait for it
            pending = asyncio.ensure_future(self._ask(key, token, audiences))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(pending)

    async def _ask(self, key: bytes, token: str, audiences: tuple[str, ...]) -> Answer:
        spec: dict = {"token": token}
        if audiences:
            spec["audiences"] = list(audiences)
        result = await self._post({"apiVersion": API_VERSION, "kind": "TokenReview",
                                   "metadata": {"creationTimestamp": None}, "spec": spec, "status": {"user": {}}})
        status = result.get("status") or {}
        good_for = tuple(a for a in audiences if a in (status.get("audiences") or self.implicit_audiences))
        relevant = bool(good_for) or not audiences  # upstream checks the audiences first
        if relevant and not status.get("authenticated") and status.get("error"):
            raise Unauthorized(status["error"])  # an error, as upstream takes it: not cached
        user = None
        if relevant and status.get("authenticated"):
            info = status.get("user") or {}
            extra = {k: tuple(v or ()) for k, v in (info.get("extra") or {}).items()}
            user = authenticated(info.get("username") or "", tuple(info.get("groups") or ()), info.get("uid") or "",
                                 extra)
        answer = Answer(user, good_for if user else (), self.clock() + self.cache_ttl)
        if self.cache_ttl > 0:
            self._cache[key] = answer
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return answer

    async def _post(self, review: dict) -> dict:
        delay, failure = BACKOFF_INITIAL, None
        for attempt in range(BACKOFF_STEPS):
            if attempt:
                await asyncio.sleep(delay * (1 + BACKOFF_JITTER * random.random()))
                delay *= BACKOFF_FACTOR
            try:
                async with Client(self.config) as client:
                    result = await client.request("POST", "", body=review)
            except ApiError as e:
                failure = e
                if e.code not in RETRY_STATUSES:
                    break
                continue
            except TransportError as e:
                raise Unauthorized(f"the authentication webhook is unreachable: {e}") from None
            if not isinstance(result, dict):
                raise Unauthorized("the authentication webhook did not answer with a TokenReview")
            return result
        raise Unauthorized(f"the authentication webhook answered {failure}")
