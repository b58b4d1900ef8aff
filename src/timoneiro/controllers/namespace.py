"""The namespace controller: a deleted namespace is emptied of every namespaced object, then its
"kubernetes" finalizer is removed so that the API server can let it go.

As upstream's namespaced resources deleter: each pass deletes every deletable resource's collection
(background propagation), lists what is left, writes the deletion conditions (namespace_conditions) and,
once nothing is left, finalizes. Objects held by finalizers, and pods within their grace period, are waited
for; anything else left over, like a failed discovery, is an error the pass is retried for.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from timoneiro.api.printers.age import parse_time
from timoneiro.client import ApiError, Resource, TransportError
from timoneiro.client.resources import NAMESPACES, PODS
from timoneiro.controllers import namespace_conditions as nc
from timoneiro.controllers.base import Controller
from timoneiro.controllers.pods import is_terminal
from timoneiro.controllers.served_resources import Discovery, Served, discover

log = logging.getLogger("timoneiro.controllers.namespace")
FINALIZER = "kubernetes"
RECHECK = 1.0  # seconds between checks while objects with finalizers or grace periods remain
FINALIZER_ESTIMATE = 15  # seconds upstream allows finalizers of objects left over


class NamespaceContentError(Exception):
    """Some content could not be discovered or deleted; the pass is retried."""


@dataclass
class _Leftovers:
    """What deleting one resource's collection left."""

    estimate: int = 0  # seconds it may still take; 0 with objects left is an error
    remaining: int = 0
    finalizers: dict[str, int] = field(default_factory=dict)
    error: str | None = None


class NamespaceController(Controller):
    name = "namespace"
    service_account = "namespace-controller"
    workers = 2

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.namespaces = self.follow(informers.informer(NAMESPACES))

    async def sync(self, key: str) -> None:
        ns = self.namespaces.store.get(key)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return
        estimate, errors = await self.delete_all_content(ns)
        if errors:
            raise NamespaceContentError("; ".join(errors))
        if estimate:
            self.queue.add_after(key, RECHECK)
            return
        name = ns["metadata"]["name"]
        finalizers = [f for f in ns["spec"]["finalizers"] if f != FINALIZER]
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
                "spec": {"finalizers": finalizers}}
        try:
            await self.client.request("PUT", NAMESPACES.path(None, name, "finalize"), body=body)
        except ApiError as e:
            if e.code != 404:
                raise

    async def delete_all_content(self, ns: dict) -> tuple[int, list[str]]:
        """Delete everything in the namespace and write its deletion conditions; answers (seconds the rest
        may still take, errors)."""
        name = ns["metadata"]["name"]
        report = nc.DeletionReport()
        discovery = await self._discover(report)
        resources = [] if report.group_version_error else deletable(discovery)
        deleted_at = parse_time(ns["metadata"]["deletionTimestamp"]) or datetime.now(UTC)
        results = await asyncio.gather(*(self.empty(served, name, deleted_at) for served in resources))
        errors = [e for e in (report.discovery_error, report.group_version_error) if e]
        estimate = 0
        for served, left in zip(resources, results, strict=True):
            estimate = max(estimate, left.estimate)
            if left.error is not None:
                errors.append(left.error)
                report.content_errors.append(left.error)
            if left.remaining:
                report.remaining[(served.resource.group, served.resource.plural)] = left.remaining
                for finalizer, n in left.finalizers.items():
                    report.finalizers[finalizer] = report.finalizers.get(finalizer, 0) + n
        await self._write_conditions(ns, report)
        return estimate, errors

    async def _discover(self, report: nc.DeletionReport) -> Discovery:
        """What the server serves; failures go into the report (what could be read is still emptied)."""
        try:
            discovery = await discover(self.client)
        except (ApiError, TransportError) as e:
            report.discovery_error = getattr(e, "message", "") or str(e)
            return Discovery()
        if discovery.failed:
            report.discovery_error = nc.discovery_failure(discovery.failed)
        bad = next((gv for gv in discovery.group_versions if gv.count("/") > 1), None)
        if bad is not None:
            report.group_version_error = f"unexpected GroupVersion string: {bad}"
        return discovery

    async def _write_conditions(self, ns: dict, report: nc.DeletionReport) -> None:
        status = {**(ns.get("status") or {}), "conditions": [dict(c) for c in (ns.get("status") or {}).get(
            "conditions") or ()]}
        if not nc.update(status, report):
            return
        try:
            await self.client.update_status(NAMESPACES, {**ns, "status": status})
        except ApiError as e:  # as upstream: the conditions are written again on the next pass
            log.warning("couldn't update status condition for namespace %q: %s", ns["metadata"]["name"], e.message)

    async def empty(self, served: Served, namespace: str, deleted_at: datetime) -> _Leftovers:
        """Delete one resource's objects in the namespace, and say what is left."""
        resource = served.resource
        try:
            estimate = await self._grace_estimate(resource, namespace, deleted_at)
            if not await self._delete_collection(served, namespace):
                await self._delete_each(resource, namespace)
            items = await self._list(resource, namespace)
        except ApiError as e:
            return _Leftovers(error=e.message)
        if not items:
            return _Leftovers()
        finalizers: dict[str, int] = {}
        for item in items:
            for finalizer in item["metadata"].get("finalizers") or ():
                finalizers[finalizer] = finalizers.get(finalizer, 0) + 1
        if estimate:
            return _Leftovers(estimate, len(items), finalizers)
        if finalizers:
            return _Leftovers(FINALIZER_ESTIMATE, len(items), finalizers)
        return _Leftovers(0, len(items), error=f"unexpected items still remain in namespace: {namespace} for gvr: "
                                               f"{resource.group}/{resource.version}, Resource={resource.plural}")

    async def _grace_estimate(self, resource: Resource, namespace: str, deleted_at: datetime) -> int:
        """For pods, the longest grace period of those still running, unless it has passed since the
        namespace was deleted."""
        if (resource.group, resource.plural) != ("", "pods"):
            return 0
        pods = (await self.client.list(PODS, namespace))["items"]
        estimate = max((p["spec"].get("terminationGracePeriodSeconds") or 0 for p in pods if not is_terminal(p)),
                       default=0)
        return 0 if (datetime.now(UTC) - deleted_at).total_seconds() >= estimate else estimate

    async def _delete_collection(self, served: Served, namespace: str) -> bool:
        """Delete the whole collection at once; answers whether the resource supports that."""
        if "deletecollection" not in served.verbs:
            return False
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        try:
            await self.client.request("DELETE", served.resource.path(namespace), body=options)
        except ApiError as e:
            if e.code in (404, 405):
                return False
            raise
        return True

    async def _delete_each(self, resource: Resource, namespace: str) -> None:
        results = await asyncio.gather(
            *(self.client.delete(resource, item["metadata"]["name"], namespace, propagation_policy="Background")
              for item in await self._list(resource, namespace) if not item["metadata"].get("deletionTimestamp")),
            return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not (isinstance(r, ApiError) and r.code in (404, 405, 409)):
                raise r

    async def _list(self, resource: Resource, namespace: str) -> list[dict]:
        """The resource's objects in the namespace; none if it cannot be listed."""
        try:
            return (await self.client.list(resource, namespace))["items"]
        except ApiError as e:
            if e.code in (404, 405):
                return []
            raise


def deletable(discovery: Discovery) -> list[Served]:
    """The namespaced resources that can be deleted (events.k8s.io events are core events again)."""
    return [s for s in discovery.served if s.resource.namespaced and "delete" in s.verbs
            and s.resource.group != "events.k8s.io"]
