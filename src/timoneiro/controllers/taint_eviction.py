"""The taint eviction controller: pods on a node with NoExecute taints they do not tolerate are deleted,
at once, or once the shortest tolerationSeconds of the tolerations they use has passed since the taint
was seen; a pod tolerating every taint for ever stays."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from timoneiro.client import ApiError
from timoneiro.client.resources import NODES, PODS
from timoneiro.client.store import object_key
from timoneiro.controllers.base import Controller
from timoneiro.controllers.clock import rfc3339
from timoneiro.controllers.events import EventRecorder
from timoneiro.controllers.node_taints import (
    NO_EXECUTE,
    NODE_NAME_INDEX,
    PODS_BY_NODE,
    taints,
    toleration_time,
)


def no_execute_taints(node: dict | None) -> list[dict]:
    return [t for t in taints(node or {}) if t.get("effect") == NO_EXECUTE]


class TaintEvictionController(Controller):
    name = "taint-eviction-controller"
    service_account = "node-controller"
    workers = 4

    def __init__(self, client, informers) -> None:
        super().__init__(client, informers)
        self.pods = self.follow(informers.informer(PODS, indexers=PODS_BY_NODE))
        self.nodes = informers.informer(NODES)
        self.nodes.add_handler(on_add=self.node_changed, on_update=self.node_updated)
        self.events = EventRecorder(client, "taint-eviction-controller")
        self.since: dict[str, float] = {}  # pod key -> when its eviction was first scheduled (monotonic)

    def node_changed(self, node: dict) -> None:
        for pod in self.pods.store.by_index(NODE_NAME_INDEX, node["metadata"]["name"]):
            self.enqueue(pod)

    def node_updated(self, old: dict, new: dict) -> None:
        if no_execute_taints(old) != no_execute_taints(new):
            self.node_changed(new)

    async def sync(self, key: str) -> None:
        pod = self.pods.store.get(key)
        node_name = ((pod or {}).get("spec") or {}).get("nodeName")
        if pod is None or not node_name or pod["metadata"].get("deletionTimestamp"):
            self.since.pop(key, None)
            return
        node_taints = no_execute_taints(self.nodes.store.get(node_name))
        tolerations = pod["spec"].get("tolerations") or []
        seconds = toleration_time(node_taints, tolerations) if node_taints else None
        if seconds is None:
            self.since.pop(key, None)  # no NoExecute taint, or all tolerated for ever
            return
        now = time.monotonic()
        due = self.since.setdefault(key, now) + seconds
        if now < due:
            self.queue.add_after(key, due - now)
            return
        await self.evict(pod)
        self.since.pop(key, None)

    async def evict(self, pod: dict) -> None:
        """Say why on the pod (a DisruptionTarget condition), then delete it with its grace period."""
        m = pod["metadata"]
        condition = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                     "message": "Taint manager: deleting due to NoExecute taint",
                     "lastTransitionTime": rfc3339(datetime.now(UTC))}
        self.events.normal({"kind": "Pod", "apiVersion": "v1", "namespace": m["namespace"], "name": m["name"],
                            "uid": m.get("uid")}, "TaintManagerEviction", f"Marking for deletion Pod {object_key(pod)}")
        try:
            await self.client.patch(PODS, m["name"], {"status": {"conditions": [condition]}}, m["namespace"],
                                    patch_type="strategic", subresource="status")
            await self.client.delete(PODS, m["name"], m["namespace"], preconditions={"uid": m.get("uid")})
        except ApiError as e:
            if e.code not in (404, 409):  # gone, or another pod by that name now
                raise
