"""Every resource the API server serves, at each group's preferred version, read from discovery."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from timoneiro.client import Client, Resource


@dataclass(frozen=True)
class Served:
    resource: Resource
    kind: str
    verbs: frozenset[str]


@dataclass
class Discovery:
    served: list[Served] = field(default_factory=list)
    group_versions: list[str] = field(default_factory=list)  # as the documents name them
    failed: dict[str, str] = field(default_factory=dict)  # group version -> why its document could not be read


async def discover(client: Client) -> Discovery:
    """Top-level resources (no subresources) of /api/v1 and each group's preferred version; a group whose
    document cannot be read (an aggregated API that is down) is left out and named in `failed`."""
    groups = await client.request("GET", "/apis")
    versions = ["v1"] + [g["preferredVersion"]["groupVersion"] for g in groups["groups"]]
    paths = ["/api/v1"] + [f"/apis/{v}" for v in versions[1:]]
    docs = await asyncio.gather(*(client.request("GET", p) for p in paths), return_exceptions=True)
    out = Discovery()
    for version, doc in zip(versions, docs, strict=True):
        if isinstance(doc, BaseException):
            out.failed[version] = getattr(doc, "message", "") or str(doc)
            continue
        out.group_versions.append(doc["groupVersion"])
        group, _, api_version = doc["groupVersion"].rpartition("/")
        for r in doc.get("resources") or ():
            if "/" not in r["name"]:
                out.served.append(Served(Resource(group, api_version, r["name"], bool(r.get("namespaced"))),
                                         r["kind"], frozenset(r.get("verbs") or ())))
    return out


async def served_resources(client: Client) -> list[Served]:
    return (await discover(client)).served
