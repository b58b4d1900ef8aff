"""The one generic store behind every kind: create, get, list, update, delete over the watch cache.

Per-kind behaviour comes from the Kind's Strategy; everything else (keys, resourceVersions,
preconditions, finalizers, graceful deletion, dry-run, managed fields) is the same for every kind.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson

from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors, managedfields
from timoneiro.apiserver.meta import generate_name, meta, new_uid, now
from timoneiro.storage.cache import Entry, WatchCache
from timoneiro.storage.interface import KeyExists, KeyNotFound, RevisionConflict, Store

Hook = Callable[["Context", Kind, dict, dict | None], None]
AsyncHook = Callable[["Context", Kind, dict, dict | None], Awaitable[None]]
DeleteHook = Callable[["Context", Kind, dict], None]


@dataclass
class Context:
    """What a write carries besides the object: who, how, and the request's options."""

    namespace: str | None = None
    dry_run: bool = False
    field_manager: str = ""
    subresource: str = ""
    user: object = None
    warnings: list[str] = field(default_factory=list)
    # run when the write has finished, stored or not (admission steps release what they reserved)
    on_done: list[Callable[[], None]] = field(default_factory=list)

    def done(self) -> None:
        while self.on_done:
            self.on_done.pop()()


@dataclass
class DeleteOptions:
    grace_period: int | None = None
    propagation: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    dry_run: bool = False


def encode(obj: dict) -> bytes:
    """Objects are stored without a resourceVersion: the store's revision is the truth."""
    m = obj.get("metadata", {})
    rv = m.pop("resourceVersion", None)
    try:
        return orjson.dumps(obj)
    finally:
        if rv is not None:
            m["resourceVersion"] = rv


def decode(entry: Entry) -> dict:
    return orjson.loads(entry.data)


