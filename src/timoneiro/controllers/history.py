"""ControllerRevisions: the saved templates of DaemonSets and StatefulSets, for rollouts and rollbacks.

A revision's data is a strategic merge patch that puts a template back ({"spec": {"template": {...,
"$patch": "replace"}}}), compared and hashed as the bytes Go's encoding/json gives for it, so that the
names and hashes are the ones upstream's history package computes.
"""

from __future__ import annotations

import json

from timoneiro.client import ApiError, Client
from timoneiro.client.resources import CONTROLLERREVISIONS
from timoneiro.controllers.controller_ref import controller_ref
from timoneiro.controllers.template_hash import safe_encode

HASH_LABEL = "controller-revision-hash"
MAX_NAME_PREFIX = 223  # 253 less room for "-" and a hash
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(value: object) -> bytes:
    """json.Marshal of a decoded JSON value: compact, map keys sorted, HTML characters escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text.encode()


def template_patch(obj: dict) -> dict:
    """The revision data that restores obj's pod template."""
    return {"spec": {"template": {**obj["spec"]["template"], "$patch": "replace"}}}


def fnv32(data: bytes) -> int:
    """FNV-1 (not 1a), 32 bits: what hash/fnv.New32 computes."""
    h = 0x811C9DC5
    for b in data:
        h = (h * 0x01000193) & 0xFFFFFFFF
        h ^= b
    return h


def hash_revision(data: dict, probe: int | None) -> str:
    """history.HashControllerRevision: the data, then the collision count in decimal if there is one."""
    raw = go_json(data) + (str(probe).encode() if probe is not None else b"")
    return safe_encode(str(fnv32(raw)))


def revision_name(prefix: str, hash_: str) -> str:
    return f"{prefix[:MAX_NAME_PREFIX]}-{hash_}"


def new_revision(parent: dict, api_version: str, kind: str, template_labels: dict | None, data: dict,
                 revision: int, collision_count: int | None) -> dict:
    """A revision of parent, named and labelled by the hash of its data (history.NewControllerRevision)."""
    hash_ = hash_revision(data, collision_count)
    labels = {**(template_labels or {}), HASH_LABEL: hash_}
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": revision_name(parent["metadata"]["name"], hash_),
                         "namespace": parent["metadata"]["namespace"], "labels": labels,
                         "ownerReferences": [controller_ref(parent, api_version, kind)]},
            "data": data, "revision": revision}


def same_data(a: dict, b: dict) -> bool:
    return go_json(a.get("data")) == go_json(b.get("data"))


def equal_revisions(revisions: list[dict], needle: dict) -> list[dict]:
    """The revisions holding the same data as needle (and its hash label)."""
    want = (needle["metadata"].get("labels") or {}).get(HASH_LABEL)
    return [r for r in revisions
            if (r["metadata"].get("labels") or {}).get(HASH_LABEL) == want and same_data(r, needle)]


def by_revision(revisions: list[dict]) -> list[dict]:
    """Oldest first; by name among equals."""
    return sorted(revisions, key=lambda r: (r.get("revision", 0), r["metadata"]["name"]))


def next_revision(revisions: list[dict]) -> int:
    return max((r.get("revision", 0) for r in revisions), default=0) + 1


class History:
    """Writes of ControllerRevisions for one owner kind."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def create(self, parent: dict, revision: dict, collision_count: int) -> tuple[dict, int]:
        """Create revision under a name from its hash, counting up collision_count while another revision
        holds that name; answers (the revision, the collision count used). An equal revision that exists
        already is answered as it is."""
        namespace = parent["metadata"]["namespace"]
        while True:
            body = {**revision, "metadata": {**revision["metadata"], "name": revision_name(
                parent["metadata"]["name"], hash_revision(revision["data"], collision_count))}}
            try:
                return await self.client.create(CONTROLLERREVISIONS, body, namespace), collision_count
            except ApiError as e:
                if e.code != 409:
                    raise
            existing = await self.client.get(CONTROLLERREVISIONS, body["metadata"]["name"], namespace)
            if same_data(existing, body):
                return existing, collision_count
            collision_count += 1

    async def set_revision(self, revision: dict, number: int) -> dict:
        """Give an existing revision a new revision number (it became current again)."""
        meta = revision["metadata"]
        return await self.client.patch(CONTROLLERREVISIONS, meta["name"], {"revision": number}, meta["namespace"])

    async def delete(self, revision: dict) -> None:
        try:
            await self.client.delete(CONTROLLERREVISIONS, revision["metadata"]["name"],
                                     revision["metadata"]["namespace"])
        except ApiError as e:
            if e.code != 404:
                raise
