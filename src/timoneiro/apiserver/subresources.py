"""Subresources with behaviour of their own: scale, binding, eviction and namespace finalize."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from timoneiro.api import selectors
from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors
from timoneiro.apiserver.generic import Context, DeleteOptions, decode
from timoneiro.apiserver.http import Request, respond_object
from timoneiro.apiserver.meta import now

if TYPE_CHECKING:
    from timoneiro.apiserver.app import APIServer


def _path_get(obj: dict, path: str):
    value = obj
    for part in path.strip(".").split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _path_set(obj: dict, path: str, value) -> None:
    parts = path.strip(".").split(".")
    for part in parts[:-1]:
        obj = obj.setdefault(part, {})
    obj[parts[-1]] = value


def success(name: str = "", kind: str = "", group: str = "") -> dict:
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    if name:
        status["details"] = {"name": name, "kind": kind, **({"group": group} if group else {})}
    return status


class Subresources:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.generic = server.generic

    # scale

    def scale_of(self, kind: Kind, obj: dict) -> dict:
        paths = kind.scale
        m = obj["metadata"]
        selector = None
        if kind.crd is None:
            sel = (obj.get("spec") or {}).get("selector")
            if isinstance(sel, dict) and ("matchLabels" in sel or "matchExpressions" in sel):
                selector = selectors.to_string(selectors.from_label_selector(sel) or ())
            elif isinstance(sel, dict):  # ReplicationController: a plain map
                selector = ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
        elif paths.label_selector:
            selector = _path_get(obj, paths.label_selector)
        status = {"replicas": _path_get(obj, paths.status_replicas) or 0}
        if selector:
            status["selector"] = selector
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: m[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                             if k in m},
                "spec": {"replicas": _path_get(obj, paths.spec_replicas) or 0}, "status": status}

    def with_scale(self, kind: Kind, current: dict, scale: dict) -> dict:
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            from timoneiro.api.field import invalid

            raise errors.APIError(422, "Invalid", f'Scale.autoscaling "{current["metadata"]["name"]}" is invalid: '
                                  f"{invalid('spec.replicas', replicas, 'must be greater than or equal to 0')}")
        new = copy.deepcopy(current)
        _path_set(new, kind.scale.spec_replicas, replicas)
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        new["metadata"]["resourceVersion"] = rv or ""
        if not rv:
            new["metadata"].pop("resourceVersion")
        return new

    async def get_scale(self, req: Request, send, kind: Kind, namespace: str, name: str) -> None:
        obj = await self.generic.get(kind, namespace or None, name)
        await respond_object(send, 200, self.scale_of(kind, obj), req.accept)

    async def put_scale(self, req: Request, send, kind: Kind, ctx: Context, name: str) -> None:
        scale = await req.json()
        if not isinstance(scale, dict):
            raise errors.bad_request("the object provided is unrecognized: expected a Scale")
        ctx.subresource = "scale"
        obj, _ = await self.generic.update(ctx, kind, name, lambda cur: cur and self.with_scale(kind, cur, scale))
        await respond_object(send, 200, self.scale_of(kind, obj), req.accept)

    # pods/binding

    async def bind(self, req: Request, send, pods: Kind, ctx: Context, name: str) -> None:
        binding = await req.json()
        target = (binding or {}).get("target") or {}
        node = target.get("name")
        if not node:
            from timoneiro.api.field import required

            raise errors.APIError(422, "Invalid", f'Binding "{name}" is invalid: {required("target.name")}')
        name = name or (binding.get("metadata") or {}).get("name", "")

        def assign(pod: dict | None) -> dict | None:
            if pod is None:
                return None
            spec = pod.setdefault("spec", {})
            if pod["metadata"].get("deletionTimestamp"):
                raise errors.conflict(pods, name, "pod is being deleted, cannot be assigned to a host")
            if spec.get("nodeName"):
                raise errors.conflict(pods, name, f"pod {name} is already assigned to node \"{spec['nodeName']}\"")
            spec["nodeName"] = node
            conditions = [c for c in (pod.setdefault("status", {}).get("conditions") or [])
                          if c.get("type") != "PodScheduled"]
            conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                               "lastTransitionTime": now()})
            pod["status"]["conditions"] = conditions
            return pod

        ctx.subresource = "binding"
        ctx.field_manager = ""  # upstream's BindingREST writes the pod to storage as is: no managedFields entry
        await self.generic.modify(ctx, pods, name, assign)
        await respond_object(send, 201, success(), req.accept)

    # pods/eviction

    async def evict(self, req: Request, send, pods: Kind, ctx: Context, name: str) -> None:
        eviction = await req.json()
        pod = await self.generic.get(pods, ctx.namespace, name)
        for hook in self.generic.delete_validators:  # the eviction's admission, as a delete (ctx.subresource says)
            hook(ctx, pods, pod)
        opts = (eviction or {}).get("deleteOptions") or {}
        pdbs = self.server.registry.get("policy", "v1", "poddisruptionbudgets")
        labels = pod["metadata"].get("labels") or {}
        phase = (pod.get("status") or {}).get("phase")
        if pdbs and phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp"):
            for entry in self.server.cache.list(pdbs.list_prefix(ctx.namespace)):
                pdb = decode(entry)
                sel = selectors.from_label_selector((pdb.get("spec") or {}).get("selector"))
                if not sel or not selectors.matches(sel, labels):
                    continue
                allowed = (pdb.get("status") or {}).get("disruptionsAllowed", 0)
                if allowed <= 0:
                    pdb_name = pdb["metadata"]["name"]
                    raise errors.too_many_requests(
                        "Cannot evict pod as it would violate the pod's disruption budget.",
                        {"causes": [{"reason": "DisruptionBudget", "message": f"The disruption budget {pdb_name} "
                                     f"needs {(pdb.get('status') or {}).get('desiredHealthy', 0)} healthy pods and "
                                     f"has {(pdb.get('status') or {}).get('currentHealthy', 0)} currently"}]})
                await self._spend_disruption(pdbs, ctx, pdb, name)
        grace = opts.get("gracePeriodSeconds")
        await self.generic.delete(Context(namespace=ctx.namespace, dry_run=ctx.dry_run), pods, name,
                                  DeleteOptions(grace_period=grace, uid=(opts.get("preconditions") or {}).get("uid")))
        await respond_object(send, 201, success(), req.accept)

    async def _spend_disruption(self, pdbs: Kind, ctx: Context, pdb: dict, pod_name: str) -> None:
        """Count the eviction against the budget at once, as upstream's eviction REST does."""
        def spend(cur: dict | None) -> dict | None:
            if cur is None:
                return None
            status = cur.setdefault("status", {})
            if status.get("disruptionsAllowed", 0) <= 0:
                raise errors.too_many_requests("Cannot evict pod as it would violate the pod's disruption budget.")
            status["disruptionsAllowed"] -= 1
            status.setdefault("disruptedPods", {})[pod_name] = now()
            return cur

        await self.generic.modify(Context(namespace=ctx.namespace, subresource="status", dry_run=ctx.dry_run),
                                  pdbs, pdb["metadata"]["name"], spend)

    # namespaces/finalize

    async def finalize(self, req: Request, send, namespaces: Kind, ctx: Context, name: str) -> None:
        body = await req.json()
        finalizers = ((body or {}).get("spec") or {}).get("finalizers") or []

        wanted_rv = ((body or {}).get("metadata") or {}).get("resourceVersion")

        def set_finalizers(ns: dict | None) -> dict | None:
            if ns is None:
                return None
            ns.setdefault("spec", {})["finalizers"] = finalizers
            if not finalizers:
                ns["spec"].pop("finalizers")
            if wanted_rv:  # the client's resourceVersion is a precondition; without one, last write wins
                ns["metadata"]["resourceVersion"] = wanted_rv
            else:
                ns["metadata"].pop("resourceVersion", None)
            return ns

        ctx.subresource = "finalize"
        obj, _ = await self.generic.update(ctx, namespaces, name, set_finalizers)
        await respond_object(send, 200, obj, req.accept)
