"""The ReplicaSet controller: keeps spec.replicas active pods matching the selector, and reports on them.

As upstream's: it adopts matching orphan pods and releases its pods that stopped matching; creates missing
pods in slow-start batches (1, 2, 4 ...) and deletes surplus ones cheapest first (pod_deletion); and does
neither while pods it created or deleted are not yet seen by its informer (expectations). The
ReplicationController controller is this one with another ReplicaKind (replicationcontroller.py).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from timoneiro.api import selectors
from timoneiro.client import ApiError, Resource
from timoneiro.client.resources import PODS, REPLICASETS
from timoneiro.client.store import NAMESPACE_INDEX, object_key
from timoneiro.controllers.base import Controller
from timoneiro.controllers.clock import rfc3339
from timoneiro.controllers.controller_ref import (
    RefManager,
    controller_of,
    controller_ref,
    object_reference,
    resolve,
)
from timoneiro.controllers.events import EventRecorder
from timoneiro.controllers.expectations import Expectations, UIDExpectations
from timoneiro.controllers.pod_control import PodControl, namespace_terminating
from timoneiro.controllers.pod_deletion import pods_to_delete
from timoneiro.controllers.pods import from_template, is_active, is_available, is_deleted, is_ready

log = logging.getLogger("timoneiro.controllers.replicaset")
BURST_REPLICAS = 500  # upstream's burstReplicas: the most pods created or deleted in one sync
CONTROLLER_INDEX = "controller-uid"  # pods (and ReplicaSets) by the uid of their controller
FAILURE = "ReplicaFailure"


def by_controller(obj: dict) -> list[str]:
    ref = controller_of(obj)
    return [ref["uid"]] if ref and ref.get("uid") else []


@dataclass(frozen=True)
class ReplicaKind:
    """What differs between ReplicaSets and ReplicationControllers: where they live and how they select."""

    resource: Resource
    api_version: str
    kind: str
    component: str
    selector: Callable[[dict], selectors.Selector | None]  # from the object's spec


REPLICA_SET = ReplicaKind(REPLICASETS, "apps/v1", "ReplicaSet", "replicaset-controller",
                          lambda spec: selectors.from_label_selector(spec.get("selector")))


class ReplicaSetController(Controller):
    name = "replicaset"
    service_account = "replicaset-controller"
    workers = 5
    kind = REPLICA_SET

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.sets = self.follow(informers.informer(self.kind.resource, indexers={CONTROLLER_INDEX: by_controller}))
        self.pods = informers.informer(PODS, indexers={CONTROLLER_INDEX: by_controller})
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.expectations = Expectations()
        self.deleting = UIDExpectations()  # per set, the keys of pods it deleted that are still in the cache
        self.events = EventRecorder(client, self.kind.component)
        self.pod_control = PodControl(client, self.events)

    # which set a pod change concerns

    def _owner(self, pod: dict, ref: dict | None) -> dict | None:
        return resolve(self.sets.store, pod["metadata"].get("namespace"), ref, self.kind.kind)

    def _selecting(self, pod: dict) -> list[dict]:
        labels = pod["metadata"].get("labels") or {}
        out = []
        for rs in self.sets.store.by_index(NAMESPACE_INDEX, pod["metadata"].get("namespace") or ""):
            selector = self.kind.selector(rs.get("spec") or {})
            if selector and selectors.matches(selector, labels):
                out.append(rs)
        return out

    def _pod_added(self, pod: dict) -> None:
        if is_deleted(pod):  # seen first already being deleted (e.g. after a restart)
            self._pod_deleted(pod)
            return
        ref = controller_of(pod)
        if ref is not None:
            rs = self._owner(pod, ref)
            if rs is not None:
                self.expectations.creation_observed(object_key(rs))
                self.enqueue(rs)
            return
        for rs in self._selecting(pod):
            self.enqueue(rs)

    def _pod_updated(self, old: dict, new: dict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return  # a resync
        labels_changed = old["metadata"].get("labels") != new["metadata"].get("labels")
        if is_deleted(new):
            self._pod_deleted(new)
            if labels_changed:
                self._pod_deleted(old)
            return
        old_ref, new_ref = controller_of(old), controller_of(new)
        ref_changed = old_ref != new_ref
        if ref_changed and old_ref is not None:
            rs = self._owner(old, old_ref)
            if rs is not None:
                self.enqueue(rs)
        if new_ref is not None:
            rs = self._owner(new, new_ref)
            if rs is None:
                return
            self.enqueue(rs)
            min_ready = (rs.get("spec") or {}).get("minReadySeconds") or 0
            if min_ready > 0 and not is_ready(old) and is_ready(new):
                self.queue.add_after(object_key(rs), min_ready + 1)  # when it becomes available
            return
        if labels_changed or ref_changed:
            for rs in self._selecting(new):
                self.enqueue(rs)

    def _pod_deleted(self, pod: dict) -> None:
        rs = self._owner(pod, controller_of(pod))
        if rs is None:
            return
        key, pod_key = object_key(rs), object_key(pod)
        if pod_key in self.deleting.pending(key):
            self.deleting.observed(key, pod_key)
            self.expectations.deletion_observed(key)
        self.queue.add(key)

    # sync

    async def sync(self, key: str) -> None:
        rs = self.sets.store.get(key)
        if rs is None:
            self.expectations.forget(key)
            self.deleting.forget(key)
            return
        needs_sync = self.expectations.satisfied(key)
        spec = rs.get("spec") or {}
        selector = self.kind.selector(spec)
        namespace = rs["metadata"]["namespace"]
        active = [p for p in self.pods.store.by_index(NAMESPACE_INDEX, namespace) if is_active(p)]

        def match(pod: dict) -> bool:
            return selectors.matches(selector, pod["metadata"].get("labels") or {})
        manager = RefManager(self.client, PODS, rs, self.kind.resource, self.kind.api_version, self.kind.kind,
                             match)
        pods = await manager.claim(active)
        error: Exception | None = None
        if needs_sync and not rs["metadata"].get("deletionTimestamp"):
            try:
                await self._manage(key, rs, pods)
            except Exception as e:  # reported in status.conditions, then retried
                error = e
        status = replica_status(rs, pods, error, datetime.now(UTC))
        updated = await self._write_status(rs, status)
        replicas = spec.get("replicas", 1)
        min_ready = spec.get("minReadySeconds") or 0
        new = updated.get("status") or {}
        if (error is None and min_ready > 0 and new.get("readyReplicas", 0) == replicas
                and new.get("availableReplicas", 0) != replicas):
            self.queue.add_after(key, min_ready)  # a last resort against clock skew, as upstream
        if error is not None:
            raise error

    async def _manage(self, key: str, rs: dict, pods: list[dict]) -> None:
        diff = len(pods) - rs["spec"].get("replicas", 1)
        if diff < 0:
            count = min(-diff, BURST_REPLICAS)
            self.expectations.expect_creations(key, count)
            created, error = await slow_start(count, lambda: self._create_pod(rs))
            if count > created:  # never attempted or failed: the informer will not see them
                self.expectations.lower(key, adds=count - created)
            if error is not None:
                raise error
        elif diff > 0:
            doomed = pods_to_delete(pods, self._related_pods(rs), min(diff, BURST_REPLICAS), datetime.now(UTC))
            self.deleting.forget(key)
            self.deleting.expect(key, [object_key(p) for p in doomed])
            self.expectations.expect_deletions(key, len(doomed))
            results = await asyncio.gather(*(self._delete_pod(rs, p) for p in doomed), return_exceptions=True)
            errors = []
            for pod, result in zip(doomed, results, strict=True):
                if result is False or isinstance(result, Exception):  # already gone, or failed
                    self.deleting.observed(key, object_key(pod))
                    self.expectations.deletion_observed(key)
                    if isinstance(result, Exception):
                        errors.append(result)
            if errors:
                raise errors[0]

    def _related_pods(self, rs: dict) -> list[dict]:
        """The pods of this set and of its siblings under the same controller (a Deployment's sets)."""
        owner = controller_of(rs)
        siblings = [rs] if owner is None else [
            s for s in self.sets.store.by_index(CONTROLLER_INDEX, owner["uid"])
            if s["metadata"].get("namespace") == rs["metadata"]["namespace"]]
        return [p for s in siblings for p in self.pods.store.by_index(CONTROLLER_INDEX, s["metadata"]["uid"])]

    def _reference(self, rs: dict) -> dict:
        return object_reference(rs, self.kind.api_version, self.kind.kind)

    async def _create_pod(self, rs: dict) -> None:
        template = rs["spec"].get("template") or {}
        if not (template.get("metadata") or {}).get("labels"):
            raise ValueError("unable to create pods, no labels")
        pod = from_template(template, rs["metadata"]["name"],
                            controller_ref(rs, self.kind.api_version, self.kind.kind))
        try:
            await self.pod_control.create(self._reference(rs), pod, rs["metadata"]["namespace"])
        except ApiError as e:
            if namespace_terminating(e):
                return  # every create will fail from now on; nothing to report
            raise

    async def _delete_pod(self, rs: dict, pod: dict) -> bool:
        """False if the pod was already gone."""
        return await self.pod_control.delete(self._reference(rs), rs["metadata"]["namespace"], pod["metadata"]["name"])

    async def _write_status(self, rs: dict, status: dict) -> dict:
        """Write status unless it says what is there; on a conflict, once more onto a fresh read."""
        generation = rs["metadata"].get("generation", 0)
        old = rs.get("status") or {}
        if _without_observed(status) == _without_observed(old) and old.get("observedGeneration", 0) == generation:
            return rs
        if generation:
            status["observedGeneration"] = generation
        body = {**copy.deepcopy(rs), "status": status}
        try:
            return await self.client.update_status(self.kind.resource, body)
        except ApiError as e:
            if e.code != 409:
                raise
        meta = rs["metadata"]
        fresh = await self.client.get(self.kind.resource, meta["name"], meta["namespace"])
        return await self.client.update_status(self.kind.resource, {**fresh, "status": status})


async def slow_start(count: int, create: Callable[[], Awaitable[None]]) -> tuple[int, Exception | None]:
    """Run create() count times in batches of 1, 2, 4 ..., stopping after a batch with a failure, so that
    an error every create would hit (a quota, a bad template) costs one request, not count of them.
    Answers how many succeeded and the first failure."""
    done, remaining, batch = 0, count, min(count, 1)
    while batch > 0:
        results = await asyncio.gather(*(create() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        done += batch - len(errors)
        if errors:
            return done, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return done, None


def replica_status(rs: dict, pods: list[dict], error: Exception | None, now: datetime) -> dict:
    """Status as upstream's calculateStatus: counts of the set's active pods, and a ReplicaFailure
    condition while creating or deleting pods fails. Zero counts are left out, as on the wire upstream."""
    spec = rs.get("spec") or {}
    old = rs.get("status") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = spec.get("minReadySeconds") or 0
    fully = sum(all((p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items())
                for p in pods)
    ready = sum(is_ready(p) for p in pods)
    available = sum(is_available(p, min_ready, now) for p in pods)
    conditions = [c for c in old.get("conditions") or () if c.get("type") != FAILURE]
    failure = next((c for c in old.get("conditions") or () if c.get("type") == FAILURE), None)
    if error is not None and failure is None:
        diff = len(pods) - spec.get("replicas", 1)
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        message = error.message if isinstance(error, ApiError) else str(error)
        failure = {"type": FAILURE, "status": "True", "lastTransitionTime": rfc3339(now), "reason": reason,
                   "message": message}
    if failure is not None and error is not None:
        conditions.append(failure)
    status: dict = {"replicas": len(pods)}
    for field, value in (("fullyLabeledReplicas", fully), ("readyReplicas", ready),
                         ("availableReplicas", available)):
        if value:
            status[field] = value
    if conditions:
        status["conditions"] = conditions
    return status


def _without_observed(status: dict) -> dict:
    """Status as compared: unset and zero are the same, and observedGeneration is checked apart."""
    return {k: v for k, v in status.items() if k != "observedGeneration" and v not in (0, None, [])}
