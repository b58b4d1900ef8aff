"""ResourceQuota admission: a create or update that would take a namespace over one of its quotas is
refused, and one that fits is charged to the quotas (their status.used) before it is stored.

Checks and charges of one namespace run one at a time, and each charge is a compare-and-swap on the
quota's resourceVersion, retried on a conflict (the quota controller writes status.used too): so
concurrent creates cannot together exceed a quota. A quota counts only once the controller has set its
status (status.hard, status.used); the controller also gives back what deleted or finished objects used."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors
from timoneiro.apiserver.authn import UserInfo
from timoneiro.apiserver.generic import Context, decode
from timoneiro.apiserver.quota.evaluators import IGNORED, Evaluator, evaluator_for
from timoneiro.apiserver.quota.resources import (
    ResourceList,
    add,
    equals,
    exceeding,
    is_zero,
    mask,
    parse_list,
    pretty,
    subtract_non_negative,
    to_json,
)

if TYPE_CHECKING:
    from timoneiro.apiserver.app import APIServer

RETRIES = 3  # re-checks after a conflicting quota update, as upstream's evaluator retries
# the identity the API server writes quota status as (its loopback client's)
LOOPBACK_USER = UserInfo("system:apiserver", groups=("system:masters",))


class ResourceQuotaAdmission:
    def __init__(self, api: APIServer) -> None:
        self.generic = api.generic
        self.cache = api.cache
        self.quotas = api.registry.get("", "v1", "resourcequotas")
        self._locks: dict[str, asyncio.Lock] = {}

    async def __call__(self, ctx: Context, kind: Kind, new: dict, old: dict | None) -> None:
        if ctx.subresource or not kind.namespaced or not ctx.namespace or (kind.group, kind.plural) in IGNORED:
            return
        evaluator = evaluator_for(kind.group, kind.plural)
        prefix = self.quotas.list_prefix(ctx.namespace)
        if not evaluator.handles(new, old) or not self.cache.list(prefix):
            return
        lock = self._locks.setdefault(ctx.namespace, asyncio.Lock())
        async with lock:
            await self._admit(ctx, kind, evaluator, prefix, new, old)

    async def _admit(self, ctx: Context, kind: Kind, evaluator: Evaluator, prefix: str, new: dict,
                     old: dict | None) -> None:
        retry: set[str] | None = None  # after a conflict, only the quotas whose update failed are checked again
        conflict: errors.APIError | None = None
        for _ in range(RETRIES + 1):
            await self.cache.fresh()
            quotas = [decode(e) for e in self.cache.list(prefix)]
            if retry is not None:
                quotas = [q for q in quotas if q["metadata"]["name"] in retry]
            charges = self.check(kind, evaluator, quotas, new, old)
            if ctx.dry_run or not charges:
                return
            retry = set()
            for quota, used in charges:
                try:
                    await self._charge(ctx.namespace or "", quota, used)
                except errors.APIError as e:
                    if e.code not in (404, 409):
                        raise
                    retry.add(quota["metadata"]["name"])
                    conflict = e
            if not retry:
                return
        assert conflict is not None
        raise conflict

    def check(self, kind: Kind, evaluator: Evaluator, quotas: list[dict], new: dict, old: dict | None
              ) -> list[tuple[dict, ResourceList]]:
        """The quotas the write is charged to with their new usage, or Forbidden if one would be exceeded."""
        name = new["metadata"].get("name") or new["metadata"].get("generateName") or "Unknown"
        covering = []
        for quota in quotas:
            if not evaluator.matches(quota, new):
                continue
            quota_name = quota["metadata"]["name"]
            status = quota.get("status") or {}
            limited = evaluator.matching_resources(status.get("hard") or {})
            why = evaluator.constraints(limited, new)
            if why:
                raise errors.forbidden(kind, name, f"failed quota: {quota_name}: {why}")
            if any(r not in (status.get("used") or {}) for r in limited):
                raise errors.forbidden(kind, name, f"status unknown for quota: {quota_name}, resources: "
                                                   f"{','.join(sorted(limited))}")
            covering.append(quota)
        if not covering:
            return []
        delta = evaluator.usage(new)
        if old is not None:
            delta = subtract_non_negative(delta, evaluator.usage(old))
        if is_zero(delta):
            return []
        charges = []
        for quota in covering:
            status = quota["status"]
            hard, used = parse_list(status.get("hard")), parse_list(status.get("used"))
            requested = mask(delta, hard)
            new_used = add(used, requested)
            over = exceeding(mask(new_used, requested), hard)
            if over:
                raise errors.forbidden(kind, name, f"exceeded quota: {quota['metadata']['name']}, requested: "
                                                   f"{pretty(mask(requested, over))}, used: {pretty(mask(used, over))}, "
                                                   f"limited: {pretty(mask(hard, over))}")
            if not equals(new_used, used):
                charges.append((quota, new_used))
        return charges

    async def _charge(self, namespace: str, quota: dict, used: ResourceList) -> None:
        """Write the quota's new usage if the quota is still the version that was checked."""
        version = quota["metadata"]["resourceVersion"]

        def charged(current: dict) -> dict:
            current["metadata"]["resourceVersion"] = version  # the precondition: 409 if it changed
            current.setdefault("status", {})["used"] = to_json(used)
            return current

        ctx = Context(namespace=namespace, subresource="status", field_manager="kube-apiserver", user=LOOPBACK_USER)
        await self.generic.update(ctx, self.quotas, quota["metadata"]["name"], charged)