class GenericStore:
    def __init__(self, store: Store, cache: WatchCache) -> None:
        self.store = store
        self.cache = cache
        # admission-like hooks: (ctx, kind, new, old) -> None, raising APIError to refuse
        self.mutators: list[Hook] = []
        self.validators: list[Hook] = []
        # validating admission that must wait on something (a quota's status update), after the others
        self.async_validators: list[AsyncHook] = []
        # admission of deletes: (ctx, kind, the object as stored), raising APIError to refuse
        self.delete_validators: list[DeleteHook] = []
        # called with (kind, new, old) for writes that change how a kind is served (CRDs)
        self.after_write: list[Callable[[Kind, dict | None, dict | None], None]] = []

    # reads

    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict:
        await self.cache.fresh()
        entry = self.cache.get(kind.key(namespace, name))
        if entry is None:
            raise errors.not_found(kind, name)
        return self.to_version(kind, decode(entry))

    def to_version(self, kind: Kind, obj: dict) -> dict:
        """An object read from storage, in the version the request asked for."""
        if kind.from_storage and obj.get("apiVersion") != kind.api_version:
            return kind.from_storage(obj)
        obj["apiVersion"] = kind.api_version
        return obj

    def to_storage(self, kind: Kind, obj: dict) -> dict:
        if kind.to_storage and kind.storage_version != kind.api_version:
            return kind.to_storage(obj)
        return obj

    # writes

    async def create(self, ctx: Context, kind: Kind, obj: dict) -> dict:
        try:
            return await self._create(ctx, kind, obj)
        finally:
            ctx.done()

    async def _create(self, ctx: Context, kind: Kind, obj: dict) -> dict:
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        m = meta(obj)
        if not m.get("name") and m.get("generateName"):
            m["name"] = generate_name(m["generateName"])
        if kind.namespaced:
            m["namespace"] = ctx.namespace
        else:
            m.pop("namespace", None)
        for system_field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            m.pop(system_field, None)
        m["uid"] = new_uid()
        m["creationTimestamp"] = now()
        kind.strategy.default(kind, obj)  # upstream defaults while decoding, before anything else
        self._track_fields(ctx, kind, obj, None)
        kind.strategy.prepare_for_create(kind, obj)
        for hook in self.mutators:
            hook(ctx, kind, obj, None)
        errs = kind.strategy.validate(kind, obj)
        if errs:
            raise errors.invalid(kind, m.get("name", ""), errs)
        for hook in self.validators:
            hook(ctx, kind, obj, None)
        for async_hook in self.async_validators:
            await async_hook(ctx, kind, obj, None)
        key = kind.key(ctx.namespace, m["name"])
        if ctx.dry_run:
            if self.cache.get(key) is not None:
                raise errors.already_exists(kind, m["name"])
            return obj
        try:
            kv = await self.store.create(key, encode(self.to_storage(kind, obj)))
        except KeyExists:
            raise errors.already_exists(kind, m["name"]) from None
        await self.cache.wait_until(kv.mod_revision)
        m["resourceVersion"] = str(kv.mod_revision)
        self._after(kind, obj, None)
        return obj

    async def modify(self, ctx: Context, kind: Kind, name: str, change: Callable[[dict], dict | None]
                     ) -> tuple[dict, bool]:
        """The server's own read-modify-write (subresources, controllers in the server): `change` edits the
        current object, and a concurrent write makes it read again and retry rather than fail."""
        def unconditional(current: dict | None) -> dict | None:
            new = change(current) if current is not None else None
            if new is not None:
                new.get("metadata", {}).pop("resourceVersion", None)
            return new

        return await self.update(ctx, kind, name, unconditional)

    async def update(self, ctx: Context, kind: Kind, name: str, transform: Callable[[dict], dict],
                     create_on_missing: bool = False) -> tuple[dict, bool]:
        """Read-modify-write with optimistic concurrency: transform(current) gives the new object.

        Returns (object, created). A resourceVersion the transform leaves in the new object is a
        precondition (409 on mismatch); without one the write retries on conflicts.
        """
        try:
            return await self._update(ctx, kind, name, transform, create_on_missing)
        finally:
            ctx.done()

    async def _update(self, ctx: Context, kind: Kind, name: str, transform: Callable[[dict], dict],
                      create_on_missing: bool) -> tuple[dict, bool]:
        key = kind.key(ctx.namespace, name)
        for _ in range(10):
            await self.cache.fresh()
            entry = self.cache.get(key)
            if entry is None:
                new = transform(None) if create_on_missing else None
                if new is None:
                    raise errors.not_found(kind, name)
                return await self._create(ctx, kind, new), True
            data = entry.data
            old = self.to_version(kind, orjson.loads(data))
            new = transform(self.to_version(kind, orjson.loads(data)))  # a copy, decoded: cheaper than deepcopy
            wanted_rv = meta(new).get("resourceVersion")
            if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(kind, name, errors.STALE)
            self._keep_system_fields(new, old, ctx)
            kind.strategy.default(kind, new)
            self._track_fields(ctx, kind, new, old)
            if ctx.subresource == "status":
                new = kind.strategy.prepare_for_status_update(kind, new, old)
            elif ctx.subresource in ("", "scale"):
                kind.strategy.prepare_for_update(kind, new, old)
            for hook in self.mutators:
                hook(ctx, kind, new, old)
            # a binding only sets the node, which upstream writes without the pod update rules
            errs = kind.strategy.validate_update(kind, new, old) if ctx.subresource != "binding" else []
            if errs:
                raise errors.invalid(kind, name, errs)
            for hook in self.validators:
                hook(ctx, kind, new, old)
            if _same(new, old) and not ctx.dry_run and not self.store.stale(key):  # stale: re-encrypt it
                return old, False
            for async_hook in self.async_validators:  # they see ctx.dry_run: a dry run must not charge
                await async_hook(ctx, kind, new, old)
            if ctx.dry_run:
                return new, False
            m = new["metadata"]
            if m.get("deletionTimestamp") and not m.get("finalizers") and _deletable(kind, new):
                return await self._remove(kind, key, entry.rev, new), False
            try:
                kv = await self.store.update(key, encode(self.to_storage(kind, new)), entry.rev)
            except RevisionConflict:
                if wanted_rv:
                    raise errors.conflict(kind, name, errors.STALE) from None
                continue
            except KeyNotFound:
                raise errors.not_found(kind, name) from None
            await self.cache.wait_until(kv.mod_revision)
            m["resourceVersion"] = str(kv.mod_revision)
            self._after(kind, new, old)
            return new, False
        raise errors.conflict(kind, name, errors.STALE)

    def _track_fields(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        """Record which manager set which fields (every write but apply, which records its own)."""
        if ctx.field_manager:
            sub = ctx.subresource if ctx.subresource in ("status", "scale") else ""
            managedfields.update_managed_fields(new, old, ctx.field_manager, kind.api_version, kind.object_schema(),
                                                subresource=sub, reset_fields=kind.reset_fields(sub))

    def _keep_system_fields(self, new: dict, old: dict, ctx: Context) -> None:
        m, om = meta(new), old["metadata"]
        m["name"] = m.get("name") or om["name"]
        if kind_namespace := om.get("namespace"):
            m.setdefault("namespace", kind_namespace)
        if not m.get("uid"):
            m["uid"] = om["uid"]
        m["creationTimestamp"] = om["creationTimestamp"]
        for f in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            if f in om:
                m[f] = om[f]
            else:
                m.pop(f, None)
        if "generation" in om:
            m["generation"] = om["generation"]
        new.setdefault("apiVersion", old["apiVersion"])
        new.setdefault("kind", old["kind"])

    async def delete(self, ctx: Context, kind: Kind, name: str, opts: DeleteOptions) -> tuple[dict, bool]:
        """Delete, or mark for deletion while finalizers or a grace period hold the object.

        Returns (object, deleted_now).
        """
        key = kind.key(ctx.namespace, name)
        for _ in range(10):
            await self.cache.fresh()
            entry = self.cache.get(key)
            if entry is None:
                raise errors.not_found(kind, name)
            obj = self.to_version(kind, decode(entry))
            for hook in self.delete_validators:
                hook(ctx, kind, obj)
            m = obj["metadata"]
            if opts.uid and opts.uid != m.get("uid"):
                raise errors.conflict(kind, name, f"Precondition failed: UID in precondition: {opts.uid}, "
                                      f"UID in object meta: {m.get('uid')}")
            if opts.resource_version and opts.resource_version != m.get("resourceVersion"):
                raise errors.stale_precondition(kind, name, opts.resource_version, m.get("resourceVersion", ""))
            pending = self._pending_deletion(kind, obj, opts)
            if pending is None:
                if ctx.dry_run:
                    return obj, True
                try:
                    return await self._remove(kind, key, entry.rev, obj), True
                except (RevisionConflict, KeyNotFound):
                    continue
            if ctx.dry_run or _same(pending, obj):
                return pending, False
            try:
                kv = await self.store.update(key, encode(self.to_storage(kind, pending)), entry.rev)
            except RevisionConflict:
                continue
            await self.cache.wait_until(kv.mod_revision)
            pending["metadata"]["resourceVersion"] = str(kv.mod_revision)
            self._after(kind, pending, obj)
            return pending, False
        raise errors.conflict(kind, name, errors.STALE)

    def _pending_deletion(self, kind: Kind, obj: dict, opts: DeleteOptions) -> dict | None:
        """The object marked for deletion, or None when it can go at once."""
        new = copy.deepcopy(obj)
        m = new["metadata"]
        finalizers = list(m.get("finalizers") or [])
        if opts.propagation == "Orphan" and "orphan" not in finalizers and not m.get("deletionTimestamp"):
            finalizers.append("orphan")
        elif opts.propagation == "Foreground" and "foregroundDeletion" not in finalizers \
                and not m.get("deletionTimestamp"):
            finalizers.append("foregroundDeletion")
        grace = kind.strategy.grace_period(kind, obj, opts.grace_period)
        holds = kind.strategy.holds_deletion(kind, new)
        if not finalizers and not grace and not holds:
            return None
        if finalizers:
            m["finalizers"] = finalizers
        if not m.get("deletionTimestamp"):
            m["deletionTimestamp"] = now() if not grace else now(grace)
            m["deletionGracePeriodSeconds"] = grace
        elif grace < m.get("deletionGracePeriodSeconds", 0):
            m["deletionGracePeriodSeconds"] = grace  # a shorter grace period may shorten a pending one
            m["deletionTimestamp"] = now(grace)
        kind.strategy.prepare_for_delete(kind, new)
        return new

    async def _remove(self, kind: Kind, key: str, rev: int, obj: dict) -> dict:
        kv = await self.store.delete(key, rev)
        await self.cache.wait_until(kv.mod_revision)
        obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
        self._after(kind, None, obj)
        return obj

    def _after(self, kind: Kind, new: dict | None, old: dict | None) -> None:
        for hook in self.after_write:
            hook(kind, new, old)


def _same(a: dict, b: dict) -> bool:
    """Equal but for resourceVersion and managed-field timestamps: such a write changes nothing."""
    def strip(o: dict) -> dict:
        o = dict(o)
        m = dict(o.get("metadata", {}))
        m.pop("resourceVersion", None)
        m["managedFields"] = [{k: v for k, v in e.items() if k != "time"} for e in m.get("managedFields") or []]
        o["metadata"] = m
        return o
    return strip(a) == strip(b)


def _deletable(kind: Kind, obj: dict) -> bool:
    return not kind.strategy.holds_deletion(kind, obj) and not obj["metadata"].get("deletionGracePeriodSeconds")
