"""Putting an add-on's objects into its cluster as EKS does: server-side apply, as field manager "eks", with
resolveConflicts deciding the fate of fields someone else has changed since: OVERWRITE takes them back,
NONE changes nothing and fails ("Conflicts found when trying to apply..."), PRESERVE leaves those fields
as they are and applies the rest."""

from __future__ import annotations

import asyncio
import copy
import json
import re

from timoneiro.client import ApiError, Client

MANAGER = "eks"
_PAIR = re.compile(r'([^=,]+)=("(?:[^"\\]|\\.)*"|[^,]*)')


class ConfigurationConflict(Exception):
    """Fields owned by other managers, each as "Kind.group name - .path"; the message is EKS's."""

    def __init__(self, conflicts: list[str]) -> None:
        super().__init__("Conflicts found when trying to apply. Will not continue due to resolve conflicts "
                         "mode. Conflicts:\n" + "\n".join(conflicts))
        self.conflicts = conflicts


def reference(obj: dict) -> list[str]:
    """[apiVersion, kind, namespace, name]: enough to find an applied object again, e.g. to delete it."""
    meta = obj["metadata"]
    return [obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]]


async def apply(client: Client, objects: list[dict], mode: str) -> list[dict]:
    """Apply every object (concurrently: none of them needs another to exist first) under `mode`; the
    objects as the cluster now has them."""
    if mode == "NONE":
        conflicts = await asyncio.gather(*(_conflicts(client, obj) for obj in objects))
        if any(conflicts):
            raise ConfigurationConflict([line for lines in conflicts for line in lines])
    return await asyncio.gather(*(_apply(client, obj, mode) for obj in objects))


async def delete(client: Client, references: list[list[str]]) -> None:
    """Delete the objects (those gone already are fine); their dependents go too (garbage collection)."""
    async def one(api_version: str, kind: str, namespace: str, name: str) -> None:
        try:
            resource = await client.discovery.resource_for(api_version, kind)
            await client.delete(resource, name, namespace or None, propagation_policy="Background")
        except ApiError as e:
            if e.code != 404:
                raise

    await asyncio.gather(*(one(*ref) for ref in references))


async def _patch(client: Client, obj: dict, force: bool, dry_run: bool = False) -> dict:
    resource = await client.resource_for(obj)
    meta = obj["metadata"]
    return await client.patch(resource, meta["name"], obj, meta.get("namespace"), patch_type="apply",
                              field_manager=MANAGER, force=force, dry_run=dry_run)


async def _conflicts(client: Client, obj: dict) -> list[str]:
    """What applying `obj` without force would conflict with (a dry run: nothing changes)."""
    try:
        await _patch(client, obj, force=False, dry_run=True)
    except ApiError as e:
        if not _conflicting_fields(e):
            raise
        return _described(obj, _conflicting_fields(e))
    return []


async def _apply(client: Client, obj: dict, mode: str) -> dict:
    while True:  # under PRESERVE, each round gives up the fields other managers hold, until none conflicts
        try:
            return await _patch(client, obj, force=mode == "OVERWRITE")
        except ApiError as e:
            fields = _conflicting_fields(e)
            if not fields:
                raise
            if mode != "PRESERVE":
                raise ConfigurationConflict(_described(obj, fields)) from None
            obj = copy.deepcopy(obj)
            if not all(_drop(obj, field) for field in fields):
                raise


def _described(obj: dict, fields: list[str]) -> list[str]:
    """Conflicting fields as EKS lists them: "Deployment.apps coredns - .spec.replicas"."""
    group = obj["apiVersion"].rpartition("/")[0]
    kind = f"{obj['kind']}.{group}" if group else obj["kind"]
    return [f"{kind} {obj['metadata']['name']} - {field}" for field in fields]


def _conflicting_fields(e: ApiError) -> list[str]:
    if e.code != 409:
        return []
    return [c["field"] for c in e.details.get("causes") or () if c.get("reason") == "FieldManagerConflict"]


def _drop(node: object, path: str) -> bool:
    """Remove from an object the field a conflict names (.spec.template.spec.containers[name="x"].image), and
    maps or items left empty by that; False if there is no such field. Keys may hold dots themselves
    (.metadata.labels.app.kubernetes.io/name), so the object guides the reading of the path."""
    if isinstance(node, dict) and path.startswith("."):
        for key in sorted(node, key=len, reverse=True):
            rest = path[len(key) + 1:]
            if not path[1:].startswith(key) or (rest and (rest[0] not in ".[" or not _drop(node[key], rest))):
                continue
            if not rest or not node[key]:
                del node[key]
            return True
    elif isinstance(node, list) and path.startswith("["):
        selector, _, rest = path[1:].partition("]")
        for i, item in enumerate(node):
            if _selects(selector, i, item):
                if rest and not _drop(item, rest):
                    return False
                if not rest or not item:
                    del node[i]
                return True
    return False


def _selects(selector: str, index: int, item: object) -> bool:
    """Whether a list item is the one a path's [...] names: [3], [="value"] or [key="value",...]."""
    if selector.isdigit():
        return int(selector) == index
    if selector.startswith("="):
        return item == json.loads(selector[1:])
    return isinstance(item, dict) and all(item.get(k) == json.loads(v) for k, v in _PAIR.findall(selector))
