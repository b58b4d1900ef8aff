"""Draining a node before its instance goes, as EKS drains managed nodes: cordon it, then evict its pods
through the Eviction API, so that PodDisruptionBudgets are respected (a 429 means the budget allows no
disruption now: try again a little later), leaving DaemonSet pods and mirror pods where they are (their
node's end ends them), until no other pod is left or the time allowed is up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from timoneiro.client import ApiError, Client
from timoneiro.client.resources import NODES, PODS

SCALE_IN_TIMEOUT = 300.0  # "if the node hasn't been drained after 5 minutes", EKS lets the instance go anyway
UPDATE_TIMEOUT = 900.0  # a version update gives up on a node after 15 minutes (PodEvictionFailure)
RETRY = 2.0  # between evictions a disruption budget refused
POLL = 0.2  # while evicted pods finish terminating
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"

log = logging.getLogger("timoneiro.eks.drain")


def evictable(pod: dict) -> bool:
    """Every pod but a DaemonSet's (its controller would put it right back) and a mirror pod."""
    meta = pod["metadata"]
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        return False
    return not any(ref.get("kind") == "DaemonSet" and ref.get("controller") for ref in meta.get("ownerReferences") or ())


async def cordon(client: Client, node: str) -> None:
    try:
        await client.patch(NODES, node, {"spec": {"unschedulable": True}})
    except ApiError as e:
        if e.code != 404:
            raise


async def drain(client: Client, node: str, timeout: float, force: bool = False) -> list[str]:
    """Cordon and drain `node`; the pods (namespace/name) still on it when `timeout` ran out, none if it
    drained. `force`: a pod whose eviction a disruption budget refuses is deleted instead."""
    await cordon(client, node)
    deadline = time.monotonic() + timeout
    refused_until = 0.0
    while True:
        listing = await client.list_all(PODS, field_selector=f"spec.nodeName={node}")
        left = [p for p in listing.get("items") or () if evictable(p)]
        if not left:
            return []
        if time.monotonic() >= deadline:
            return [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in left]
        if time.monotonic() >= refused_until:
            results = await asyncio.gather(*(_evict(client, p, force) for p in left
                                             if not p["metadata"].get("deletionTimestamp")))
            if not all(results):
                refused_until = time.monotonic() + RETRY
        await asyncio.sleep(POLL)


async def _evict(client: Client, pod: dict, force: bool) -> bool:
    """Ask to evict a pod (or delete it, if forced and the eviction is refused): False if a disruption
    budget refused it for now."""
    meta = pod["metadata"]
    body = {"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]}}
    try:
        await client.request("POST", PODS.path(meta["namespace"], meta["name"], "eviction"), body=body)
    except ApiError as e:
        if e.code == 429 and force:
            with contextlib.suppress(ApiError):
                await client.delete(PODS, meta["name"], meta["namespace"])
            return True
        if e.code == 429:
            log.info("evicting %s/%s: %s", meta["namespace"], meta["name"], e.message)
            return False
        if e.code not in (404, 409):  # gone already, or a conflict the next round sorts out
            raise
    return True
