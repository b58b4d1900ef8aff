"""A node group's label and taint changes made on its running nodes' Node objects, as EKS applies an
UpdateNodegroupConfig of labels and taints without replacing nodes. Each Node is read, changed and written
back with its resourceVersion, again on a conflict (its kubelet and the node controllers write it too)."""

from __future__ import annotations

import asyncio

from timoneiro.client import ApiError, Client
from timoneiro.client.resources import NODES


async def relabel(client: Client, nodes: list[str], labels: dict[str, str], unlabel: list[str],
                  taints: list[dict], untaint: list[dict]) -> None:
    """Add or update `labels`, remove the `unlabel` keys; add or replace `taints` and remove `untaint`
    (both matched by key and effect, Kubernetes' spelling)."""
    await asyncio.gather(*(_relabel(client, node, labels, unlabel, taints, untaint) for node in nodes))


async def _relabel(client: Client, name: str, labels: dict[str, str], unlabel: list[str], taints: list[dict],
                   untaint: list[dict]) -> None:
    dropped = {(t["key"], t["effect"]) for t in [*taints, *untaint]}
    while True:
        try:
            node = await client.get(NODES, name)
        except ApiError as e:
            if e.code == 404:
                return
            raise
        meta, spec = node["metadata"], node.setdefault("spec", {})
        meta["labels"] = {k: v for k, v in (meta.get("labels") or {}).items() if k not in unlabel} | labels
        kept = [t for t in spec.get("taints") or () if (t.get("key"), t.get("effect")) not in dropped]
        spec["taints"] = kept + taints
        try:
            await client.update(NODES, node)
            return
        except ApiError as e:
            if e.code != 409:
                raise
