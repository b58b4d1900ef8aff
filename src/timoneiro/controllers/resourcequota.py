"""The resource quota controller: keeps each ResourceQuota's status current. status.hard follows
spec.hard, and status.used is counted afresh from the namespace's objects (with the same per-object usage
the ResourceQuota admission plugin charges): when a quota is added or its limits change, when counted
objects go away or stop using quota (deleted, finished pods, services changing type, claims resized),
and for every quota each full resync period, which also corrects anything admission charged for writes
that then failed."""

from __future__ import annotations

import asyncio
import copy

from timoneiro.apiserver.quota.evaluators import (
    Evaluator,
    allocation_changed,
    calculate_usage,
    charged,
    evaluators_for,
    quota_service_type,
)
from timoneiro.apiserver.quota.resources import equals, mask, parse_list, to_json
from timoneiro.client import ApiError, Resource
from timoneiro.client.informer import Informer
from timoneiro.client.store import NAMESPACE_INDEX
from timoneiro.controllers.base import Controller
from timoneiro.controllers.served_resources import served_resources

RESOURCEQUOTAS = Resource("", "v1", "resourcequotas")

# updates of counted objects that give quota back (the rest of a change is charged by admission)
_RELEASES = {
    ("", "pods"): lambda old, new: charged(old) and not charged(new),
    ("", "services"): lambda old, new: quota_service_type(old) != quota_service_type(new),
    ("", "persistentvolumeclaims"): lambda old, new: allocation_changed(new, old),
}


def _hard(quota: dict) -> dict:
    return (quota.get("spec") or {}).get("hard") or {}


class ResourceQuotaController(Controller):
    name = "resourcequota"
    service_account = "resourcequota-controller"
    workers = 5
    resync_period = 300.0  # seconds between recounts of every quota (--resource-quota-sync-period)

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.quotas = informers.informer(RESOURCEQUOTAS)
        self.quotas.add_handler(on_add=self.enqueue, on_update=self._quota_updated)
        # informers of the counted resources, started as quotas come to count them
        self.monitors: dict[tuple[str, str], Informer] = {}
        self._resources: dict[tuple[str, str], Resource] = {}

    def _quota_updated(self, old: dict, new: dict) -> None:
        """Only a change of the limits calls for a recount; status writes (admission's) do not."""
        if not equals(parse_list(_hard(old)), parse_list(_hard(new))):
            self.enqueue(new)

    async def run(self) -> None:
        resync = asyncio.get_running_loop().create_task(self._resync())
        try:
            await super().run()
        finally:
            resync.cancel()

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync_period)
            for quota in self.quotas.store.list():
                self.enqueue(quota)

    # what a quota counts

    async def _resource(self, group: str, plural: str) -> Resource | None:
        """The served resource of (group, plural), from discovery (read again when it is not known yet)."""
        if not group:
            return Resource("", "v1", plural)
        if (group, plural) not in self._resources:
            self._resources = {(s.resource.group, s.resource.plural): s.resource
                               for s in await served_resources(self.client) if "list" in s.verbs}
        return self._resources.get((group, plural))

    async def _monitor(self, evaluator: Evaluator) -> Informer | None:
        key = (evaluator.group, evaluator.resource)
        informer = self.monitors.get(key)
        if informer is None:
            resource = await self._resource(*key)
            if resource is None or not resource.namespaced:
                return None
            informer = self.monitors[key] = self.informers.informer(resource)
            release = _RELEASES.get(key)
            informer.add_handler(
                on_update=(lambda old, new: self._replenish(evaluator, new) if release(old, new) else None)
                if release else None,
                on_delete=lambda obj: self._replenish(evaluator, obj))
            informer.start()
        await informer.wait_for_sync()
        return informer

    def _replenish(self, evaluator: Evaluator, obj: dict) -> None:
        """Recount the quotas of the object's namespace that limit a resource of its kind."""
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        for quota in self.quotas.store.by_index(NAMESPACE_INDEX, namespace):
            if evaluator.matching_resources(_hard(quota)):
                self.enqueue(quota)

    # sync

    async def sync(self, key: str) -> None:
        quota = self.quotas.store.get(key)
        if quota is None:
            return
        namespace = quota["metadata"]["namespace"]
        items: dict[Evaluator, list[dict]] = {}
        for evaluator in evaluators_for(_hard(quota)):
            informer = await self._monitor(evaluator)
            if informer is not None:
                items[evaluator] = informer.store.by_index(NAMESPACE_INDEX, namespace)
        status = quota.get("status") or {}
        hard = parse_list(_hard(quota))
        used = {**parse_list(status.get("used")), **calculate_usage(quota, items.get)}
        used = mask(used, hard)
        if "hard" in status and "used" in status and equals(hard, parse_list(status["hard"])) \
                and equals(used, parse_list(status["used"])):
            return
        body = copy.deepcopy(quota)
        body["status"] = {"hard": to_json(hard), "used": to_json(used)}
        try:
            await self.client.update_status(RESOURCEQUOTAS, body)
        except ApiError as e:
            if e.code == 404:
                return
            if e.code != 409:
                raise
            self.queue.add_rate_limited(key)  # admission charged it meanwhile: count again from its new version
