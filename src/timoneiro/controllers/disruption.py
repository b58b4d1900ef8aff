"""The disruption controller: keeps each PodDisruptionBudget's status, which the eviction API spends.

currentHealthy counts the selected pods that are ready and not being deleted (nor evicted in the last two
minutes); desiredHealthy comes from minAvailable or maxUnavailable, percentages of expectedPods, which is
the sum of the selected pods' controllers' scales (read through their scale subresource, a Deployment's for
the ReplicaSets it controls). disruptionsAllowed is the difference, never below zero, and zero while no pod
is expected. When the status cannot be worked out the budget allows no disruption (fail safe).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from timoneiro.api import selectors
from timoneiro.api.printers.age import parse_time
from timoneiro.client import ApiError
from timoneiro.client.resources import PDBS, PODS
from timoneiro.controllers.base import Controller
from timoneiro.controllers.clock import rfc3339
from timoneiro.controllers.controller_ref import controller_of
from timoneiro.controllers.deployment_util import scaled_value
from timoneiro.controllers.events import EventRecorder
from timoneiro.controllers.pods import is_ready

log = logging.getLogger("timoneiro.controllers.disruption")
ALLOWED = "DisruptionAllowed"
DELETION_TIMEOUT = timedelta(minutes=2)  # an evicted pod not deleted by then counts again


class NoController(Exception):
    """A selected pod's controller cannot be found or has no scale."""


def selected(pdb: dict, pods: list[dict]) -> list[dict]:
    """The pods a budget covers: a missing selector covers none, an empty one all in its namespace."""
    sel = selectors.from_label_selector((pdb.get("spec") or {}).get("selector"))
    return [p for p in pods if selectors.matches(sel, p["metadata"].get("labels") or {})]


def still_disrupted(pdb: dict, pods: list[dict], now: datetime) -> tuple[dict[str, str], datetime | None]:
    """The status's disruptedPods pruned of pods deleted, gone, or evicted too long ago; and when the
    earliest of the rest expires."""
    recorded = (pdb.get("status") or {}).get("disruptedPods") or {}
    kept: dict[str, str] = {}
    recheck = None
    for pod in pods:
        name = pod["metadata"]["name"]
        at = parse_time(recorded.get(name))
        if pod["metadata"].get("deletionTimestamp") or at is None:
            continue
        expires = at + DELETION_TIMEOUT
        if expires < now:
            log.info("pod %s was expected to be deleted after its eviction but it was not", name)
            continue
        kept[name] = recorded[name]
        recheck = expires if recheck is None else min(recheck, expires)
    return kept, recheck


def count_healthy(pods: list[dict], disrupted: dict[str, str]) -> int:
    return sum(1 for p in pods if not p["metadata"].get("deletionTimestamp")
               and p["metadata"]["name"] not in disrupted and is_ready(p))


def set_condition(conditions: list[dict], new: dict, now: str) -> list[dict]:
    """metav1 SetStatusCondition: the condition of that type replaced, its transition time kept unless the
    status changed."""
    old = next((c for c in conditions if c.get("type") == new["type"]), None)
    since = old.get("lastTransitionTime") if old is not None and old.get("status") == new["status"] else now
    return [c for c in conditions if c.get("type") != new["type"]] + [{**new, "lastTransitionTime": since}]


def allowed_condition(allowed: int, generation: int) -> dict:
    if allowed > 0:
        return {"type": ALLOWED, "status": "True", "reason": "SufficientPods", "message": "",
                "observedGeneration": generation}
    return {"type": ALLOWED, "status": "False", "reason": "InsufficientPods", "message": "",
            "observedGeneration": generation}


def conditions_up_to_date(pdb: dict) -> bool:
    status = pdb.get("status") or {}
    cond = next((c for c in status.get("conditions") or () if c.get("type") == ALLOWED), None)
    if cond is None or status.get("observedGeneration") != pdb["metadata"].get("generation"):
        return False
    if (status.get("disruptionsAllowed") or 0) > 0:
        return (cond.get("status"), cond.get("reason")) == ("True", "SufficientPods")
    return cond.get("status") == "False" and cond.get("reason") in ("InsufficientPods", "SyncFailed")


