"""Identifiers and secrets shaped as AWS makes them: a four-letter prefix that says what the id is (AKIA an
access key, ASIA a temporary one, AIDA a user, AROA a role, ANPA a managed policy) and upper-case letters and
digits; 40-character secret access keys."""

from __future__ import annotations

import secrets
import string

_ID_CHARACTERS = string.ascii_uppercase + string.digits


def new_id(prefix: str, n: int) -> str:
    return prefix + "".join(secrets.choice(_ID_CHARACTERS) for _ in range(n))


def new_secret() -> str:
    return secrets.token_urlsafe(30)[:40]
