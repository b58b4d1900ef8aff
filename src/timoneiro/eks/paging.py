"""EKS's list paging: maxResults (1..100, default 100) items from where nextToken says, and a nextToken
while more remain. A token is an opaque offset; one that does not decode is refused as EKS refuses it."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from timoneiro.eks.errors import invalid_parameter

MAX_RESULTS = 100


def page(items: Sequence, params: dict, limit: int = MAX_RESULTS) -> tuple[list, str | None]:
    """(this page's items, the nextToken for the rest or None)."""
    size = params.get("maxResults") or limit
    if not 1 <= size <= limit:
        raise invalid_parameter(f"maxResults must be between 1 and {limit}")
    start = _offset(params.get("nextToken"))
    end = start + size
    return list(items[start:end]), (_token(end) if end < len(items) else None)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "offset" and value.isdigit():
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise invalid_parameter("The nextToken provided is invalid.")


def names_page(records: dict, key: str, params: dict) -> dict:
    """A List* answer of record names, sorted (ListNodegroups, ListAddons): {key: names, "nextToken": ...}."""
    names, token = page(sorted(records), params)
    return {key: names, "nextToken": token}
