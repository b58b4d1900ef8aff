"""Serving custom resources: a CRD's served versions become kinds as soon as it is written, its status
says so (NamesAccepted, Established), and deleting it removes its objects first, as upstream does."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from timoneiro.api.kinds import Kind, ScalePaths
from timoneiro.api.strategies import CustomResourceStrategy
from timoneiro.apiserver.generic import Context, DeleteOptions, decode
from timoneiro.apiserver.meta import now

if TYPE_CHECKING:
    from timoneiro.apiserver.app import APIServer

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
_STRATEGY = CustomResourceStrategy()


def kinds_of(crd: dict) -> list[Kind]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    storage = next((v["name"] for v in spec.get("versions", []) if v.get("storage")), None)
    out = []
    for v in spec.get("versions", []):
        if not v.get("served"):
            continue
        subs = (v.get("subresources") or {})
        scale = subs.get("scale")
        out.append(Kind(
            group=spec["group"], version=v["name"], kind=names["kind"], plural=names["plural"],
            singular=names.get("singular") or names["kind"].lower(), namespaced=spec.get("scope") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=tuple(s for s in ("status", "scale") if s in subs),
            scale=ScalePaths(scale["specReplicasPath"], scale["statusReplicasPath"], scale.get("labelSelectorPath"))
            if scale else None,
            generation=True, storage_version=f"{spec['group']}/{storage or v['name']}",
            strategy=_STRATEGY, crd=crd))
    return out


class CRDServing:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.crds = server.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        self._tasks: set[asyncio.Task] = set()

    def load(self) -> None:
        """Serve every stored CRD (at start-up)."""
        for entry in self.server.cache.list(self.crds.storage_prefix):
            self.serve(decode(entry))

    def serve(self, crd: dict) -> None:
        spec = crd["spec"]
        self.server.registry.remove_group_kinds(spec["group"], spec["names"]["plural"])
        for kind in kinds_of(crd):
            self.server.registry.add(kind)

    def on_write(self, kind: Kind, new: dict | None, old: dict | None) -> None:
        if kind is not self.crds and kind.kind != "CustomResourceDefinition":
            return
        if new is None:
            spec = old["spec"]
            self.server.registry.remove_group_kinds(spec["group"], spec["names"]["plural"])
            return
        self.serve(new)
        if new["metadata"].get("deletionTimestamp"):
            self._spawn(self._cleanup(new))
        elif not _established(new):
            self._spawn(self._establish(new["metadata"]["name"]))

    def mutate(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        """Every CRD carries the cleanup finalizer so that its objects go before it does."""
        if kind.kind == "CustomResourceDefinition" and old is None:
            fins = new["metadata"].setdefault("finalizers", [])
            if CLEANUP_FINALIZER not in fins:
                fins.append(CLEANUP_FINALIZER)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _establish(self, name: str) -> None:
        def set_status(crd: dict | None) -> dict | None:
            if crd is None:
                return None
            names = crd["spec"]["names"]
            accepted = {k: v for k, v in names.items()}
            accepted.setdefault("singular", names["kind"].lower())
            accepted.setdefault("listKind", names["kind"] + "List")
            ts = now()
            crd["status"] = {
                "acceptedNames": accepted,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "lastTransitionTime": ts,
                     "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "lastTransitionTime": ts,
                     "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
                ],
                "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
            }
            return crd

        with contextlib.suppress(Exception):
            await self.server.generic.modify(Context(subresource="status"), self.crds, name, set_status)

    async def _cleanup(self, crd: dict) -> None:
        spec = crd["spec"]
        prefix = f"/{spec['group']}/{spec['names']['plural']}/"
        kind = next(iter(kinds_of(crd)), None)
        if kind is not None:
            for entry in self.server.cache.list(prefix):
                obj = decode(entry)
                ns = obj["metadata"].get("namespace")
                with contextlib.suppress(Exception):
                    await self.server.generic.delete(Context(namespace=ns), kind, obj["metadata"]["name"],
                                                     DeleteOptions(grace_period=0))

        def drop_finalizer(cur: dict | None) -> dict | None:
            if cur is None:
                return None
            cur["metadata"]["finalizers"] = [f for f in cur["metadata"].get("finalizers", [])
                                             if f != CLEANUP_FINALIZER]
            return cur

        with contextlib.suppress(Exception):
            await self.server.generic.modify(Context(), self.crds, crd["metadata"]["name"], drop_finalizer)


def _established(crd: dict) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])
