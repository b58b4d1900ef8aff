"""Who may call the service: IAM users with access keys, kept in DATA/iam.json (0600). The first start
makes the account (a 12-digit id) and one user, `admin`, whose keys `timoneiro eks serve` prints."""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass

import orjson

from timoneiro.files import write_private

FILE = "iam.json"
ADMIN = "admin"
_UPPER = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Principal:
    """The caller a signature proved: its access key, and the IAM user it belongs to."""

    access_key_id: str
    arn: str  # arn:aws:iam::ACCOUNT:user/NAME
    user_id: str  # AIDA...
    account: str


@dataclass(frozen=True)
class AccessKey:
    principal: Principal
    secret_access_key: str


class IAM:
    def __init__(self, data_dir: str) -> None:
        self.path = os.path.join(data_dir, FILE)
        if os.path.exists(self.path):
            with open(self.path, "rb") as f:
                doc = orjson.loads(f.read())
        else:
            doc = {"account": "".join(secrets.choice(string.digits[1:]) for _ in range(12)), "users": []}
        self.account: str = doc["account"]
        self._users: list[dict] = doc["users"]
        if not self._users:
            self.create_user(ADMIN)

    def create_user(self, name: str) -> AccessKey:
        """A user with one new access key pair (AKIA + 16, and a 40-character secret, as AWS makes them)."""
        user = {"name": name, "userId": "AIDA" + _random(17),
                "accessKeyId": "AKIA" + _random(16), "secretAccessKey": secrets.token_urlsafe(30)[:40]}
        self._users.append(user)
        write_private(self.path, orjson.dumps({"account": self.account, "users": self._users},
                                              option=orjson.OPT_INDENT_2))
        return self._key(user)

    def lookup(self, access_key_id: str) -> AccessKey | None:
        user = next((u for u in self._users if u["accessKeyId"] == access_key_id), None)
        return self._key(user) if user else None

    @property
    def admin(self) -> AccessKey:
        return self._key(next(u for u in self._users if u["name"] == ADMIN))

    def _key(self, user: dict) -> AccessKey:
        arn = f"arn:aws:iam::{self.account}:user/{user['name']}"
        return AccessKey(Principal(user["accessKeyId"], arn, user["userId"], self.account), user["secretAccessKey"])


def _random(n: int) -> str:
    return "".join(secrets.choice(_UPPER) for _ in range(n))
