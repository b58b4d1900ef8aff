"""An add-on's status follows its workload, as EKS's does: once its objects are applied it is ACTIVE when its
Deployment's replicas, or its DaemonSet's pods on every node, are available, and DEGRADED with the
InsufficientNumberOfReplicas issue when they cannot become so (a pod that no node takes, or one that keeps
failing), until they are. A DaemonSet on a cluster with no nodes has nothing to wait for; CoreDNS there is
DEGRADED. One watcher per cluster with add-ons follows kube-system through informers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from timoneiro.client import Client
from timoneiro.client.informer import Backoff, InformerFactory
from timoneiro.client.resources import DAEMONSETS, DEPLOYMENTS, PODS
from timoneiro.eks.addon_catalogue import NAMESPACE
from timoneiro.eks.addon_manifests import WORKLOADS, Workload
from timoneiro.eks.updates import end_update

if TYPE_CHECKING:
    from timoneiro.client.informer import Informer
    from timoneiro.eks.service import Eks

HEALTHY, BLOCKED, PROGRESSING = "healthy", "blocked", "progressing"
REPLICAS_ISSUE = {
    "code": "InsufficientNumberOfReplicas", "resourceIds": [],
    "message": "The add-on is unhealthy because it doesn't have the desired number of replicas."}
_STUCK = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
          "InvalidImageName"}  # container waiting reasons that waiting will not cure
_FOLLOWED = ("CREATING", "UPDATING", "ACTIVE", "DEGRADED")  # the statuses the workload decides between
_CHECK_EVERY = 2.0  # seconds between looks at whether the cluster and its add-ons are still there
_BACKOFF = Backoff(0.2, 2.0)  # an upgrade restarts the API server: be back soon after it is

_watchers: dict[tuple[int, str], asyncio.Task] = {}  # by (service, cluster)
_wakeups: dict[tuple[int, str], asyncio.Event] = {}


def watch(eks: Eks, cluster: str) -> None:
    """Follow the cluster's add-ons (if not already): call once an add-on's objects are applied."""
    key = (id(eks), cluster)
    _wakeups.setdefault(key, asyncio.Event()).set()
    if key in _watchers:
        return
    task = _watchers[key] = eks.spawn(_follow(eks, cluster, _wakeups[key]), f"add-on health in {cluster}")

    def done(_: asyncio.Task) -> None:
        del _watchers[key]
        if not task.cancelled() and task.exception() is None and _followed(eks, cluster):
            watch(eks, cluster)  # an add-on came as it stopped
        else:
            _wakeups.pop(key, None)

    task.add_done_callback(done)


def _verdict(workload: Workload, obj: dict | None, pods: list[dict], applied_generation: int = 0) -> str:
    """HEALTHY, BLOCKED (what it waits for cannot come) or PROGRESSING, from the workload and its pods."""
    if obj is None:
        return PROGRESSING  # not in the cache yet
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    generation = meta.get("generation", 0)
    if generation < applied_generation or status.get("observedGeneration", 0) < generation:
        return PROGRESSING  # what we see is not yet what was applied, or its controller has not seen it
    if workload.kind == "Deployment":  # complete, as the deployment controller says: no old pod left either
        want = spec.get("replicas", 1)
        ready = all(status.get(k, 0) == want for k in ("replicas", "updatedReplicas", "availableReplicas"))
    else:
        want = status.get("desiredNumberScheduled", 0)
        ready = min(status.get("numberAvailable", 0), status.get("updatedNumberScheduled", 0)) >= want
    if ready:
        return HEALTHY
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    mine = [p for p in pods if selector.items() <= ((p["metadata"].get("labels") or {}).items())]
    return BLOCKED if any(_stuck(p) for p in mine) else PROGRESSING


def _stuck(pod: dict) -> bool:
    status = pod.get("status") or {}
    if any((c.get("type"), c.get("status"), c.get("reason")) == ("PodScheduled", "False", "Unschedulable")
           for c in status.get("conditions") or ()):
        return True
    return any(((c.get("state") or {}).get("waiting") or {}).get("reason") in _STUCK
               for c in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []))


def _settle(eks: Eks, cluster: str, name: str, found: str) -> bool:
    """Record what the workload says of one add-on (its status, health, the update waiting for it); True if
    that changed anything."""
    addon = eks.doc(cluster)["addons"].get(name)
    if addon is None or found == PROGRESSING or addon["status"] not in _FOLLOWED or not addon.get("_applied"):
        return False
    status, issues = ("ACTIVE", []) if found == HEALTHY else ("DEGRADED", [REPLICAS_ISSUE])
    update = addon.pop("_update", None)
    if update:
        error = {"errorCode": REPLICAS_ISSUE["code"], "errorMessage": REPLICAS_ISSUE["message"],
                 "resourceIds": []}
        end_update(eks, cluster, update, None if found == HEALTHY else error)
    if (addon["status"], addon["health"]["issues"]) == (status, issues) and not update:
        return False
    addon.update(status=status, health={"issues": issues}, modifiedAt=time.time())
    return True


async def _follow(eks: Eks, cluster: str, wakeup: asyncio.Event) -> None:
    async with Client(eks.control_plane(cluster).admin) as client:
        factory = InformerFactory(client, NAMESPACE, backoff=_BACKOFF)
        informers = {kind: factory.informer(resource) for kind, resource in
                     (("Deployment", DEPLOYMENTS), ("DaemonSet", DAEMONSETS), ("Pod", PODS))}
        for informer in informers.values():
            informer.add_handler(lambda _: wakeup.set(), lambda _, __: wakeup.set(), lambda _: wakeup.set())
        factory.start()
        try:
            while _followed(eks, cluster):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), _CHECK_EVERY)
                wakeup.clear()
                if all(i.has_synced() for i in informers.values()) and _evaluate(eks, cluster, informers):
                    eks.store.save(cluster)
        finally:
            await factory.stop()


def _followed(eks: Eks, cluster: str) -> bool:
    doc = eks.store.clusters.get(cluster)
    return doc is not None and doc["cluster"]["status"] != "DELETING" and bool(doc["addons"])


def _evaluate(eks: Eks, cluster: str, informers: dict[str, Informer]) -> bool:
    pods = informers["Pod"].store.list()
    changed = False
    for name, addon in list(eks.doc(cluster)["addons"].items()):
        workload = WORKLOADS[name]
        obj = informers[workload.kind].store.get(f"{NAMESPACE}/{workload.name}")
        changed |= _settle(eks, cluster, name, _verdict(workload, obj, pods, addon.get("_generation", 0)))
    return changed
