"""The Deployment controller: rolls a Deployment's pods from one template to the next through ReplicaSets.

As upstream's: each template gets a ReplicaSet named "<deployment>-<pod-template-hash>" whose selector
adds the hash label; a RollingUpdate grows the new set and shrinks the old ones within maxSurge and
maxUnavailable, a Recreate empties the old sets before the new one starts. A change of spec.replicas alone
(a scaling event) and a paused Deployment are scaled proportionally instead of rolled. Revisions live in
annotations on the sets; old empty sets past revisionHistoryLimit are deleted. Status counts the sets'
pods, and the Available and Progressing conditions (with progressDeadlineSeconds) say how it goes.
"""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC, datetime, timedelta

from timoneiro.api import selectors
from timoneiro.api.printers.age import parse_time
from timoneiro.client import ApiError
from timoneiro.client.resources import DEPLOYMENTS, PODS, REPLICASETS
from timoneiro.client.store import NAMESPACE_INDEX, object_key
from timoneiro.controllers import deployment_util as du
from timoneiro.controllers.base import Controller
from timoneiro.controllers.controller_ref import (
    RefManager,
    controller_of,
    controller_ref,
    is_controlled_by,
    object_reference,
    resolve,
)
from timoneiro.controllers.events import EventRecorder
from timoneiro.controllers.pods import is_terminal
from timoneiro.controllers.replicaset import CONTROLLER_INDEX, by_controller
from timoneiro.controllers.template_hash import compute_hash

API_VERSION = "apps/v1"
KIND = "Deployment"


