"""DefaultStorageClass: a claim created without a storage class gets the default one (the StorageClass
annotated storageclass.kubernetes.io/is-default-class: "true"; the newest if there are several, then by
name). A claim that names a class, even "" (no class), keeps it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from timoneiro.api.kinds import Kind
from timoneiro.apiserver.generic import Context, decode
from timoneiro.apiserver.quota.evaluators import BETA_STORAGE_CLASS

if TYPE_CHECKING:
    from timoneiro.storage.cache import WatchCache

DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")


def is_default(storage_class: dict) -> bool:
    annotations = (storage_class.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS)


def _created(storage_class: dict) -> datetime:
    return datetime.fromisoformat(storage_class["metadata"]["creationTimestamp"].replace("Z", "+00:00"))


def default_class(classes: list[dict]) -> dict | None:
    """The newest default class, the first by name among equally new ones."""
    defaults = sorted((c for c in classes if is_default(c)), key=lambda c: c["metadata"]["name"])
    return max(defaults, key=_created, default=None)


class DefaultStorageClass:
    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache

    def __call__(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if kind.group or kind.plural != "persistentvolumeclaims" or old is not None or ctx.subresource:
            return
        spec = new.setdefault("spec", {})
        if spec.get("storageClassName") is not None or \
                BETA_STORAGE_CLASS in ((new.get("metadata") or {}).get("annotations") or {}):
            return
        chosen = default_class([decode(e) for e in self.cache.list("/storage.k8s.io/storageclasses/")])
        if chosen is not None:
            spec["storageClassName"] = chosen["metadata"]["name"]
