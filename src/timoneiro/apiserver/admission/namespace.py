"""NamespaceLifecycle: no objects in namespaces that are missing or terminating, and the system namespaces
stay."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors
from timoneiro.apiserver.generic import Context

if TYPE_CHECKING:
    from timoneiro.storage.cache import WatchCache

PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")


class NamespaceLifecycle:
    """Refuse objects in namespaces that do not exist or are being deleted."""

    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache

    def __call__(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if old is not None or not kind.namespaced or not ctx.namespace:
            return
        entry = self.cache.get(f"/core/namespaces/{ctx.namespace}")
        if entry is None:
            raise errors.namespace_not_found(ctx.namespace)
        if entry.fields.get("status.phase") == "Terminating":  # a selectable field, kept on the entry
            raise errors.namespace_terminating(kind, new["metadata"].get("name", ""), ctx.namespace)


def refuse_protected_namespace_delete(kind: Kind, name: str) -> None:
    if kind.kind == "Namespace" and not kind.group and name in PROTECTED_NAMESPACES:
        raise errors.forbidden(kind, name, "this namespace may not be deleted")
