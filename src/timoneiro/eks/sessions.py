"""Temporary credentials, as STS issues them (AssumeRole, GetSessionToken): an ASIA access key id, a secret,
a session token that must come with every request they sign, and an expiration. Kept in DATA/sessions.json
(0600) so that they outlive a restart until they expire; a day after expiring they are forgotten (until
then a request signed with them is told they expired rather than that they are unknown)."""

from __future__ import annotations

import base64
import os
import secrets
import time

import orjson

from timoneiro.eks.keys import new_id, new_secret
from timoneiro.files import write_private

FILE = "sessions.json"
FORGET_AFTER = 24 * 3600
ROLE, USER = "role", "user"  # whose permissions a session has: a role's (AssumeRole), a user's (GetSessionToken)


class Sessions:
    def __init__(self, data_dir: str) -> None:
        self.path = os.path.join(data_dir, FILE)
        self._by_key: dict[str, dict] = {}
        if os.path.exists(self.path):
            with open(self.path, "rb") as f:
                self._by_key = {s["AccessKeyId"]: s for s in orjson.loads(f.read())}

    def issue(self, kind: str, name: str, arn: str, user_id: str, duration: int,
              policies: list[str] | None = None, chained: bool = False) -> dict:
        """New credentials for `name` (a role's or a user's) as `arn` / `user_id` (what GetCallerIdentity
        answers), valid for `duration` seconds; `policies`: session policies that narrow them."""
        session = {"AccessKeyId": new_id("ASIA", 16), "SecretAccessKey": new_secret(),
                   "SessionToken": base64.b64encode(secrets.token_bytes(240)).decode(),
                   "Expiration": time.time() + duration, "Arn": arn, "UserId": user_id,
                   "_kind": kind, "_name": name, "_policies": policies or [], "_chained": chained}
        self._by_key[session["AccessKeyId"]] = session
        self._save()
        return session

    def get(self, access_key_id: str) -> dict | None:
        return self._by_key.get(access_key_id)

    def _save(self) -> None:
        horizon = time.time() - FORGET_AFTER
        self._by_key = {k: s for k, s in self._by_key.items() if s["Expiration"] > horizon}
        write_private(self.path, orjson.dumps(list(self._by_key.values())))
