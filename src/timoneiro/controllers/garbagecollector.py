"""The garbage collector: deletes objects whose owners are all gone, and carries out foreground and orphan
deletions that the API server left to it (the "foregroundDeletion" and "orphan" finalizers).

It watches every resource that can be listed, watched and deleted (found by discovery, again as
CustomResourceDefinitions come and go) and keeps a graph of ownerReferences (gc_graph). Two queues of uids
drive the work, as upstream's: attempt-to-delete looks at one object and, after proving each owner absent
with a live read (uid included), deletes it, waits, or drops references; attempt-to-orphan strips an owner's
references from its dependents and then removes the owner's "orphan" finalizer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from timoneiro.client import ApiError, Resource
from timoneiro.client.informer import Informer
from timoneiro.client.resources import CUSTOM_RESOURCE_DEFINITIONS
from timoneiro.client.workqueue import ItemExponentialBackoff, WorkQueue, default_rate_limiter, run_worker
from timoneiro.controllers.base import Controller
from timoneiro.controllers.gc_graph import FOREGROUND, ORPHAN, Graph, Identity, Node, owner_identity
from timoneiro.controllers.served_resources import served_resources

log = logging.getLogger("timoneiro.controllers.garbagecollector")
IGNORED = {("", "events"), ("events.k8s.io", "events")}  # upstream's default: events have no dependents
NEEDED_VERBS = {"list", "watch", "delete"}


class ClusterScopedWithNamespacedOwner(Exception):
    """A reference no retry can make valid: a cluster-scoped object cannot be owned by a namespaced one."""


class GarbageCollector(Controller):
    name = "garbagecollector"
    service_account = "generic-garbage-collector"
    workers = 10
    orphan_workers = 5
    rediscover_period = 30.0  # seconds between discovery refreshes (upstream's resync of monitors)
    sync_timeout = 30.0  # at most this long waiting for new informers' first lists before starting work

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.orphan_queue: WorkQueue[str] = WorkQueue(default_rate_limiter())
        self._virtual_backoff = ItemExponentialBackoff()
        self.graph = Graph(self.queue.add, self.orphan_queue.add, self._recheck)
        self.monitors: dict[Resource, Informer] = {}
        self._rediscover = asyncio.Event()
        crds = informers.informer(CUSTOM_RESOURCE_DEFINITIONS)
        crds.add_handler(on_add=lambda _: self._rediscover.set(),
                         on_update=lambda _old, _new: self._rediscover.set(),
                         on_delete=lambda _: self._rediscover.set())

    async def run(self) -> None:
        try:
            await self.sync_monitors()
            await asyncio.gather(self._keep_monitors(),
                                 *(run_worker(self.queue, self.sync) for _ in range(self.workers)),
                                 *(run_worker(self.orphan_queue, self.orphan) for _ in range(self.orphan_workers)))
        finally:
            self.queue.shutdown()
            self.orphan_queue.shutdown()

    # monitors: one informer per deletable resource

    async def sync_monitors(self) -> None:
        """Watch resources discovery shows that are not watched yet, and wait for their first lists."""
        self._rediscover.clear()
        added = []
        for served in await served_resources(self.client):
            r = served.resource
            if r in self.monitors or (r.group, r.plural) in IGNORED or not served.verbs >= NEEDED_VERBS:
                continue
            informer = self.informers.informer(r)
            informer.add_handler(on_add=self._observer(r.api_version, served.kind),
                                 on_update=self._updater(r.api_version, served.kind),
                                 on_delete=self.graph.forget)
            self.monitors[r] = informer
            added.append(informer)
        if added:
            self.informers.start()
            await asyncio.gather(*(i.wait_for_sync(self.sync_timeout) for i in added))

    async def _keep_monitors(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rediscover.wait(), self.rediscover_period)
            try:
                await self.sync_monitors()
            except Exception:  # a failed discovery is retried at the next period
                log.exception("garbage collector: discovery failed")

    def _observer(self, api_version: str, kind: str) -> Callable[[dict], None]:
        return lambda obj: self.graph.observe(api_version, kind, None, obj)

    def _updater(self, api_version: str, kind: str) -> Callable[[dict, dict], None]:
        return lambda old, new: self.graph.observe(api_version, kind, old, new)

    def _recheck(self, uid: str) -> None:
        self.queue.add_after(uid, self._virtual_backoff.when(uid))

    # attempt to delete

    async def sync(self, uid: str) -> None:
        node = self.graph.nodes.get(uid)
        if node is None:
            return
        try:
            await self.attempt_to_delete(node)
        except ClusterScopedWithNamespacedOwner:
            log.warning("%s %s is cluster-scoped but names a namespaced owner", node.identity.kind,
                        node.identity.name)
            return
        if not node.observed and self.graph.nodes.get(uid) is node:
            self._recheck(uid)  # not seen by an informer yet: look again later, it may come and go unseen
        else:
            self._virtual_backoff.forget(uid)

    async def attempt_to_delete(self, node: Node) -> None:
        if node.being_deleted and not node.deleting_dependents:
            return  # on its way out: its dependents are looked at once it is gone
        latest = await self.live(node.identity)
        if latest is None:
            self.graph.virtual_delete(node.identity)
            return
        if node.deleting_dependents:
            await self.finish_foreground(node)
            return
        refs = latest["metadata"].get("ownerReferences") or []
        if not refs:
            return
        solid, dangling, waiting = await self.classify(node, refs)
        if solid:
            if dangling or waiting:
                drop = {r["uid"] for r in dangling + waiting}
                await self.patch_owner_refs(node.identity, lambda rs: [r for r in rs if r.get("uid") not in drop])
            return
        if waiting and node.dependents:
            if any(d.deleting_dependents for d in self.graph.dependents(node)):
                # an owner and a dependent both wait in the foreground: unblock ours so neither waits forever
                await self.patch_owner_refs(node.identity, lambda rs: [{**r, "blockOwnerDeletion": False}
                                                                       if r.get("blockOwnerDeletion") else r
                                                                       for r in rs])
            await self.delete(node.identity, latest, "Foreground")
            return
        finalizers = latest["metadata"].get("finalizers") or ()
        policy = "Orphan" if ORPHAN in finalizers else "Foreground" if FOREGROUND in finalizers else "Background"
        await self.delete(node.identity, latest, policy)

    async def classify(self, node: Node, refs: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
        """Owner references split into solid (the owner exists), dangling (proved absent) and waiting (the
        owner is being deleted in the foreground)."""
        solid, dangling, waiting = [], [], []
        for ref in refs:
            owner = await self.owner_of(node, ref)
            if owner is None:
                dangling.append(ref)
            elif owner["metadata"].get("deletionTimestamp") and FOREGROUND in (
                    owner["metadata"].get("finalizers") or ()):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def owner_of(self, node: Node, ref: dict) -> dict | None:
        """The owner a reference names, read live; None when it is absent (or another object by that name)."""
        namespace = node.identity.namespace
        if self.graph.absent.has(owner_identity(ref, "")) or self.graph.absent.has(owner_identity(ref, namespace)):
            return None
        resource = await self.client.discovery.resource_for(ref.get("apiVersion", ""), ref.get("kind", ""))
        if resource.namespaced and not namespace:
            raise ClusterScopedWithNamespacedOwner
        owner = await self.live(owner_identity(ref, namespace if resource.namespaced else ""))
        if owner is None:
            self.graph.absent.add(owner_identity(ref, namespace if resource.namespaced else ""))
        return owner

    async def finish_foreground(self, node: Node) -> None:
        """An owner deleted in the foreground goes once no dependent blocks it."""
        blocking = self.graph.blocking_dependents(node)
        if not blocking:
            await self.remove_finalizer(node.identity, FOREGROUND)
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self.queue.add(dep.uid)

    # attempt to orphan

    async def orphan(self, uid: str) -> None:
        node = self.graph.nodes.get(uid)
        if node is None:
            return
        results = await asyncio.gather(
            *(self.patch_owner_refs(d.identity, lambda rs: [r for r in rs if r.get("uid") != uid])
              for d in self.graph.dependents(node)), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        await self.remove_finalizer(node.identity, ORPHAN)

    # reads and writes

    async def resource(self, identity: Identity) -> tuple[Resource, str | None]:
        resource = await self.client.discovery.resource_for(identity.api_version, identity.kind)
        return resource, (identity.namespace or None) if resource.namespaced else None

    async def live(self, identity: Identity) -> dict | None:
        """The object as the API server has it now, or None if there is no object with that uid there."""
        resource, namespace = await self.resource(identity)
        try:
            obj = await self.client.get(resource, identity.name, namespace)
        except ApiError as e:
            if e.code == 404:
                return None
            raise
        return obj if obj["metadata"].get("uid") == identity.uid else None

    async def delete(self, identity: Identity, latest: dict, policy: str) -> None:
        """Delete exactly the object looked at: its uid, and its resourceVersion unless only unrelated
        fields changed since (its owner references are what the decision was made on)."""
        resource, namespace = await self.resource(identity)
        m = latest["metadata"]
        preconditions = {"uid": identity.uid, "resourceVersion": m.get("resourceVersion")}
        for _ in range(2):
            try:
                await self.client.delete(resource, identity.name, namespace, propagation_policy=policy,
                                         preconditions=preconditions)
                return
            except ApiError as e:
                if e.code == 404:
                    return
                if e.code != 409 or "resourceVersion" not in preconditions:
                    raise
            now = await self.live(identity)
            if now is None:
                return
            if now["metadata"].get("ownerReferences") != m.get("ownerReferences"):
                self.queue.add(identity.uid)  # decided on stale references: look again
                return
            preconditions = {"uid": identity.uid}

    async def patch_owner_refs(self, identity: Identity, change: Callable[[list[dict]], list[dict]]) -> None:
        """Rewrite an object's ownerReferences, compare-and-swap on its resourceVersion."""
        await self._rewrite_metadata(identity, "ownerReferences", change)

    async def remove_finalizer(self, identity: Identity, finalizer: str) -> None:
        await self._rewrite_metadata(identity, "finalizers", lambda fs: [f for f in fs if f != finalizer])

    async def _rewrite_metadata(self, identity: Identity, field: str, change: Callable[[list], list]) -> None:
        resource, namespace = await self.resource(identity)
        while True:
            obj = await self.live(identity)
            if obj is None:
                return
            m = obj["metadata"]
            before = list(m.get(field) or ())
            after = change(before)
            if after == before:
                return
            patch = {"metadata": {field: after or None, "resourceVersion": m["resourceVersion"]}}
            try:
                await self.client.patch(resource, identity.name, patch, namespace)
                return
            except ApiError as e:
                if e.code == 404:
                    return
                if e.code != 409:
                    raise
