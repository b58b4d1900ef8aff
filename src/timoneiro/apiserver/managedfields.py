"""managedFields on every write: which field manager set which fields of an object.

Creates, updates and patches record an "Update" entry for their manager with the fields they changed,
taken from whoever owned them; server-side apply (apply.py) records "Apply" entries. This module is
what the request path calls.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from timoneiro.apiserver.apply import ApplyConflict, apply
from timoneiro.apiserver.fieldpath import field_token
from timoneiro.apiserver.ownership import (
    Managed,
    ManagerId,
    cap_update_managers,
    is_reset,
    now_rfc3339,
    record_update,
    shared_zero_object,
)
from timoneiro.apiserver.structuredmerge import StructureError, root_type

__all__ = ["ApplyConflict", "apply", "manager_from_user_agent", "update_managed_fields"]


@functools.lru_cache(maxsize=256)  # every write without a fieldManager asks, with a handful of user agents
def manager_from_user_agent(user_agent: str) -> str:
    """The field manager of a write without one: the User-Agent up to its first "/", printable, at
    most 128 bytes (kubectl/v1.32.0 (linux/amd64) ... -> kubectl)."""
    out = ""
    for ch in user_agent.split("/", 1)[0]:
        if not ch.isprintable():
            continue
        if len((out + ch).encode()) > 128:
            break
        out += ch
    return out


def _decode_or_empty(entries: object) -> Managed:
    try:
        return Managed.decode(entries)
    except ValueError:
        return Managed()


def update_managed_fields(new: dict, old: dict | None, manager: str, api_version: str, schema: dict | None,
                          subresource: str = "", now: str | None = None, *,
                          reset_fields: Iterable[Sequence[str]] = ()) -> None:
    """Record in new.metadata.managedFields that `manager` wrote `new` over `old` (None: a create).

    A client may replace managedFields on the main resource (an invalid or empty set keeps the
    tracked one; [] or [{}] clears them); subresource writes keep the tracked ones. Objects that
    existed without managedFields stay untracked until their first apply, as upstream. `reset_fields`
    are the field paths the strategy resets (such as ("status",) on the main resource of a kind with
    a status subresource), which nobody comes to own.
    """
    meta = new.setdefault("metadata", {})
    requested = meta.pop("managedFields", None)
    live_entries = ((old or {}).get("metadata") or {}).get("managedFields")
    if subresource:
        managed = _decode_or_empty(live_entries)
    elif is_reset(requested):
        managed = Managed()
    else:
        managed = _decode_or_empty(requested)
        if not managed.owners:
            managed = _decode_or_empty(live_entries)
    if not managed.owners and old is not None and (old.get("metadata") or {}).get("uid"):
        return
    live = old if old is not None else shared_zero_object(schema, api_version, new.get("kind", ""))
    writer = ManagerId.of(manager, "Update", api_version, subresource)
    reset = {tuple(field_token(part) for part in path) for path in reset_fields}
    try:
        record_update(managed, live, new, root_type(schema), writer, api_version, reset, now or now_rfc3339())
    except StructureError:  # upstream keeps the previous managedFields when it cannot read an object
        if live_entries:
            meta["managedFields"] = live_entries
        return
    cap_update_managers(managed)
    entries = managed.encode()
    if entries:
        meta["managedFields"] = entries
