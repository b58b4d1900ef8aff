"""The token cleaner (upstream's pkg/controller/bootstrap): deletes bootstrap token Secrets once their
expiration has passed (or cannot be read), each at its time. Run as the bootstrap signer is (see there)."""

from __future__ import annotations

import logging

from timoneiro.client import ApiError
from timoneiro.client.resources import SECRETS
from timoneiro.controllers.bootstrapsigner import is_token_secret, token_secrets
from timoneiro.controllers.clock import Clocked
from timoneiro.pki import bootstrap_token as bt

log = logging.getLogger("timoneiro.controllers.tokencleaner")


class TokenCleaner(Clocked):
    name = "tokencleaner"
    service_account = "token-cleaner"

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.secrets = token_secrets(informers)
        self.secrets.add_handler(on_add=self._secret, on_update=lambda _old, new: self._secret(new))

    def _secret(self, secret: dict) -> None:
        if is_token_secret(secret):
            self.enqueue(secret)

    def on_clock_step(self) -> None:
        for secret in self.secrets.store.list():
            self._secret(secret)

    async def sync(self, key: str) -> None:
        secret = self.secrets.store.get(key)
        if secret is None or not is_token_secret(secret):
            return
        left, expired = bt.expiration(bt.data_of(secret), self.clock.now())
        if left is not None:
            self.queue.add_after(key, left.total_seconds())
        if not expired:
            return
        meta = secret["metadata"]
        log.info("deleting expired bootstrap token secret %s/%s", meta["namespace"], meta["name"])
        try:
            await self.client.delete(SECRETS, meta["name"], meta["namespace"],
                                     preconditions={"uid": meta["uid"]})
        except ApiError as e:
            if e.code not in (404, 409):  # deleted already, or replaced by a new Secret of that name
                raise
