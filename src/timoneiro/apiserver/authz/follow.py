"""Knowing cheaply what changed under a watch-cache prefix: authorizers keep indexes of what they read
(bindings by subject, pods by node) and must drop or patch them when the objects change. A watch of the
cache queues the changes as they are applied; asking costs one look at the queue."""

from __future__ import annotations

from timoneiro.storage.cache import Entry, WatchCache


class Follower:
    def __init__(self, cache: WatchCache, prefix: str) -> None:
        self.cache = cache
        self.prefix = prefix
        self._watcher = None

    def changes(self) -> list[tuple[str, Entry]] | None:
        """The (ADDED|MODIFIED|DELETED, entry) changes since the last call, or None when the caller must
        read the prefix anew (the first call, or the watch ended)."""
        w = self._watcher
        if w is None or w.closed:
            self._watcher = self.cache.watch(self.prefix, self.cache.rev)
            return None
        if not w.queue:
            return []
        batch = list(w.queue)
        w.queue.clear()
        return batch
