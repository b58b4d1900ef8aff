"""The Store: a revisioned key-value log in the shape of etcd v3, so SQLite and etcd both fit behind it.

Every write gets the next value of one global revision (the resourceVersion clients see). Updates and
deletes are compare-and-swap on a key's mod revision. Watches replay history from a revision, then
follow live writes; compaction forgets history below a revision and makes older reads fail with
Compacted (the API server's 410 Gone).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(slots=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int


@dataclass(slots=True)
class Event:
    """A write seen by a watch. For DELETE, kv.value is the deleted value and kv.mod_revision the delete's."""

    type: str  # "PUT" or "DELETE"
    kv: KeyValue
    prev: KeyValue | None


class StoreError(Exception):
    pass


class KeyExists(StoreError):
    pass


class KeyNotFound(StoreError):
    pass


class RevisionConflict(StoreError):
    """The key's mod revision is not the one the write expected."""

    def __init__(self, current: KeyValue) -> None:
        super().__init__(current.key)
        self.current = current


class Compacted(StoreError):
    """The asked-for revision is older than the oldest history kept."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"required revision {requested} has been compacted (compacted to {compacted})")
        self.requested = requested
        self.compacted = compacted


class Undecodable(StoreError):
    """A stored value the store cannot read back (say, no configured encryption key decrypts it)."""


class Unreadable(bytes):
    """What the store returns in place of a value it cannot read back: every read of the object raises its
    error (upstream answers 500 for such an object) rather than the object vanishing."""

    def __new__(cls, error: Undecodable) -> Unreadable:
        value = super().__new__(cls)
        value.error = error
        return value

    def unpack(self, blob: bytes) -> bytes:
        """The watch cache's Codec protocol: reading the entry's bytes fails."""
        raise self.error


def prefix_end(prefix: str) -> str:
    """The first key after every key that starts with prefix (etcd's range end for a prefix)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class Store(ABC):
    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @property
    @abstractmethod
    def revision(self) -> int:
        """The revision of the newest acknowledged write."""

    @property
    @abstractmethod
    def compacted_revision(self) -> int: ...

    @abstractmethod
    async def get(self, key: str) -> KeyValue | None: ...

    @abstractmethod
    async def list(self, prefix: str, revision: int = 0, start: str = "", limit: int = 0
                   ) -> tuple[list[KeyValue], int]:
        """Keys under prefix in key order as of `revision` (0: latest), from `start`, at most `limit`."""

    @abstractmethod
    async def create(self, key: str, value: bytes) -> KeyValue: ...

    @abstractmethod
    async def update(self, key: str, value: bytes, expected_revision: int) -> KeyValue:
        """Replace the value if the key's mod revision is expected_revision (0: any)."""

    @abstractmethod
    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue:
        """Delete the key; returns the deleted value with the delete's revision as mod_revision."""

    @abstractmethod
    def watch(self, prefix: str, after: int) -> AsyncIterator[Event]:
        """Every write under prefix with a revision above `after`, history first, then live."""

    @abstractmethod
    async def compact(self, revision: int) -> None: ...

    def stale(self, key: str) -> bool:
        """Whether the key's value is stored in a form no longer preferred (an old encryption key): then a
        write must reach the store even if the object is unchanged, which is how keys rotate."""
        return False