class DeploymentController(Controller):
    name = "deployment"
    service_account = "deployment-controller"
    workers = 5

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.deployments = self.follow(informers.informer(DEPLOYMENTS))
        self.sets = informers.informer(REPLICASETS, indexers={CONTROLLER_INDEX: by_controller})
        self.sets.add_handler(self._set_added, self._set_updated, self._set_deleted)
        self.pods = informers.informer(PODS, indexers={CONTROLLER_INDEX: by_controller})
        self.pods.add_handler(on_delete=self._pod_deleted)
        self.events = EventRecorder(client, "deployment-controller")

    # which Deployment a change concerns

    def _owner(self, rs: dict) -> dict | None:
        return resolve(self.deployments.store, rs["metadata"].get("namespace"), controller_of(rs), KIND)

    def _selecting(self, rs: dict) -> list[dict]:
        labels = rs["metadata"].get("labels") or {}
        out = []
        for d in self.deployments.store.by_index(NAMESPACE_INDEX, rs["metadata"].get("namespace") or ""):
            selector = selectors.from_label_selector(d["spec"].get("selector"))
            if selector and selectors.matches(selector, labels):
                out.append(d)
        return out

    def _set_added(self, rs: dict) -> None:
        if rs["metadata"].get("deletionTimestamp"):
            self._set_deleted(rs)
            return
        if controller_of(rs) is not None:
            owner = self._owner(rs)
            if owner is not None:
                self.enqueue(owner)
            return
        for d in self._selecting(rs):
            self.enqueue(d)

    def _set_updated(self, old: dict, new: dict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        ref_changed = controller_of(old) != controller_of(new)
        if ref_changed and controller_of(old) is not None:
            owner = self._owner(old)
            if owner is not None:
                self.enqueue(owner)
        if controller_of(new) is not None:
            owner = self._owner(new)
            if owner is not None:
                self.enqueue(owner)
            return
        if ref_changed or old["metadata"].get("labels") != new["metadata"].get("labels"):
            for d in self._selecting(new):
                self.enqueue(d)

    def _set_deleted(self, rs: dict) -> None:
        owner = self._owner(rs)
        if owner is not None:
            self.enqueue(owner)

    def _pod_deleted(self, pod: dict) -> None:
        """A Recreate rollout waits for the old pods to be gone."""
        rs = resolve(self.sets.store, pod["metadata"].get("namespace"), controller_of(pod), "ReplicaSet")
        owner = self._owner(rs) if rs is not None else None
        if owner is not None and not du.is_rolling(owner):
            self.enqueue(owner)

    # sync

    async def sync(self, key: str) -> None:
        cached = self.deployments.store.get(key)
        if cached is None:
            return
        d = copy.deepcopy(cached)
        d.setdefault("status", {})
        if d["spec"].get("selector") == {}:
            self.events.warning(self._reference(d), "SelectingAll",
                                "This deployment is selecting all pods. A non-empty selector is required.")
            if d["status"].get("observedGeneration", 0) < d["metadata"].get("generation", 0):
                d["status"]["observedGeneration"] = d["metadata"]["generation"]
                await self._write_status(d)
            return
        manager = RefManager.by_selector(self.client, REPLICASETS, d, DEPLOYMENTS, API_VERSION, KIND)
        rss = await manager.claim(self.sets.store.by_index(NAMESPACE_INDEX, d["metadata"]["namespace"]))
        if d["metadata"].get("deletionTimestamp"):
            new_rs, old_rss = await self._new_and_old(d, rss, create=False)
            await self._sync_status(d, [*old_rss, new_rs], new_rs)
            return
        await self._note_pause(d)
        if d["spec"].get("paused") or await self._is_scaling_event(d, rss):
            await self._sync_scale(d, rss)
        elif du.is_rolling(d):
            await self._rollout_rolling(d, rss)
        else:
            await self._rollout_recreate(d, rss)

    def _reference(self, d: dict) -> dict:
        return object_reference(d, API_VERSION, KIND)

    async def _write_status(self, d: dict) -> None:
        """Write d's status (and, as upstream's status strategy allows, its annotations); d stays current."""
        answer = await self.client.update_status(DEPLOYMENTS, d)
        d["metadata"]["resourceVersion"] = answer["metadata"]["resourceVersion"]

    async def _note_pause(self, d: dict) -> None:
        """Progressing is Unknown while paused, so that time spent paused never counts against the deadline."""
        if not du.has_progress_deadline(d):
            return
        cond = du.condition(d["status"], du.PROGRESSING)
        if cond is not None and cond.get("reason") == du.TIMED_OUT:
            return
        noted = cond is not None and cond.get("reason") == du.PAUSED
        now = datetime.now(UTC)
        if d["spec"].get("paused") and not noted:
            du.set_condition(d["status"], du.new_condition(du.PROGRESSING, "Unknown", du.PAUSED,
                                                           "Deployment is paused", now))
        elif not d["spec"].get("paused") and noted:
            du.set_condition(d["status"], du.new_condition(du.PROGRESSING, "Unknown", du.RESUMED,
                                                           "Deployment is resumed", now))
        else:
            return
        await self._write_status(d)

    async def _is_scaling_event(self, d: dict, rss: list[dict]) -> bool:
        """Whether only spec.replicas changed: an active set was sized for another replica count."""
        new_rs, old_rss = await self._new_and_old(d, rss, create=False)
        for rs in du.active([*old_rss, new_rs]):
            desired = du.annotations(rs).get(du.DESIRED_REPLICAS)
            if desired is not None and desired.lstrip("-").isdigit() and int(desired) != du.replicas(d):
                return True
        return False

    # the new ReplicaSet and its revision

    async def _new_and_old(self, d: dict, rss: list[dict], create: bool) -> tuple[dict | None, list[dict]]:
        """The set running d's template (created if asked and missing) with its revision brought up to
        date, and the others."""
        new_rs = du.find_new(d, rss)
        old_rss = du.find_old(rss, new_rs)
        new_revision = du.max_revision(old_rss) + 1
        if new_rs is not None:
            rs = copy.deepcopy(new_rs)
            changed = du.set_new_rs_annotations(d, rs, new_revision, exists=True)
            min_ready = d["spec"].get("minReadySeconds", 0)
            if changed or rs["spec"].get("minReadySeconds", 0) != min_ready:
                rs["spec"]["minReadySeconds"] = min_ready
                return await self.client.update(REPLICASETS, rs), old_rss
            needs_update = self._set_revision(d, du.annotations(rs).get(du.REVISION, ""))
            if du.has_progress_deadline(d) and du.condition(d["status"], du.PROGRESSING) is None:
                du.set_condition(d["status"], du.new_condition(
                    du.PROGRESSING, "True", du.FOUND_NEW_RS, f'Found new replica set "{rs["metadata"]["name"]}"',
                    datetime.now(UTC)))
                needs_update = True
            if needs_update:
                await self._write_status(d)
            return rs, old_rss
        if not create:
            return None, old_rss
        return await self._create_new(d, old_rss, new_revision), old_rss

    @staticmethod
    def _set_revision(d: dict, revision: str) -> bool:
        annotations = d["metadata"].setdefault("annotations", {})
        if annotations.get(du.REVISION) == revision:
            return False
        annotations[du.REVISION] = revision
        return True

    async def _create_new(self, d: dict, old_rss: list[dict], new_revision: int) -> dict:
        meta = d["metadata"]
        template = copy.deepcopy(d["spec"]["template"])
        pod_hash = compute_hash(template, d["status"].get("collisionCount"))
        labels = {**((template.get("metadata") or {}).get("labels") or {}), du.HASH_LABEL: pod_hash}
        template.setdefault("metadata", {})["labels"] = labels
        selector = copy.deepcopy(d["spec"]["selector"])
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), du.HASH_LABEL: pod_hash}
        name = f"{meta['name']}-{pod_hash}"
        rs = {"apiVersion": API_VERSION, "kind": "ReplicaSet",
              "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                           "ownerReferences": [controller_ref(d, API_VERSION, KIND)]},
              "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                       "selector": selector, "template": template}}
        count = du.new_rs_replicas(d, [*old_rss, rs], rs)
        rs["spec"]["replicas"] = count
        du.set_new_rs_annotations(d, rs, new_revision, exists=False)
        exists = False
        try:
            created = await self.client.create(REPLICASETS, rs, meta["namespace"])
        except ApiError as e:
            if e.code == 409 and e.reason == "AlreadyExists":
                created = await self._existing_new(d, name)
                exists = True
            else:
                if not e.has_cause("NamespaceTerminating"):
                    await self._failed_create(d, name, e)
                raise
        if not exists and count > 0:
            self.events.normal(self._reference(d), "ScalingReplicaSet",
                               f"Scaled up replica set {name} to {count}")  # upstream says "from" only on a resize
        needs_update = self._set_revision(d, str(new_revision))
        if not exists and du.has_progress_deadline(d):
            du.set_condition(d["status"], du.new_condition(du.PROGRESSING, "True", du.NEW_RS_CREATED,
                                                           f'Created new replica set "{name}"', datetime.now(UTC)))
            needs_update = True
        if needs_update:
            await self._write_status(d)
        return created

    async def _existing_new(self, d: dict, name: str) -> dict:
        """The set a create found already there: ours (a slow cache), or a hash collision, which bumps
        status.collisionCount so that the next try hashes to another name."""
        found = await self.client.get(REPLICASETS, name, d["metadata"]["namespace"])
        if is_controlled_by(found, d) and du.without_hash(found["spec"]["template"]) == du.without_hash(
                d["spec"]["template"]):
            return found
        d["status"]["collisionCount"] = (d["status"].get("collisionCount") or 0) + 1
        await self._write_status(d)
        raise RuntimeError(f"hash collision: replica set {name} exists with another template; "
                           f"collisionCount is now {d['status']['collisionCount']}")

    async def _failed_create(self, d: dict, name: str, error: ApiError) -> None:
        message = f'Failed to create new replica set "{name}": {error.message}'
        if du.has_progress_deadline(d):
            du.set_condition(d["status"], du.new_condition(du.PROGRESSING, "False", du.FAILED_RS_CREATE, message,
                                                           datetime.now(UTC)))
            with contextlib.suppress(ApiError):  # the failure to create is the bigger news
                await self._write_status(d)
        self.events.warning(self._reference(d), du.FAILED_RS_CREATE, message)

    # scaling

    async def _scale_to(self, rs: dict, size: int, d: dict, direction: str | None = None) -> tuple[bool, dict]:
        """Resize a set (and bring its desired/max-replicas annotations up to date); whether it resized."""
        if direction is None:
            if du.replicas(rs) == size:
                return False, rs
            direction = "up" if du.replicas(rs) < size else "down"
        desired, most = du.replicas(d), du.replicas(d) + du.max_surge(d)
        resized = du.replicas(rs) != size
        if not resized and not du.replicas_annotations_need_update(rs, desired, most):
            return False, rs
        before = du.replicas(rs)
        body = copy.deepcopy(rs)
        body["spec"]["replicas"] = size
        du.set_replicas_annotations(body, desired, most)
        updated = await self.client.update(REPLICASETS, body)
        if resized:
            self.events.normal(self._reference(d), "ScalingReplicaSet",
                               f"Scaled {direction} replica set {rs['metadata']['name']} to {size} from {before}")
        return resized, updated

    async def _sync_scale(self, d: dict, rss: list[dict]) -> None:
        """A scaling event or a paused Deployment: resize without rolling, then report."""
        new_rs, old_rss = await self._new_and_old(d, rss, create=False)
        await self._scale(d, new_rs, old_rss)
        if d["spec"].get("paused"):
            await self._cleanup(d, old_rss)
        await self._sync_status(d, [*old_rss, new_rs], new_rs)

    async def _scale(self, d: dict, new_rs: dict | None, old_rss: list[dict]) -> None:
        """Give the one active set all replicas, or share a change of size among the active sets in
        proportion to their sizes, so that scaling neither speeds up nor slows down a rollout."""
        only = du.find_active_or_latest(new_rs, old_rss)
        if only is not None:
            if du.replicas(only) != du.replicas(d):
                await self._scale_to(only, du.replicas(d), d)
            return
        if du.is_saturated(d, new_rs):
            for rs in du.active(old_rss):
                await self._scale_to(rs, 0, d)
            return
        if not du.is_rolling(d):
            return
        live = du.active([*old_rss, new_rs])
        allowed = du.replicas(d) + du.max_surge(d) if du.replicas(d) > 0 else 0
        to_add = allowed - du.total(live)
        direction = None
        if to_add > 0:  # bigger first; newer first among equals
            live.sort(key=du.by_creation, reverse=True)
            live.sort(key=lambda rs: -du.replicas(rs))
            direction = "up"
        elif to_add < 0:  # bigger first; older first among equals
            live.sort(key=du.by_creation)
            live.sort(key=lambda rs: -du.replicas(rs))
            direction = "down"
        sizes, added = {}, 0
        for rs in live:
            share = du.proportion(rs, d, to_add, added) if to_add else 0
            sizes[rs["metadata"]["name"]] = du.replicas(rs) + share
            added += share
        for i, rs in enumerate(live):
            name = rs["metadata"]["name"]
            if i == 0 and to_add:
                sizes[name] = max(sizes[name] + to_add - added, 0)  # leftovers go to the biggest
            await self._scale_to(rs, sizes[name], d, direction or "")

    async def _cleanup(self, d: dict, old_rss: list[dict]) -> None:
        """Delete the oldest empty sets beyond revisionHistoryLimit."""
        if not du.has_revision_history_limit(d):
            return
        cleanable = sorted((rs for rs in old_rss if not rs["metadata"].get("deletionTimestamp")), key=du.by_revision)
        for rs in cleanable[:max(len(cleanable) - d["spec"]["revisionHistoryLimit"], 0)]:
            meta = rs["metadata"]
            if (du.status_count(rs, "replicas") or du.replicas(rs)
                    or meta.get("generation", 0) > du.status_count(rs, "observedGeneration")):
                continue
            try:
                await self.client.delete(REPLICASETS, meta["name"], meta["namespace"])
            except ApiError as e:
                if e.code != 404:
                    raise

    # rollouts

    async def _rollout_rolling(self, d: dict, rss: list[dict]) -> None:
        new_rs, old_rss = await self._new_and_old(d, rss, create=True)
        assert new_rs is not None
        all_rss = [*old_rss, new_rs]
        if await self._grow_new(d, all_rss, new_rs) or await self._shrink_old(d, all_rss, old_rss, new_rs):
            await self._sync_rollout_status(d, all_rss, new_rs)
            return
        if du.complete(d, d["status"]):
            await self._cleanup(d, old_rss)
        await self._sync_rollout_status(d, all_rss, new_rs)

    async def _grow_new(self, d: dict, all_rss: list[dict], new_rs: dict) -> bool:
        want = du.replicas(d)
        if du.replicas(new_rs) == want:
            return False
        if du.replicas(new_rs) > want:
            return (await self._scale_to(new_rs, want, d))[0]
        return (await self._scale_to(new_rs, du.new_rs_replicas(d, all_rss, new_rs), d))[0]

    async def _shrink_old(self, d: dict, all_rss: list[dict], old_rss: list[dict], new_rs: dict) -> bool:
        """Scale old sets down as far as maxUnavailable allows, their unavailable pods first; counting the
        new set's unavailable pods too, so that a broken new template does not eat the old pods."""
        old_active = du.active(old_rss)
        if du.total(old_active) == 0:
            return False
        min_available = du.replicas(d) - du.max_unavailable(d)
        new_unavailable = du.replicas(new_rs) - du.status_count(new_rs, "availableReplicas")
        most_down = du.total(all_rss) - min_available - new_unavailable
        if most_down <= 0:
            return False
        try:
            old_active, cleaned = await self._drop_unhealthy(d, old_active, most_down)
            down = await self._scale_down_old(d, [*old_active, new_rs], old_active)
        except ApiError:
            return False  # as upstream: the next sync tries again
        return cleaned + down > 0

    async def _drop_unhealthy(self, d: dict, old_rss: list[dict], most: int) -> tuple[list[dict], int]:
        old_rss = sorted(old_rss, key=du.by_creation)
        dropped = 0
        for i, rs in enumerate(old_rss):
            if dropped >= most:
                break
            unhealthy = du.replicas(rs) - du.status_count(rs, "availableReplicas")
            if du.replicas(rs) == 0 or unhealthy == 0:
                continue
            count = min(most - dropped, unhealthy)
            if count < 0:  # a status not yet caught up with a scale-down counts more pods than asked for
                meta = rs["metadata"]
                raise RuntimeError(f"when cleaning up unhealthy replicas, got invalid request to scale down "
                                   f"{meta['namespace']}/{meta['name']} {du.replicas(rs)} -> {du.replicas(rs) - count}")
            _, old_rss[i] = await self._scale_to(rs, du.replicas(rs) - count, d)
            dropped += count
        return old_rss, dropped

    async def _scale_down_old(self, d: dict, all_rss: list[dict], old_rss: list[dict]) -> int:
        min_available = du.replicas(d) - du.max_unavailable(d)
        available = du.total(all_rss, "availableReplicas")
        if available <= min_available:
            return 0
        goal, done = available - min_available, 0
        for rs in sorted(old_rss, key=du.by_creation):
            if done >= goal:
                break
            if du.replicas(rs) == 0:
                continue
            count = min(du.replicas(rs), goal - done)
            await self._scale_to(rs, du.replicas(rs) - count, d)
            done += count
        return done

    async def _rollout_recreate(self, d: dict, rss: list[dict]) -> None:
        new_rs, old_rss = await self._new_and_old(d, rss, create=False)
        all_rss = [*old_rss, new_rs]
        scaled = False
        for rs in du.active(old_rss):
            scaled = (await self._scale_to(rs, 0, d))[0] or scaled
        if scaled or self._old_pods_running(new_rs, old_rss):
            await self._sync_rollout_status(d, all_rss, new_rs)
            return
        if new_rs is None:
            new_rs, old_rss = await self._new_and_old(d, rss, create=True)
            assert new_rs is not None
            all_rss = [*old_rss, new_rs]
        await self._scale_to(new_rs, du.replicas(d), d)
        if du.complete(d, d["status"]):
            await self._cleanup(d, old_rss)
        await self._sync_rollout_status(d, all_rss, new_rs)

    def _old_pods_running(self, new_rs: dict | None, old_rss: list[dict]) -> bool:
        if du.total(old_rss, "replicas") > 0:
            return True
        return any(not is_terminal(pod) for rs in old_rss if rs is not new_rs
                   for pod in self.pods.store.by_index(CONTROLLER_INDEX, rs["metadata"]["uid"]))

    # status

    async def _sync_status(self, d: dict, all_rss: list[dict | None], new_rs: dict | None) -> None:
        status = du.calculate_status(all_rss, new_rs, d, datetime.now(UTC))
        if du.wire_status(status) != du.wire_status(d["status"]):
            d["status"] = status
            await self._write_status(d)

    async def _sync_rollout_status(self, d: dict, all_rss: list[dict | None], new_rs: dict | None) -> None:
        """Status, with Progressing saying whether the rollout completed, moved, or passed its deadline."""
        now = datetime.now(UTC)
        status = du.calculate_status(all_rss, new_rs, d, now)
        if not du.has_progress_deadline(d):
            du.remove_condition(status, du.PROGRESSING)
        current = du.condition(d["status"], du.PROGRESSING)
        done = (status.get("replicas", 0) == status.get("updatedReplicas", 0) and current is not None
                and current.get("reason") == du.NEW_RS_AVAILABLE)
        subject = f'ReplicaSet "{new_rs["metadata"]["name"]}"' if new_rs else f'Deployment "{d["metadata"]["name"]}"'
        if du.has_progress_deadline(d) and not done:
            if du.complete(d, status):
                du.set_condition(status, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_AVAILABLE,
                                                          f"{subject} has successfully progressed.", now))
            elif du.progressing(d, status):
                cond = du.new_condition(du.PROGRESSING, "True", du.REPLICA_SET_UPDATED, f"{subject} is progressing.", now)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    du.remove_condition(status, du.PROGRESSING)
                du.set_condition(status, cond)
            elif du.timed_out(d, status, now):
                du.set_condition(status, du.new_condition(du.PROGRESSING, "False", du.TIMED_OUT,
                                                          f"{subject} has timed out progressing.", now))
        failure = _replica_failure(all_rss, new_rs)
        if failure is not None:
            du.set_condition(status, failure)
        else:
            du.remove_condition(status, du.REPLICA_FAILURE)
        if du.wire_status(status) == du.wire_status(d["status"]):
            self._requeue_for_deadline(d, status, now)
            return
        d["status"] = status
        await self._write_status(d)

    def _requeue_for_deadline(self, d: dict, status: dict, now: datetime) -> None:
        """Look again when the progress deadline passes, if nothing else happens before."""
        current = du.condition(d["status"], du.PROGRESSING)
        if not du.has_progress_deadline(d) or current is None:
            return
        if du.complete(d, status) or current.get("reason") == du.TIMED_OUT:
            return
        since = parse_time(current.get("lastUpdateTime"))
        if since is None:
            return
        after = since + timedelta(seconds=d["spec"]["progressDeadlineSeconds"]) - now
        if after < timedelta(seconds=1):
            self.queue.add_rate_limited(object_key(d))
        else:
            self.queue.add_after(object_key(d), after.total_seconds() + 1)


def _replica_failure(all_rss: list[dict | None], new_rs: dict | None) -> dict | None:
    """The first ReplicaFailure of the new set, else of any set, as a Deployment condition."""
    for rs in [new_rs, *all_rss]:
        for c in ((rs or {}).get("status") or {}).get("conditions") or ():
            if c.get("type") == du.REPLICA_FAILURE:
                return {"type": du.REPLICA_FAILURE, "status": c.get("status"), "reason": c.get("reason"),
                        "message": c.get("message"), "lastUpdateTime": c.get("lastTransitionTime"),
                        "lastTransitionTime": c.get("lastTransitionTime")}
    return None
