"""Expectations: what a controller's own writes will show in its informers, so that it does not act twice.

After creating n pods a controller expects to see n adds; until it has (or EXPIRY has passed, in case a
watch event was lost) its caches are behind its own writes, and syncing again would create them again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

EXPIRY = 300.0  # seconds, upstream's ExpectationsTimeout


@dataclass
class _Expected:
    adds: int = 0
    deletes: int = 0
    since: float = field(default_factory=time.monotonic)


class Expectations:
    """Pending creations and deletions per controller key (upstream's ControllerExpectations)."""

    def __init__(self) -> None:
        self._items: dict[str, _Expected] = {}

    def expect(self, key: str, adds: int = 0, deletes: int = 0) -> None:
        """Start expecting (replacing what was expected before)."""
        self._items[key] = _Expected(adds, deletes)

    def expect_creations(self, key: str, n: int) -> None:
        self.expect(key, adds=n)

    def expect_deletions(self, key: str, n: int) -> None:
        self.expect(key, deletes=n)

    def creation_observed(self, key: str) -> None:
        self.lower(key, adds=1)

    def deletion_observed(self, key: str) -> None:
        self.lower(key, deletes=1)

    def lower(self, key: str, adds: int = 0, deletes: int = 0) -> None:
        """Some expected writes were seen, or will never be (they failed)."""
        item = self._items.get(key)
        if item is not None:
            item.adds -= adds
            item.deletes -= deletes

    def satisfied(self, key: str) -> bool:
        """Whether the caches have caught up with this controller's writes for key (or it never wrote)."""
        item = self._items.get(key)
        if item is None:
            return True
        return (item.adds <= 0 and item.deletes <= 0) or time.monotonic() - item.since > EXPIRY

    def forget(self, key: str) -> None:
        self._items.pop(key, None)


class UIDExpectations:
    """Per controller key, the uids of objects whose change (a finalizer removed, a deletion) is awaited."""

    def __init__(self) -> None:
        self._items: dict[str, set[str]] = {}

    def expect(self, key: str, uids: list[str]) -> None:
        self._items.setdefault(key, set()).update(uids)

    def observed(self, key: str, uid: str) -> None:
        uids = self._items.get(key)
        if uids is not None:
            uids.discard(uid)
            if not uids:
                del self._items[key]

    def pending(self, key: str) -> set[str]:
        return set(self._items.get(key, ()))

    def forget(self, key: str) -> None:
        self._items.pop(key, None)
