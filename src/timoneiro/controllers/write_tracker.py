"""What a controller wrote, remembered until its informer shows it (upstream's EndpointSliceTracker and
stale-Endpoints tracker): a sync that reads a cache older than its own last write would act twice, e.g.
create an object again, so it waits for the cache instead."""

from __future__ import annotations

STALE_RETRY = 0.1  # seconds before a sync that found the cache behind its own writes tries again


def _rv(obj: dict) -> int:
    return int(obj["metadata"].get("resourceVersion") or 0)


class WriteTracker:
    """The resourceVersions written (None: deleted), by object name, per work-queue key.

    Resource versions are compared as numbers: timoneiro's are its storage revisions, which only grow."""

    def __init__(self) -> None:
        self._written: dict[str, dict[str, int | None]] = {}

    def wrote(self, key: str, obj: dict) -> None:
        self._written.setdefault(key, {})[obj["metadata"]["name"]] = _rv(obj)

    def deleted(self, key: str, name: str) -> None:
        self._written.setdefault(key, {})[name] = None

    def stale(self, key: str, cached: list[dict]) -> bool:
        """Whether the cached objects are behind a write; writes the cache has caught up with are forgotten."""
        written = self._written.get(key)
        if not written:
            return False
        by_name = {o["metadata"]["name"]: o for o in cached}
        for name, rv in list(written.items()):
            have = by_name.get(name)
            if (rv is None and have is None) or (rv is not None and have is not None and _rv(have) >= rv):
                del written[name]
        if not written:
            del self._written[key]
        return bool(written)

    def forget(self, key: str) -> None:
        self._written.pop(key, None)
