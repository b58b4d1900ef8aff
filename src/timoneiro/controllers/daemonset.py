"""The DaemonSet controller: one pod on every node that should run one, rolled to new templates.

Each pod is created pinned to its node by a node affinity on metadata.name (the scheduler binds it), with
the tolerations every daemon pod gets. The template in force is saved as a ControllerRevision whose hash
labels the pods it made; a RollingUpdate replaces old pods within maxUnavailable, or first starts new ones
alongside within maxSurge.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from datetime import UTC, datetime

from timoneiro.client import ApiError
from timoneiro.client.resources import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS
from timoneiro.client.store import object_key
from timoneiro.controllers import daemon_pods as dp
from timoneiro.controllers import history as hist
from timoneiro.controllers.base import Controller
from timoneiro.controllers.controller_ref import (
    RefManager,
    controller_of,
    controller_ref,
    object_reference,
    resolve,
    selecting,
)
from timoneiro.controllers.deployment_util import scaled_value
from timoneiro.controllers.events import EventRecorder
from timoneiro.controllers.expectations import Expectations
from timoneiro.controllers.history import HASH_LABEL, History
from timoneiro.controllers.pod_control import PodControl
from timoneiro.controllers.pods import from_template, is_available, is_deleted, is_ready, is_terminal, phase
from timoneiro.controllers.replicaset import slow_start
from timoneiro.controllers.template_hash import compute_hash

log = logging.getLogger("timoneiro.controllers.daemonset")

API_VERSION, KIND = "apps/v1", "DaemonSet"
BURST_REPLICAS = 250  # creates or deletes per sync
FAILED_POD_BACKOFF = (1.0, 900.0)  # seconds: before deleting a node's failed pod again, doubling to the cap


class _Backoff:
    """Per key: a delay that doubles on each use within its window (client-go's flowcontrol.Backoff)."""

    def __init__(self, initial: float, cap: float) -> None:
        self.initial, self.cap = initial, cap
        self._entries: dict[str, tuple[float, float]] = {}  # key -> (delay, last use)

    def waiting(self, key: str, now: float) -> float:
        """Seconds left of the key's delay since its last use (0: not in back-off)."""
        delay, last = self._entries.get(key, (0.0, 0.0))
        return max(0.0, delay - (now - last)) if key in self._entries else 0.0

    def next(self, key: str, now: float) -> None:
        delay, last = self._entries.get(key, (0.0, 0.0))
        fresh = key not in self._entries or now - last > 2 * self.cap
        self._entries[key] = (self.initial if fresh else min(2 * delay, self.cap), now)


class DaemonSetController(Controller):
    name = "daemonset"
    service_account = "daemon-set-controller"
    workers = 2

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.events = EventRecorder(client, "daemonset-controller")
        self.pod_control = PodControl(client, self.events)
        self.expectations = Expectations()
        self.history = History(client)
        self.failed_pods = _Backoff(*FAILED_POD_BACKOFF)
        self.daemonsets = self.follow(informers.informer(DAEMONSETS))
        self.pods = informers.informer(PODS)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.nodes = informers.informer(NODES)
        self.nodes.add_handler(on_add=self._node_added, on_update=self._node_updated, on_delete=self._node_deleted)
        self.revisions = informers.informer(CONTROLLERREVISIONS)
        self.revisions.add_handler(on_add=self._owner_changed, on_update=lambda _o, new: self._owner_changed(new),
                                   on_delete=self._owner_changed)

    # event handlers

    def _daemonset_of(self, obj: dict) -> dict | None:
        return resolve(self.daemonsets.store, obj["metadata"].get("namespace"), controller_of(obj), KIND)

    def _owner_changed(self, obj: dict) -> None:
        ds = self._daemonset_of(obj)
        if ds is not None:
            self.enqueue(ds)

    def _pod_added(self, pod: dict) -> None:
        if is_deleted(pod):
            self._pod_deleted(pod)
            return
        ds = self._daemonset_of(pod)
        if ds is not None:
            self.expectations.creation_observed(object_key(ds))
            self.enqueue(ds)
        elif controller_of(pod) is None:
            for ds in selecting(self.daemonsets.store, pod):
                self.enqueue(ds)

    def _pod_updated(self, old: dict, new: dict) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        if controller_of(old) != controller_of(new):
            self._owner_changed(old)
        ds = self._daemonset_of(new)
        if ds is not None:
            self.enqueue(ds)
        elif controller_of(new) is None and old["metadata"].get("labels") != new["metadata"].get("labels"):
            for ds in selecting(self.daemonsets.store, new):
                self.enqueue(ds)

    def _pod_deleted(self, pod: dict) -> None:
        ds = self._daemonset_of(pod)
        if ds is not None:
            self.expectations.deletion_observed(object_key(ds))
            self.enqueue(ds)

    def _node_added(self, node: dict) -> None:
        for ds in self.daemonsets.store.list():
            if dp.should_run(node, ds)[0]:
                self.enqueue(ds)

    def _node_deleted(self, node: dict) -> None:
        """Pods pinned to a node that is gone would never be scheduled: sync now rather than later."""
        for ds in self.daemonsets.store.list():
            self.enqueue(ds)

    def _node_updated(self, old: dict, new: dict) -> None:
        def relevant(node: dict) -> tuple:
            return (node["metadata"].get("labels"), node.get("spec"),
                    [(c.get("type"), c.get("status")) for c in (node.get("status") or {}).get("conditions") or ()])
        if relevant(old) == relevant(new):
            return
        for ds in self.daemonsets.store.list():
            if dp.should_run(old, ds) != dp.should_run(new, ds):
                self.enqueue(ds)

    # sync

    async def sync(self, key: str) -> None:
        ds = self.daemonsets.store.get(key)
        if ds is None:
            self.expectations.forget(key)
            return
        if ds["spec"].get("selector") == {}:
            self.events.warning(self._ref(ds), "SelectingAll",
                                "This daemon set is selecting all pods. A non-empty selector is required.")
            return
        if is_deleted(ds):
            return  # its revisions may be going: status would be a guess
        nodes = self.nodes.store.list()
        current, old = await self._construct_history(ds)
        hash_ = current["metadata"].get("labels", {}).get(HASH_LABEL, "")
        if not self.expectations.satisfied(key):
            await self._update_status(ds, nodes, hash_, observed=False)
            return
        error: Exception | None = None
        try:
            await self._manage(ds, nodes, hash_)
            if self.expectations.satisfied(key) and self._strategy(ds) == "RollingUpdate":
                await self._rolling_update(ds, nodes, hash_)
            await self._clean_up_history(ds, old)
        except Exception as e:
            error = e
        try:
            await self._update_status(ds, nodes, hash_, observed=True)
        except Exception:
            if error is None:
                raise
        if error is not None:
            raise error

    def _ref(self, ds: dict) -> dict:
        return object_reference(ds, API_VERSION, KIND)

    @staticmethod
    def _strategy(ds: dict) -> str:
        return (ds["spec"].get("updateStrategy") or {}).get("type") or "RollingUpdate"

    async def _claim_pods(self, ds: dict) -> list[dict]:
        manager = RefManager.by_selector(self.client, PODS, ds, DAEMONSETS, API_VERSION, KIND)
        return await manager.claim(self.pods.store.by_index("namespace", ds["metadata"]["namespace"]))

    async def _pods_by_node(self, ds: dict, with_deleted_terminal: bool = False) -> dict[str, list[dict]]:
        by_node: dict[str, list[dict]] = {}
        for pod in await self._claim_pods(ds):
            if not with_deleted_terminal and is_terminal(pod) and is_deleted(pod):
                continue
            node = dp.target_node(pod)
            if node is not None:
                by_node.setdefault(node, []).append(pod)
        return by_node

    async def _manage(self, ds: dict, nodes: list[dict], hash_: str) -> None:
        """Create the pods nodes are missing, delete those on nodes that should not run them, and failed,
        finished or surplus ones."""
        by_node = await self._pods_by_node(ds)
        create: list[str] = []
        delete: list[dict] = []
        for node in nodes:
            new_nodes, doomed = self._pods_for_node(node, by_node, ds, hash_)
            create += new_nodes
            delete += doomed
        names = {n["metadata"]["name"] for n in nodes}
        for node_name, pods in by_node.items():
            if node_name not in names:  # never to be scheduled: nothing else would delete them
                delete += [p for p in pods if not (p.get("spec") or {}).get("nodeName")]
        await self._sync_nodes(ds, delete, create, hash_)

    def _pods_for_node(self, node: dict, by_node: dict[str, list[dict]], ds: dict, hash_: str
                       ) -> tuple[list[str], list[dict]]:
        """(the node, if it needs a pod; the pods to delete on it)."""
        name = node["metadata"]["name"]
        run, keep = dp.should_run(node, ds)
        pods = by_node.get(name)
        if run and pods is None:
            return [name], []
        if not keep:
            return [], [p for p in pods or () if not is_deleted(p)]
        doomed, running = [], []
        for pod in pods or ():
            if is_deleted(pod):
                continue
            if phase(pod) == "Failed":
                backoff_key = f"{ds['metadata']['uid']}/{name}"
                now = time.monotonic()
                wait = self.failed_pods.waiting(backoff_key, now)
                if wait > 0:
                    self.queue.add_after(object_key(ds), wait)
                    continue
                self.failed_pods.next(backoff_key, now)
                self.events.warning(self._ref(ds), "FailedDaemonPod", f"Found failed daemon pod "
                                    f"{pod['metadata']['namespace']}/{pod['metadata']['name']} on node {name}, will try to kill it")
                doomed.append(pod)
            elif phase(pod) == "Succeeded":
                self.events.normal(self._ref(ds), "SucceededDaemonPod", f"Found succeeded daemon pod "
                                   f"{pod['metadata']['namespace']}/{pod['metadata']['name']} on node {name}, will try to delete it")
                doomed.append(pod)
            else:
                running.append(pod)
        running.sort(key=dp.oldest_first)
        if not self._surge_allowed(ds):
            return [], doomed + running[1:]  # keep the oldest
        if len(running) <= 1:
            return ([name] if not running and run else []), doomed
        # surging: keep the oldest new pod and, while it is not available yet, the oldest ready old pod
        oldest_new = next((p for p in running if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == hash_), None)
        oldest_old = next((p for p in running if (p["metadata"].get("labels") or {}).get(HASH_LABEL) != hash_), None)
        doomed += [p for p in running if p is not oldest_new and p is not oldest_old]
        if oldest_new is not None and oldest_old is not None and (
                not is_ready(oldest_old) or is_available(oldest_new, self._min_ready(ds), datetime.now(UTC))):
            doomed.append(oldest_old)
        return [], doomed

    @staticmethod
    def _min_ready(ds: dict) -> int:
        return ds["spec"].get("minReadySeconds") or 0

    def _rolling(self, ds: dict) -> dict:
        return (ds["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}

    def _surge_allowed(self, ds: dict) -> bool:
        return self._max_surge(ds, 1) > 0

    def _max_surge(self, ds: dict, desired: int) -> int:
        if self._strategy(ds) != "RollingUpdate" or self._rolling(ds).get("maxSurge") is None:
            return 0
        return scaled_value(self._rolling(ds)["maxSurge"], desired, True)

    def _max_unavailable(self, ds: dict, desired: int) -> int:
        if self._strategy(ds) != "RollingUpdate" or self._rolling(ds).get("maxUnavailable") is None:
            return 0
        return scaled_value(self._rolling(ds)["maxUnavailable"], desired, True)

    async def _sync_nodes(self, ds: dict, delete: list[dict], create: list[str], hash_: str) -> None:
        """Create pods pinned to the nodes (in slow-start batches) and delete the pods."""
        key = object_key(ds)
        create, delete = create[:BURST_REPLICAS], delete[:BURST_REPLICAS]
        self.expectations.expect(key, adds=len(create), deletes=len(delete))
        template = dp.pod_template(ds, hash_)
        queued = iter(create)
        created, error = await slow_start(len(create), lambda: self._create_pod(ds, template, next(queued)))
        self.expectations.lower(key, adds=len(create) - created)  # failed or skipped: never to be seen
        results = await asyncio.gather(*(self._delete_pod(ds, p) for p in delete), return_exceptions=True)
        error = error or next((r for r in results if isinstance(r, Exception)), None)
        if error is not None:
            raise error

    async def _create_pod(self, ds: dict, template: dict, node_name: str) -> None:
        template = copy.deepcopy(template)
        dp.pin_to_node(template["spec"], node_name)
        pod = from_template(template, ds["metadata"]["name"], controller_ref(ds, API_VERSION, KIND))
        await self.pod_control.create(self._ref(ds), pod, ds["metadata"]["namespace"])

    async def _delete_pod(self, ds: dict, pod: dict) -> None:
        deleted = False
        try:
            deleted = await self.pod_control.delete(self._ref(ds), ds["metadata"]["namespace"], pod["metadata"]["name"])
        finally:
            if not deleted:
                self.expectations.deletion_observed(object_key(ds))  # a deletion no watch event will show

    # rolling update

    async def _rolling_update(self, ds: dict, nodes: list[dict], hash_: str) -> None:
        """Delete old pods (or start new ones next to them, when surging) as far as the limits allow."""
        by_node = await self._pods_by_node(ds)
        desired = 0
        for node in nodes:
            if dp.should_run(node, ds)[0]:
                desired += 1
                by_node.setdefault(node["metadata"]["name"], [])
        surge, unavailable = self._max_surge(ds, desired), self._max_unavailable(ds, desired)
        if desired > 0 and surge == 0 and unavailable == 0:
            unavailable = 1
        now = datetime.now(UTC)
        generation = dp.template_generation(ds)

        def available(pod: dict) -> bool:
            return is_available(pod, self._min_ready(ds), now)

        if surge == 0:
            delete = self._replacements_within_unavailable(ds, by_node, hash_, generation, unavailable, available)
            await self._sync_nodes(ds, delete, [], hash_)
            return
        nodes_by_name = {n["metadata"]["name"]: n for n in nodes}
        delete, not_fitting, candidates, allowed = [], [], [], []
        surging = available_count = 0
        for node_name, pods in by_node.items():
            found = _new_and_old(pods, hash_, generation)
            if found is None:
                surging += 1
                continue
            new, old = found
            if (old or new) is not None and available(old or new):
                available_count += 1
            if old is None:
                continue
            if new is not None:
                if not available(new):
                    surging += 1
                else:
                    delete.append(old)
                continue
            node = nodes_by_name.get(node_name)
            fits = node is not None and dp.should_run(node, ds)[0]
            if not available(old):
                if not fits:
                    delete.append(old)
                else:
                    allowed.append(node_name)
            elif not fits:
                not_fitting.append(old)
            elif surging < surge:
                candidates.append(node_name)
        # a pod on a node that no longer fits goes only once enough pods elsewhere are available
        delete += not_fitting[:max(0, min(available_count - desired, len(not_fitting)))]
        room = max(0, min(surge - surging, len(candidates)))
        await self._sync_nodes(ds, delete, allowed + candidates[:room], hash_)

    @staticmethod
    def _replacements_within_unavailable(ds: dict, by_node: dict[str, list[dict]], hash_: str,
                                         generation: str | None, unavailable: int, available) -> list[dict]:
        """Old pods to delete so that the manage step recreates them, keeping within maxUnavailable."""
        down = 0
        replace, candidates = [], []
        for pods in by_node.values():
            found = _new_and_old(pods, hash_, generation)
            if found is None:
                down += 1
                continue
            new, old = found
            if (old is None) == (new is None):
                down += 1
            elif new is not None:
                down += not available(new)
            elif not available(old):
                replace.append(old)
                down += 1
            elif down < unavailable:
                candidates.append(old)
        return replace + candidates[:max(0, min(unavailable - down, len(candidates)))]

    # history

    async def _construct_history(self, ds: dict) -> tuple[dict, list[dict]]:
        """The revision of the current template (made if missing, renumbered if older ones are newer) and
        the other revisions."""
        manager = RefManager.by_selector(self.client, CONTROLLERREVISIONS, ds, DAEMONSETS, API_VERSION, KIND)
        revisions = await manager.claim(self.revisions.store.by_index("namespace", ds["metadata"]["namespace"]))
        data = hist.template_patch(ds)
        current, old = [], []
        for revision in revisions:
            (current if hist.go_json(revision.get("data")) == hist.go_json(data) else old).append(revision)
        number = hist.next_revision(old)
        if not current:
            return await self._snapshot(ds, data, number), old
        keep = max(current, key=lambda r: r.get("revision", 0))
        for duplicate in current:
            if duplicate is not keep:
                await self.history.delete(duplicate)
        if keep.get("revision", 0) < number:
            keep = await self.history.set_revision(keep, number)
        return keep, old

    async def _snapshot(self, ds: dict, data: dict, number: int) -> dict:
        """Save the template as a revision named by its pod-template hash, bumping the DaemonSet's
        collisionCount if another template holds that name."""
        collisions = (ds.get("status") or {}).get("collisionCount")
        hash_ = compute_hash(ds["spec"]["template"], collisions)
        meta = ds["metadata"]
        revision = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                    "metadata": {"name": f"{meta['name']}-{hash_}", "namespace": meta["namespace"],
                                 "labels": {**(ds["spec"]["template"].get("metadata", {}).get("labels") or {}),
                                            HASH_LABEL: hash_},
                                 "ownerReferences": [controller_ref(ds, API_VERSION, KIND)]},
                    "data": data, "revision": number}
        if meta.get("annotations"):
            revision["metadata"]["annotations"] = dict(meta["annotations"])
        try:
            return await self.client.create(CONTROLLERREVISIONS, revision, meta["namespace"])
        except ApiError as e:
            if e.code != 409:
                raise
            existing = await self.client.get(CONTROLLERREVISIONS, revision["metadata"]["name"], meta["namespace"])
            if hist.same_data(existing, revision):
                return existing
            fresh = await self.client.get(DAEMONSETS, meta["name"], meta["namespace"])
            if (fresh.get("status") or {}).get("collisionCount") != collisions:
                raise RuntimeError(f"found a stale collision count of DaemonSet {meta['name']}; will retry") from e
            fresh.setdefault("status", {})["collisionCount"] = (collisions or 0) + 1
            await self.client.update_status(DAEMONSETS, fresh)
            raise

    async def _clean_up_history(self, ds: dict, old: list[dict]) -> None:
        """Delete the oldest revisions beyond revisionHistoryLimit that no pod runs."""
        excess = len(old) - ds["spec"].get("revisionHistoryLimit", 10)
        if excess <= 0:
            return
        live = {(p["metadata"].get("labels") or {}).get(HASH_LABEL)
                for pods in (await self._pods_by_node(ds, with_deleted_terminal=True)).values() for p in pods}
        for revision in hist.by_revision(old):
            if excess <= 0:
                break
            if (revision["metadata"].get("labels") or {}).get(HASH_LABEL) in live:
                continue
            await self.history.delete(revision)
            excess -= 1

    # status

    async def _update_status(self, ds: dict, nodes: list[dict], hash_: str, observed: bool) -> None:
        by_node = await self._pods_by_node(ds)
        now = datetime.now(UTC)
        min_ready = self._min_ready(ds)
        generation = dp.template_generation(ds)
        counts = dict.fromkeys(("desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled",
                                "numberReady", "updatedNumberScheduled", "numberAvailable"), 0)
        for node in nodes:
            pods = by_node.get(node["metadata"]["name"])
            if not dp.should_run(node, ds)[0]:
                counts["numberMisscheduled"] += bool(pods)
                continue
            counts["desiredNumberScheduled"] += 1
            if not pods:
                continue
            counts["currentNumberScheduled"] += 1
            pod = min(pods, key=dp.oldest_first)
            if is_ready(pod):
                counts["numberReady"] += 1
                counts["numberAvailable"] += is_available(pod, min_ready, now)
            counts["updatedNumberScheduled"] += dp.is_updated(pod, hash_, generation)
        counts["numberUnavailable"] = counts["desiredNumberScheduled"] - counts["numberAvailable"]
        status = ds.get("status") or {}
        generation_seen = ds["metadata"].get("generation", 0)
        if all(status.get(k, 0) == v for k, v in counts.items()) and \
                status.get("observedGeneration", 0) >= generation_seen:
            return
        for attempt in range(2):
            fresh = copy.deepcopy(ds) if attempt == 0 else await self.client.get(
                DAEMONSETS, ds["metadata"]["name"], ds["metadata"]["namespace"])
            new_status = {**(fresh.get("status") or {}), **counts}
            if observed:
                new_status["observedGeneration"] = generation_seen
            for optional in ("updatedNumberScheduled", "numberAvailable", "numberUnavailable", "observedGeneration"):
                if not new_status.get(optional):
                    new_status.pop(optional, None)
            try:
                await self.client.update_status(DAEMONSETS, {**fresh, "status": new_status})
                break
            except ApiError as e:
                if e.code != 409 or attempt == 1:
                    raise
        if min_ready and counts["numberReady"] != counts["numberAvailable"]:
            self.queue.add_after(object_key(ds), min_ready)


def _new_and_old(pods: list[dict], hash_: str, generation: str | None) -> tuple[dict | None, dict | None] | None:
    """The node's (new pod, old pod) not being deleted, or None if it has more than one of either."""
    new = old = None
    for pod in pods:
        if is_deleted(pod):
            continue
        if dp.is_updated(pod, hash_, generation):
            if new is not None:
                return None
            new = pod
        elif old is not None:
            return None
        else:
            old = pod
    return new, old
