"""An informer's local cache: objects keyed by namespace/name, with secondary indexes kept up to date."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

IndexFunc = Callable[[dict], Iterable[str]]  # an object -> the index values it is filed under
NAMESPACE_INDEX = "namespace"


def object_key(obj: dict) -> str:
    """"namespace/name", or "name" for cluster-scoped objects: the key work queues carry too."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name', '')}" if namespace else meta.get("name", "")


def split_key(key: str) -> tuple[str | None, str]:
    namespace, _, name = key.rpartition("/")
    return namespace or None, name


def by_namespace(obj: dict) -> list[str]:
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [namespace] if namespace else []


def by_field(path: str) -> IndexFunc:
    """Index on a dotted field path such as "spec.nodeName"; objects where it is unset or empty are left out."""
    steps = path.split(".")

    def index(obj: dict) -> list[str]:
        value: object = obj
        for step in steps:
            if not isinstance(value, dict):
                return []
            value = value.get(step)
        return [str(value)] if value not in (None, "") else []
    return index


class Store:
    """Objects are shared with event handlers and callers as they are: treat them as read-only."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, dict] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        self.add_indexers({NAMESPACE_INDEX: by_namespace, **(indexers or {})})

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indexes, filling them from the objects already held; re-adding an index by name is a no-op."""
        for name, func in indexers.items():
            if name in self._indexers:
                continue
            self._indexers[name] = func
            self._indices[name] = {}
            for key, obj in self._items.items():
                self._file(name, key, obj)

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> dict | None:
        return self._items.get(key)

    def list_keys(self) -> list[str]:
        return list(self._items)

    def list(self) -> list[dict]:
        return list(self._items.values())

    def by_index(self, index: str, value: str) -> list[dict]:
        """The objects an index files under value (KeyError for an index that was never added)."""
        return [self._items[k] for k in self._indices[index].get(value, ())]

    def put(self, obj: dict) -> dict | None:
        """Store obj under its key; answer what it replaced."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unfile(key, old)
        self._items[key] = obj
        for name in self._indexers:
            self._file(name, key, obj)
        return old

    def delete(self, key: str) -> dict | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unfile(key, old)
        return old

    def _file(self, name: str, key: str, obj: dict) -> None:
        index = self._indices[name]
        for value in self._indexers[name](obj):
            index.setdefault(value, set()).add(key)

    def _unfile(self, key: str, obj: dict) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
