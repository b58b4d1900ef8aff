"""Controller references: which object controls another, and adopting or releasing dependents.

As upstream's ControllerRefManager: a controller claims the objects its selector matches that have no
controller yet (adoption writes its controllerRef onto them, after a fresh read proves it is not being
deleted), keeps those it controls that still match, and releases those it controls that no longer match.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from timoneiro.api import selectors
from timoneiro.client import ApiError, Client, Resource
from timoneiro.client.events import reference
from timoneiro.client.store import Store


def controller_of(obj: dict) -> dict | None:
    """The ownerReference marked controller, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def is_controlled_by(obj: dict, owner: dict) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == owner["metadata"].get("uid")


def controller_ref(owner: dict, api_version: str, kind: str) -> dict:
    """The ownerReference a controller puts on what it creates (metav1.NewControllerRef)."""
    meta = owner["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def object_reference(obj: dict, api_version: str, kind: str) -> dict:
    """A core/v1 ObjectReference to obj, as events and CronJob status carry."""
    return reference({**obj, "apiVersion": api_version, "kind": kind})


def selector_match(owner: dict) -> Callable[[dict], bool]:
    """Whether an object's labels match the owner's spec.selector."""
    selector = selectors.from_label_selector((owner.get("spec") or {}).get("selector"))

    def match(obj: dict) -> bool:
        return selectors.matches(selector, (obj.get("metadata") or {}).get("labels") or {})
    return match


def resolve(store: Store, namespace: str | None, ref: dict | None, kind: str) -> dict | None:
    """The cached controller a reference names, if it is of `kind` and still the same object (uid)."""
    if ref is None or ref.get("kind") != kind:
        return None
    owner = store.get(f"{namespace}/{ref.get('name')}" if namespace else ref.get("name", ""))
    if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
        return None
    return owner


class RefManager:
    """Claims dependents (of `resource`) for one owner; see the module docstring."""

    def __init__(self, client: Client, resource: Resource, owner: dict, owner_resource: Resource,
                 api_version: str, kind: str, match: Callable[[dict], bool], finalizers: tuple[str, ...] = ()
                 ) -> None:
        self.client = client
        self.resource = resource
        self.owner = owner
        self.owner_resource = owner_resource
        self.ref = controller_ref(owner, api_version, kind)
        self.match = match
        self.finalizers = finalizers
        self._can_adopt: asyncio.Future | None = None

    @classmethod
    def by_selector(cls, client: Client, resource: Resource, owner: dict, owner_resource: Resource,
                    api_version: str, kind: str, finalizers: tuple[str, ...] = ()) -> RefManager:
        """A manager matching by the owner's spec.selector (a LabelSelector)."""
        return cls(client, resource, owner, owner_resource, api_version, kind, selector_match(owner), finalizers)

    async def claim(self, objects: list[dict]) -> list[dict]:
        """The objects this owner controls after adopting and releasing; raises the first failure after
        trying every object (those claimed are lost to the caller then, as upstream's sync retries)."""
        claimed: list[dict] = []
        errors: list[Exception] = []
        owner_deleting = bool(self.owner["metadata"].get("deletionTimestamp"))
        owner_uid = self.owner["metadata"]["uid"]
        for obj in objects:
            meta = obj["metadata"]
            ref = controller_of(obj)
            try:
                if ref is not None:
                    if ref.get("uid") != owner_uid:
                        continue
                    if self.match(obj):
                        claimed.append(obj)
                    elif not owner_deleting:
                        await self._release(obj)
                    continue
                if owner_deleting or not self.match(obj) or meta.get("deletionTimestamp"):
                    continue
                if meta.get("namespace") != self.owner["metadata"].get("namespace"):
                    continue
                adopted = await self._adopt(obj)
                if adopted is not None:
                    claimed.append(adopted)
            except ApiError as e:
                if e.code != 404:
                    errors.append(e)
        if errors:
            raise errors[0]
        return claimed

    async def _check_can_adopt(self) -> None:
        """A fresh read: adopting for an owner that is going away would orphan the adoptee again."""
        if self._can_adopt is None:
            self._can_adopt = asyncio.get_running_loop().create_future()
            try:
                meta = self.owner["metadata"]
                fresh = await self.client.get(self.owner_resource, meta["name"], meta.get("namespace"))
                if fresh["metadata"].get("uid") != meta["uid"]:
                    raise RuntimeError(f"original {meta.get('namespace')}/{meta['name']} is gone: got uid "
                                       f"{fresh['metadata'].get('uid')}, wanted {meta['uid']}")
                if fresh["metadata"].get("deletionTimestamp"):
                    raise RuntimeError(f"{meta.get('namespace')}/{meta['name']} has just been deleted at "
                                       f"{fresh['metadata']['deletionTimestamp']}")
                self._can_adopt.set_result(None)
            except Exception as e:
                self._can_adopt.set_exception(e)
        await asyncio.shield(self._can_adopt)

    async def _adopt(self, obj: dict) -> dict | None:
        await self._check_can_adopt()
        meta = obj["metadata"]
        patch: dict = {"metadata": {"ownerReferences": [self.ref], "uid": meta["uid"]}}
        missing = [f for f in self.finalizers if f not in (meta.get("finalizers") or ())]
        if missing:
            patch["metadata"]["finalizers"] = missing
        return await self.client.patch(self.resource, meta["name"], patch, meta.get("namespace"),
                                       patch_type="strategic")

    async def _release(self, obj: dict) -> None:
        meta = obj["metadata"]
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": self.owner["metadata"]["uid"]}],
                              "uid": meta["uid"]}}
        try:
            await self.client.patch(self.resource, meta["name"], patch, meta.get("namespace"),
                                    patch_type="strategic")
        except ApiError as e:
            if e.code not in (404, 422):  # gone, or its uid changed: nothing of ours to release
                raise


def selecting(store: Store, obj: dict) -> list[dict]:
    """The controllers in obj's namespace whose spec.selector matches its labels (orphans' candidates)."""
    namespace = (obj.get("metadata") or {}).get("namespace", "")
    return [owner for owner in store.by_index("namespace", namespace) if selector_match(owner)(obj)]
