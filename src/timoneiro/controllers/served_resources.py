"""Every resource the API server serves, at each group's preferred version, read from discovery."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from timoneiro.client import Client, Resource


@dataclass(frozen=True)
class Served:
    resource: Resource
    kind: str
    verbs: frozenset[str]


async def served_resources(client: Client) -> list[Served]:
    """Top-level resources (no subresources) of /api/v1 and each group's preferred version; a group whose
    document cannot be read (an aggregated API that is down) is left out, as upstream's discovery does."""
    groups = await client.request("GET", "/apis")
    paths = ["/api/v1"] + [f"/apis/{g['preferredVersion']['groupVersion']}" for g in groups["groups"]]
    docs = await asyncio.gather(*(client.request("GET", p) for p in paths), return_exceptions=True)
    out = []
    for doc in docs:
        if isinstance(doc, BaseException):
            continue
        group, _, version = doc["groupVersion"].rpartition("/")
        for r in doc.get("resources") or ():
            if "/" not in r["name"]:
                out.append(Served(Resource(group, version, r["name"], bool(r.get("namespaced"))), r["kind"],
                                  frozenset(r.get("verbs") or ())))
    return out
