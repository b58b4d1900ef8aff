"""The StatefulSet controller: pods web-0, web-1 ... each with its own claims, created and removed in
order, and rolled from the highest ordinal down to the partition when the template changes.

OrderedReady creates a pod only once every lower one is Running and Ready, and removes the highest first,
once the others are healthy; Parallel does both at once. Templates are kept as ControllerRevisions:
status.currentRevision made the pods below the partition, status.updateRevision makes the rest.
The claims' ownerReferences follow spec.persistentVolumeClaimRetentionPolicy (see stateful_claim_owners).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from timoneiro.client import ApiError
from timoneiro.client.resources import CONTROLLERREVISIONS, PODS, PVCS, STATEFULSETS
from timoneiro.controllers import history as hist
from timoneiro.controllers import stateful_claim_owners as owners
from timoneiro.controllers import stateful_pods as sp
from timoneiro.controllers.base import Controller
from timoneiro.controllers.controller_ref import (
    RefManager,
    controller_of,
    controller_ref,
    object_reference,
    resolve,
    selecting,
    selector_match,
)
from timoneiro.controllers.events import EventRecorder
from timoneiro.controllers.history import History
from timoneiro.controllers.pods import is_deleted, phase
from timoneiro.controllers.replicaset import slow_start

log = logging.getLogger("timoneiro.controllers.statefulset")

API_VERSION, KIND = "apps/v1", "StatefulSet"


def template_of(revision: dict) -> dict:
    """The pod template a revision saved."""
    template = copy.deepcopy(revision["data"]["spec"]["template"])
    template.pop("$patch", None)
    return template


@dataclass
class _Revisions:
    current: dict
    update: dict
    collision_count: int

    @property
    def current_name(self) -> str:
        return self.current["metadata"]["name"]

    @property
    def update_name(self) -> str:
        return self.update["metadata"]["name"]


class StatefulSetController(Controller):
    name = "statefulset"
    service_account = "statefulset-controller"
    workers = 5

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.events = EventRecorder(client, "statefulset-controller")
        self.history = History(client)
        self.sets = self.follow(informers.informer(STATEFULSETS))
        self.pods = informers.informer(PODS)
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_changed)
        self.revisions = informers.informer(CONTROLLERREVISIONS)
        self.claims = informers.informer(PVCS)
        self.claims.add_handler(on_delete=self._claim_deleted)

    # event handlers

    def _pod_changed(self, pod: dict) -> None:
        ref = controller_of(pod)
        if ref is not None:
            sts = resolve(self.sets.store, pod["metadata"].get("namespace"), ref, KIND)
            if sts is not None:
                self.enqueue(sts)
            return
        for sts in selecting(self.sets.store, pod):
            self.enqueue(sts)

    def _claim_deleted(self, claim: dict) -> None:
        """A pod waiting for its stale claim to go may be created now."""
        for sts in selecting(self.sets.store, claim):
            self.enqueue(sts)

    def _pod_updated(self, old: dict, new: dict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        if controller_of(old) != controller_of(new):
            self._pod_changed(old)
        self._pod_changed(new)

    # sync

    async def sync(self, key: str) -> None:
        cached = self.sets.store.get(key)
        if cached is None:
            return
        sts = copy.deepcopy(cached)
        revisions = await self._revisions_of(sts)
        pods = await self._claim_pods(sts)
        status, error = await self._update(sts, pods, revisions)
        if status is not None:
            try:
                await self._write_status(sts, status)
            except ApiError as e:
                error = error or e
        if error is None and status is not None:
            await self._truncate_history(sts, pods, revisions, status)
        if error is not None:
            raise error
        min_ready = sts["spec"].get("minReadySeconds") or 0
        if min_ready and status is not None and status.get("availableReplicas") != sts["spec"].get("replicas", 1):
            self.queue.add_after(key, min_ready)

    def _ref(self, sts: dict) -> dict:
        return object_reference(sts, API_VERSION, KIND)

    async def _revisions_of(self, sts: dict) -> list[dict]:
        """The set's revisions (matching its selector, controlled by it or adopted now), oldest first."""
        manager = RefManager.by_selector(self.client, CONTROLLERREVISIONS, sts, STATEFULSETS, API_VERSION, KIND)
        candidates = [r for r in self.revisions.store.by_index("namespace", sts["metadata"]["namespace"])
                      if controller_of(r) is None or controller_of(r).get("uid") == sts["metadata"]["uid"]]
        return hist.by_revision(await manager.claim(candidates))

    async def _claim_pods(self, sts: dict) -> list[dict]:
        selected = selector_match(sts)
        manager = RefManager(self.client, PODS, sts, STATEFULSETS, API_VERSION, KIND,
                             lambda pod: selected(pod) and sp.is_member(sts, pod))
        return await manager.claim(self.pods.store.by_index("namespace", sts["metadata"]["namespace"]))

    async def _find_revisions(self, sts: dict, revisions: list[dict]) -> _Revisions:
        """The current revision (from status) and the update revision (the template now, made or
        renumbered as needed)."""
        status = sts.get("status") or {}
        collisions = status.get("collisionCount") or 0
        data = hist.template_patch(sts)
        wanted = hist.new_revision(sts, API_VERSION, KIND, sts["spec"]["template"].get("metadata", {}).get("labels"),
                                   data, hist.next_revision(revisions), collisions)
        if sts["metadata"].get("annotations"):
            wanted["metadata"]["annotations"] = dict(sts["metadata"]["annotations"])
        equal = hist.equal_revisions(revisions, wanted)
        if equal and revisions and hist.same_data(revisions[-1], equal[-1]):
            update = revisions[-1]
        elif equal:
            update = await self.history.set_revision(equal[-1], wanted["revision"])  # a rollback
        else:
            update, collisions = await self.history.create(sts, wanted, collisions)
        current = next((r for r in revisions if r["metadata"]["name"] == status.get("currentRevision")), update)
        return _Revisions(current, update, collisions)

    async def _update(self, sts: dict, pods: list[dict], revisions: list[dict]) -> tuple[dict | None, Exception | None]:
        """One pass of upstream's updateStatefulSet: answers the status to write and any error."""
        try:
            revs = await self._find_revisions(sts, revisions)
        except ApiError as e:
            return None, e
        now = datetime.now(UTC)
        min_ready = sts["spec"].get("minReadySeconds") or 0
        status = {"observedGeneration": sts["metadata"].get("generation", 1), "currentRevision": revs.current_name,
                  "updateRevision": revs.update_name, "collisionCount": revs.collision_count}
        start, count = sp.start_ordinal(sts), sts["spec"].get("replicas", 1)
        replicas: list[dict | None] = [None] * count
        condemned: list[dict] = []
        for pod in pods:
            if sp.in_range(pod, sts):
                replicas[sp.ordinal(pod) - start] = pod
            elif sp.ordinal(pod) >= 0:
                condemned.append(pod)
        planned = [p if p is not None else self._planned_pod(sts, revs, start + i) for i, p in enumerate(replicas)]
        condemned.sort(key=sp.ordinal, reverse=True)
        unhealthy = [p for p in planned if not sp.is_healthy(p)] + \
            [p for p in reversed(condemned) if not sp.is_healthy(p)]
        first_unhealthy = unhealthy[0] if unhealthy else None

        def counted() -> dict:
            status.update(replica_counts(planned + condemned, min_ready, now, revs))
            return status

        if is_deleted(sts):
            return counted(), None
        monotonic = sts["spec"].get("podManagementPolicy", "OrderedReady") != "Parallel"
        try:
            if await run_for_all(len(planned), lambda i: self._process_replica(sts, revs, planned, i, monotonic, now),
                                 monotonic):
                return counted(), None
            await run_for_all(len(condemned), lambda i: self._fix_condemned_claims(sts, condemned[i]), monotonic)
            if await run_for_all(len(condemned), lambda i: self._process_condemned(
                    sts, condemned[i], first_unhealthy, monotonic, now), monotonic):
                return counted(), None
            counted()
            if (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "OnDelete":
                return status, None
            await self._roll(sts, planned, revs, status)
        except ApiError as e:
            return counted(), e
        return status, None

    def _planned_pod(self, sts: dict, revs: _Revisions, ordinal: int) -> dict:
        """The pod an ordinal should have: at the current revision below the partition, else the update one."""
        partition = ((sts["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
        rolling = (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        revision = revs.current if rolling and ordinal < sp.start_ordinal(sts) + partition else revs.update
        return sp.new_pod(sts, template_of(revision), ordinal, revision["metadata"]["name"],
                          controller_ref(sts, API_VERSION, KIND))

    async def _process_replica(self, sts: dict, revs: _Revisions, replicas: list[dict], i: int, monotonic: bool,
                               now: datetime) -> bool:
        """Bring one in-range pod along; answers whether an ordered set must stop here this pass."""
        pod = replicas[i]
        if phase(pod) in ("Failed", "Succeeded"):
            name = pod["metadata"]["name"]
            if phase(pod) == "Failed":
                self.events.warning(self._ref(sts), "RecreatingFailedPod", f"StatefulSet "
                                    f"{sts['metadata']['namespace']}/{sts['metadata']['name']} is recreating failed Pod {name}")
            else:
                self.events.normal(self._ref(sts), "RecreatingTerminatedPod", f"StatefulSet "
                                   f"{sts['metadata']['namespace']}/{sts['metadata']['name']} is recreating terminated Pod {name}")
            await self._delete_pod(sts, pod)
            pod = replicas[i] = self._planned_pod(sts, revs, sp.start_ordinal(sts) + i)
        if not sp.is_created(pod):
            if self._claim_is_stale(sts, pod):
                return True  # the garbage collector has yet to delete a claim of the pod this name had before
            await self._create_pod(sts, pod)
            if monotonic:
                return True
        if phase(pod) == "Pending":
            await self._apply_retention(sts, pod, await self._create_claims(sts, pod))
        min_ready = sts["spec"].get("minReadySeconds") or 0
        if monotonic and (is_deleted(pod) or not sp.is_running_and_ready(pod)
                          or not sp.is_running_and_available(pod, min_ready, now)):
            return True
        if sp.identity_matches(sts, pod) and sp.storage_matches(sts, pod) and self._claims_match_retention(sts, pod):
            return False
        await self._update_pod(sts, pod)
        return False

    async def _fix_condemned_claims(self, sts: dict, pod: dict) -> bool:
        """Before a pod beyond the replica count goes, make it the owner of its claims if they go with it."""
        if not self._claims_match_retention(sts, pod):
            await self._apply_retention(sts, pod)
        return False

    async def _process_condemned(self, sts: dict, pod: dict, first_unhealthy: dict | None, monotonic: bool,
                                 now: datetime) -> bool:
        """Remove a pod beyond the replica count; an ordered set waits for the others to be healthy."""
        if is_deleted(pod):
            return monotonic
        min_ready = sts["spec"].get("minReadySeconds") or 0
        healthy = sp.is_running_and_ready(pod) and sp.is_running_and_available(pod, min_ready, now)
        if monotonic and not healthy and pod is not first_unhealthy:
            return True
        await self._delete_pod(sts, pod)
        return True

    async def _roll(self, sts: dict, replicas: list[dict], revs: _Revisions, status: dict) -> None:
        """Delete the highest-ordinal pod not at the update revision (down to the partition), once the
        pods above it are healthy; the next pass recreates it at the update revision."""
        partition = ((sts["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
        for target in range(len(replicas) - 1, partition - 1, -1):
            pod = replicas[target]
            if sp.revision_of(pod) != revs.update_name and not is_deleted(pod):
                log.info("pod %s of StatefulSet %s is terminating for update", pod["metadata"]["name"],
                         sts["metadata"]["name"])
                await self._delete_pod(sts, pod)
                status["currentReplicas"] = status.get("currentReplicas", 0) - 1
                return
            if not sp.is_healthy(pod):
                return

    # writes

    def _pod_claims(self, sts: dict, pod: dict) -> dict[str, dict]:
        """The pod's claims that exist (as cached), by name."""
        namespace = sts["metadata"]["namespace"]
        found = (self.claims.store.get(f"{namespace}/{c['metadata']['name']}")
                 for c in sp.claims(sts, sp.ordinal(pod)).values())
        return {c["metadata"]["name"]: c for c in found if c is not None}

    def _claim_is_stale(self, sts: dict, pod: dict) -> bool:
        """Whether, when scaling down deletes claims, a claim still names an earlier pod of this name as owner."""
        if owners.retention_policy(sts)[1] == owners.RETAIN:
            return False
        return any(owners.has_stale_owner(c, pod, owners.POD) for c in self._pod_claims(sts, pod).values())

    def _claims_match_retention(self, sts: dict, pod: dict) -> bool:
        return all(owners.owners_up_to_date(c, sts, pod) for c in self._pod_claims(sts, pod).values())

    async def _apply_retention(self, sts: dict, pod: dict, claims: dict[str, dict] | None = None) -> None:
        """Set the ownerReferences of the pod's claims (these, or as cached) as the retention policy wants."""
        for name, claim in (claims if claims is not None else self._pod_claims(sts, pod)).items():
            if owners.has_unexpected_controller(claim, sts, pod):
                self.events.warning(self._ref(sts), "ConflictingController", f"PersistentVolumeClaim {name} has a "
                                    "conflicting OwnerReference that acts as a manging controller, the retention "
                                    "policy is ignored for this claim")
            if owners.owners_up_to_date(claim, sts, pod):
                continue
            try:
                await self.client.update(PVCS, owners.with_owners(claim, sts, pod))
            except ApiError as e:
                message = f"could not update claim {name} for delete policy ownerRefs: {e.message}"
                raise ApiError({**e.status, "message": message}) from e

    async def _create_claims(self, sts: dict, pod: dict) -> dict[str, dict]:
        """Create the pod's missing claims; answers its claims that exist, by name."""
        errors = []
        out = {}
        for claim in sp.claims(sts, sp.ordinal(pod)).values():
            name, namespace = claim["metadata"]["name"], claim["metadata"]["namespace"]
            existing = self.claims.store.get(f"{namespace}/{name}")
            if existing is not None:
                if is_deleted(existing):
                    errors.append(RuntimeError(f"pvc {name} is being deleted"))
                out[name] = existing
                continue
            try:
                out[name] = await self.client.create(PVCS, claim, namespace)
            except ApiError as e:
                if e.code == 409:
                    continue
                self.events.warning(self._ref(sts), "FailedCreate", f"create Claim {name} for Pod "
                                    f"{pod['metadata']['name']} in StatefulSet {sts['metadata']['name']} failed error: {e.message}")
                errors.append(e)
                continue
            self.events.normal(self._ref(sts), "SuccessfulCreate", f"create Claim {name} Pod "
                               f"{pod['metadata']['name']} in StatefulSet {sts['metadata']['name']} success")
        if errors:
            raise errors[0]
        return out

    async def _create_pod(self, sts: dict, pod: dict) -> None:
        """Create the pod's claims, then the pod, then give the claims the owners the retention policy wants."""
        try:
            claims = await self._create_claims(sts, pod)
            created = await self.client.create(PODS, pod, sts["metadata"]["namespace"])
        except ApiError as e:
            if e.code == 409 and e.reason == "AlreadyExists":
                raise
            self._pod_event(sts, pod, "create", e)
            raise
        try:
            await self._apply_retention(sts, created, claims)
        except ApiError as e:
            self._pod_event(sts, pod, "update", e)
            raise
        self._pod_event(sts, pod, "create", None)

    async def _delete_pod(self, sts: dict, pod: dict) -> None:
        try:
            await self.client.delete(PODS, pod["metadata"]["name"], pod["metadata"]["namespace"])
        except ApiError as e:
            if e.code == 404:
                return
            self._pod_event(sts, pod, "delete", e)
            raise
        self._pod_event(sts, pod, "delete", None)

    async def _update_pod(self, sts: dict, pod: dict) -> None:
        """Put back the identity labels and claim volumes of a pod that lost them, and its claims' owners."""
        try:
            await self._apply_retention(sts, pod, await self._create_claims(sts, pod))
            await self.client.update(PODS, sp.repair_identity_and_storage(sts, pod))
        except ApiError as e:
            self._pod_event(sts, pod, "update", e)
            raise
        self._pod_event(sts, pod, "update", None)

    def _pod_event(self, sts: dict, pod: dict, verb: str, error: ApiError | None) -> None:
        what = f"{verb} Pod {pod['metadata']['name']} in StatefulSet {sts['metadata']['name']}"
        if error is None:
            self.events.normal(self._ref(sts), f"Successful{verb.title()}", f"{what} successful")
        else:
            self.events.warning(self._ref(sts), f"Failed{verb.title()}", f"{what} failed error: {error.message}")

    async def _write_status(self, sts: dict, status: dict) -> None:
        """Write status if it changed; a rollout whose pods are all updated and ready is complete."""
        strategy = (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy == "RollingUpdate" and status.get("updatedReplicas") == status["replicas"] \
                and status.get("readyReplicas") == status["replicas"]:
            status["currentReplicas"] = status["updatedReplicas"]
            status["currentRevision"] = status["updateRevision"]
        old = sts.get("status") or {}
        fields = ("replicas", "currentReplicas", "readyReplicas", "updatedReplicas", "availableReplicas",
                  "currentRevision", "updateRevision")
        if status["observedGeneration"] <= old.get("observedGeneration", 0) and \
                all(status.get(f, 0) == old.get(f, 0) for f in fields):
            return

        def with_status(obj: dict) -> dict:
            conditions = (obj.get("status") or {}).get("conditions")
            return {**obj, "status": {**({"conditions": conditions} if conditions else {}), **wire_status(status)}}

        body = with_status(sts)
        for attempt in range(5):
            try:
                await self.client.update_status(STATEFULSETS, body)
                return
            except ApiError as e:
                if e.code != 409 or attempt == 4:
                    raise
                body = with_status(await self.client.get(STATEFULSETS, sts["metadata"]["name"],
                                                         sts["metadata"]["namespace"]))

    async def _truncate_history(self, sts: dict, pods: list[dict], revisions: list[dict], status: dict) -> None:
        """Delete the oldest revisions no pod runs beyond revisionHistoryLimit."""
        live = {status["currentRevision"], status["updateRevision"], *(sp.revision_of(p) for p in pods)}
        old = [r for r in revisions if r["metadata"]["name"] not in live]
        for revision in old[:max(0, len(old) - sts["spec"].get("revisionHistoryLimit", 10))]:
            await self.history.delete(revision)


def replica_counts(pods: list[dict], min_ready: int, now: datetime, revs: _Revisions) -> dict:
    counts = dict.fromkeys(("replicas", "readyReplicas", "availableReplicas", "currentReplicas",
                            "updatedReplicas"), 0)
    for pod in pods:
        created = sp.is_created(pod)
        counts["replicas"] += created
        if sp.is_running_and_ready(pod):
            counts["readyReplicas"] += 1
            counts["availableReplicas"] += sp.is_running_and_available(pod, min_ready, now)
        if created and not is_deleted(pod):
            counts["currentReplicas"] += sp.revision_of(pod) == revs.current_name
            counts["updatedReplicas"] += sp.revision_of(pod) == revs.update_name
    return counts


def wire_status(status: dict) -> dict:
    """As the API serializes it: replicas and availableReplicas always, other zero counters left out."""
    return {k: v for k, v in status.items()
            if k in ("replicas", "availableReplicas", "collisionCount") or v}


async def run_for_all(count: int, step: Callable[[int], Awaitable[bool]], monotonic: bool) -> bool:
    """Ordered: one at a time, stopping where a step says so (answers True then). Parallel: in
    slow-start batches, stopping only for errors."""
    if monotonic:
        for i in range(count):
            if await step(i):
                return True
        return False
    steps = iter(range(count))
    _, error = await slow_start(count, lambda: step(next(steps)))
    if error is not None:
        raise error
    return False