class DisruptionController(Controller):
    name = "disruption"
    service_account = "disruption-controller"
    workers = 3

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.pdbs = self.follow(informers.informer(PDBS))
        self.pods = informers.informer(PODS)
        self.pods.add_handler(on_add=self.pod_changed, on_delete=self.pod_changed,
                              on_update=lambda old, new: (self.pod_changed(old), self.pod_changed(new)))
        self.events = EventRecorder(client, "controllermanager")

    def pod_changed(self, pod: dict) -> None:
        for pdb in self.pdbs.store.by_index("namespace", pod["metadata"].get("namespace", "")):
            if selected(pdb, [pod]):
                self.enqueue(pdb)

    async def sync(self, key: str) -> None:
        pdb = self.pdbs.store.get(key)
        if pdb is None:
            return
        try:
            await self.try_sync(key, pdb)
        except Exception as e:
            if isinstance(e, ApiError) and e.code == 409:
                raise  # a newer budget: sync again, no need to fail safe
            log.warning("PodDisruptionBudget %s: %s", key, e)
            await self.fail_safe(pdb, str(e))

    async def try_sync(self, key: str, pdb: dict) -> None:
        pods = selected(pdb, self.pods.store.by_index("namespace", pdb["metadata"]["namespace"]))
        if not pods:
            self.events.normal(self.ref(pdb), "NoPods", "No matching pods found")
        expected, desired, unmanaged = await self.expected_and_desired(pdb, pods)
        if unmanaged:
            self.events.warning(self.ref(pdb), "UnmanagedPods", "Pods selected by this PodDisruptionBudget were found "
                                "to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, "
                                "which may result in undefined behavior. To account for these pods please set "
                                '".spec.minAvailable" field of the PDB to an integer value.')
        now = datetime.now(UTC)
        disrupted, recheck = still_disrupted(pdb, pods, now)
        await self.write_status(pdb, count_healthy(pods, disrupted), desired, expected, disrupted)
        if recheck is not None:
            self.queue.add_after(key, (recheck - now).total_seconds())

    async def expected_and_desired(self, pdb: dict, pods: list[dict]) -> tuple[int, int, list[str]]:
        """(expectedPods, desiredHealthy, names of selected pods with no controller)."""
        spec = pdb.get("spec") or {}
        if spec.get("maxUnavailable") is not None:
            expected, unmanaged = await self.expected_scale(pods)
            return expected, max(0, expected - scaled_value(spec["maxUnavailable"], expected, True)), unmanaged
        min_available = spec.get("minAvailable")
        if isinstance(min_available, int):
            return len(pods), min_available, []
        if min_available is not None:
            expected, unmanaged = await self.expected_scale(pods)
            return expected, scaled_value(min_available, expected, True), unmanaged
        return 0, 0, []

    async def expected_scale(self, pods: list[dict]) -> tuple[int, list[str]]:
        """The summed scale of the pods' controllers, each counted once."""
        scales: dict[str, int] = {}
        seen: set[str] = set()
        unmanaged = []
        for pod in pods:
            ref = controller_of(pod)
            if ref is None:
                unmanaged.append(pod["metadata"]["name"])
                continue
            if ref.get("uid") in seen:
                continue
            seen.add(ref.get("uid"))
            found = await self.controller_scale(ref, pod["metadata"]["namespace"])
            if found is None:
                raise NoController(f'found no controllers for pod "{pod["metadata"]["name"]}"')
            uid, replicas = found
            scales[uid] = replicas
        return sum(scales.values()), unmanaged

    async def controller_scale(self, ref: dict, namespace: str) -> tuple[str, int] | None:
        """(uid, spec.replicas) of the controller a reference names; a ReplicaSet that a Deployment controls
        stands for that Deployment."""
        if ref.get("kind") == "ReplicaSet" and ref.get("apiVersion", "").startswith("apps/"):
            rs = await self.read(ref, namespace)
            if rs is None:
                return None
            owner = controller_of(rs)
            if owner is not None and owner.get("kind") == "Deployment" and \
                    owner.get("apiVersion", "").startswith("apps/"):
                return await self.scale(owner, namespace)
        return await self.scale(ref, namespace)

    async def read(self, ref: dict, namespace: str, subresource: str | None = None) -> dict | None:
        """The object (or its subresource) a reference names, if it is still that object."""
        try:
            resource = await self.client.discovery.resource_for(ref.get("apiVersion", ""), ref.get("kind", ""))
            obj = await self.client.get(resource, ref.get("name", ""), namespace, subresource=subresource)
        except ApiError as e:
            if e.code in (404, 405):
                return None
            raise
        return obj if obj["metadata"].get("uid") == ref.get("uid") else None

    async def scale(self, ref: dict, namespace: str) -> tuple[str, int] | None:
        scale = await self.read(ref, namespace, "scale")
        return None if scale is None else (ref["uid"], (scale.get("spec") or {}).get("replicas") or 0)

    async def write_status(self, pdb: dict, healthy: int, desired: int, expected: int,
                           disrupted: dict[str, str]) -> None:
        allowed = healthy - desired if expected > 0 and healthy > desired else 0
        status = pdb.get("status") or {}
        generation = pdb["metadata"].get("generation")
        if (status.get("currentHealthy"), status.get("desiredHealthy"), status.get("expectedPods"),
                status.get("disruptionsAllowed"), status.get("disruptedPods") or {},
                status.get("observedGeneration")) == (healthy, desired, expected, allowed, disrupted, generation) \
                and conditions_up_to_date(pdb):
            return
        new = {"currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
               "disruptionsAllowed": allowed, "observedGeneration": generation,
               "conditions": set_condition(status.get("conditions") or [], allowed_condition(allowed, generation),
                                           rfc3339(datetime.now(UTC)))}
        if disrupted:
            new["disruptedPods"] = disrupted
        await self.client.update_status(PDBS, {**pdb, "status": new})

    async def fail_safe(self, pdb: dict, message: str) -> None:
        """Whatever went wrong, the budget allows no disruption until a sync succeeds."""
        status = dict(pdb.get("status") or {})
        status["disruptionsAllowed"] = 0
        cond = {"type": ALLOWED, "status": "False", "reason": "SyncFailed", "message": message,
                "observedGeneration": status.get("observedGeneration") or 0}
        status["conditions"] = set_condition(status.get("conditions") or [], cond, rfc3339(datetime.now(UTC)))
        await self.client.update_status(PDBS, {**pdb, "status": status})

    @staticmethod
    def ref(pdb: dict) -> dict:
        m = pdb["metadata"]
        return {"kind": "PodDisruptionBudget", "apiVersion": "policy/v1", "namespace": m["namespace"],
                "name": m["name"], "uid": m.get("uid")}
