"""The namespace controller: a deleted namespace is emptied of every namespaced object, then its
"kubernetes" finalizer is removed so that the API server can let it go."""

from __future__ import annotations

import asyncio
import logging

from timoneiro.client import ApiError, Resource
from timoneiro.client.resources import NAMESPACES
from timoneiro.controllers.base import Controller

log = logging.getLogger("timoneiro.controllers.namespace")
FINALIZER = "kubernetes"
RECHECK = 1.0  # seconds between checks while objects with finalizers or grace periods remain


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
        name = ns["metadata"]["name"]
        remaining = 0
        for resource in await self.namespaced_resources():
            remaining += await self.empty(resource, name)
        if remaining:
            self.queue.add_after(key, RECHECK)
            return
        finalizers = [f for f in ns["spec"]["finalizers"] if f != FINALIZER]
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
                "spec": {"finalizers": finalizers}}
        try:
            await self.client.request("PUT", NAMESPACES.path(None, name, "finalize"), body=body)
        except ApiError as e:
            if e.code != 404:
                raise

    async def empty(self, resource: Resource, namespace: str) -> int:
        """Delete what is left of one resource in the namespace; returns how many objects remain."""
        try:
            items = (await self.client.list(resource, namespace))["items"]
        except ApiError as e:
            if e.code in (404, 405):
                return 0
            raise
        if not items:
            return 0
        results = await asyncio.gather(
            *(self.client.delete(resource, item["metadata"]["name"], namespace) for item in items
              if not item["metadata"].get("deletionTimestamp")), return_exceptions=True)
        for r in results:
            if isinstance(r, ApiError) and r.code not in (404, 409):
                raise r
        left = (await self.client.list(resource, namespace))["items"]
        return len(left)

    async def namespaced_resources(self) -> list[Resource]:
        """Every namespaced resource that can be listed and deleted, at each group's preferred version."""
        out = []
        paths = ["/api/v1"]
        groups = await self.client.request("GET", "/apis")
        paths += [f"/apis/{g['preferredVersion']['groupVersion']}" for g in groups["groups"]]
        lists = await asyncio.gather(*(self.client.request("GET", p) for p in paths), return_exceptions=True)
        for doc in lists:
            if isinstance(doc, Exception):
                continue
            group, _, version = doc["groupVersion"].rpartition("/")
            for r in doc["resources"]:
                if "/" in r["name"] or not r["namespaced"] or not {"list", "delete"} <= set(r["verbs"]):
                    continue
                if group == "events.k8s.io":
                    continue  # the same objects as core events
                out.append(Resource(group, version, r["name"], True))
        return out
