"""Service-account tokens for projected volumes, asked for through the TokenRequest API as the node, bound
to the pod, and kept until upstream's token manager would refresh them: past 80% of their lifetime (less a
jitter of up to 10 s), or a day after they were issued."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from timoneiro.client import ApiError, Client, TransportError
from timoneiro.client.resources import SERVICE_ACCOUNTS
from timoneiro.kubelet.times import seconds
from timoneiro.kubelet.volumes.atomic_writer import FileProjection
from timoneiro.kubelet.volumes.plugin import MountContext, VolumeError

DEFAULT_EXPIRATION = 3600  # seconds: the API's default for a serviceAccountToken projection
MAX_TTL = 24 * 3600.0
MAX_JITTER = 10.0


@dataclass
class _Token:
    token: str
    expires: float  # seconds since the epoch
    lifetime: int  # the seconds asked for


class ServiceAccountTokens:
    def __init__(self, client: Client) -> None:
        self.client = client
        self._tokens: dict[tuple, _Token] = {}

    async def get(self, pod: dict, audience: str, expiration: int) -> str:
        meta = pod["metadata"]
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        key = (meta["uid"], meta["namespace"], account, audience, expiration)
        known = self._tokens.get(key)
        if known is not None and not _needs_refresh(known, time.time()):
            return known.token
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
            "audiences": [audience] if audience else [], "expirationSeconds": expiration,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}}}
        try:
            answer = await self.client.request("POST", SERVICE_ACCOUNTS.path(meta["namespace"], account, "token"),
                                               body=body)
        except (ApiError, TransportError) as e:
            if known is not None and known.expires > time.time():
                return known.token  # still good: try again at the next resync
            raise VolumeError(f"failed to fetch token: {getattr(e, 'message', '') or e}") from e
        expires = seconds(answer["status"]["expirationTimestamp"])
        lifetime = int((answer.get("spec") or {}).get("expirationSeconds") or expiration)
        self._tokens[key] = _Token(answer["status"]["token"], expires, lifetime)
        return answer["status"]["token"]

    def forget(self, uid: str) -> None:
        for key in [k for k in self._tokens if k[0] == uid]:
            del self._tokens[key]


def _needs_refresh(token: _Token, now: float) -> bool:
    jitter = random.random() * MAX_JITTER
    issued = token.expires - token.lifetime
    return now > issued + MAX_TTL - jitter or now > token.expires - token.lifetime * 0.2 - jitter


async def payload(ctx: MountContext, projection: dict, default_mode: int) -> dict[str, FileProjection]:
    """The token file: the volume's mode, or 0600 owned by the pod's user when there is an fsUser or
    fsGroup (fsGroup then makes it 0640)."""
    token = await ctx.tokens.get(ctx.pod, projection.get("audience") or "",
                                 int(projection.get("expirationSeconds") or DEFAULT_EXPIRATION))
    private = ctx.fs_user is not None or ctx.fs_group is not None
    return {projection.get("path", ""): FileProjection(token.encode(), 0o600 if private else default_mode,
                                                       ctx.fs_user)}
