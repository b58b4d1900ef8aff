"""Bootstrap token authentication (upstream's plugin/pkg/auth/authenticator/token/bootstrap): a bearer
token `ID.SECRET` is the user system:bootstrap:ID if the Secret kube-system/bootstrap-token-ID of type
bootstrap.kubernetes.io/token holds that secret, has not expired, and is marked for authentication. Its
groups are system:bootstrappers and the token's valid auth-extra-groups.

Secrets are read from the watch cache, so that a deleted or expired token stops working at once. A bearer
token of another shape is not ours and goes on to the next authenticator; one of this shape that does not
check out is refused (401)."""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from timoneiro.apiserver.authn import Unauthorized, UserInfo, authenticated, bearer_token
from timoneiro.pki import bootstrap_token as bt

if TYPE_CHECKING:
    from timoneiro.apiserver.http import Request
    from timoneiro.storage.cache import WatchCache

log = logging.getLogger("timoneiro.apiserver.authn")


class BootstrapTokenAuthenticator:
    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache

    def authenticate(self, req: Request) -> UserInfo | None:
        token = bearer_token(req)
        parsed = bt.parse(token) if token else None
        if parsed is None:
            return None
        user = self.user(*parsed)
        if user is None:
            raise Unauthorized("invalid bootstrap token")
        return user

    def user(self, token_id: str, token_value: str) -> UserInfo | None:
        name = bt.secret_name(token_id)
        entry = self.cache.get(f"/core/secrets/{bt.NAMESPACE}/{name}")
        if entry is None:
            return None
        secret = orjson.loads(entry.data)
        if (secret.get("metadata") or {}).get("deletionTimestamp") or secret.get("type") != bt.SECRET_TYPE:
            return None
        data = bt.data_of(secret)
        if not hmac.compare_digest(data.get(bt.SECRET_KEY, "").encode(), token_value.encode()):
            return None
        if data.get(bt.ID_KEY) != token_id or bt.expiration(data, datetime.now(UTC))[1]:
            return None
        if data.get(bt.USAGE_PREFIX + "authentication") != "true":
            return None
        try:
            groups = bt.groups(data)
        except ValueError as e:
            log.info("bootstrap secret %s/%s matching bearer token has invalid %s: %s", bt.NAMESPACE, name,
                     bt.GROUPS_KEY, e)
            return None
        return authenticated(bt.USER_PREFIX + token_id, tuple(groups))
