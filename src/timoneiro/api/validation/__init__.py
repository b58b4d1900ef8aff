"""Validation of built-in kinds with upstream's field paths and messages.

Each API group module holds a RULES table (kind -> create and update checks) mirroring that
group's ValidateX / ValidateXUpdate. Around them runs what kube-apiserver's generic registry adds
for every kind: on create, once the kind's own checks pass, the ObjectMeta checks with names that
must be usable as a path segment; on update, those checks and the metadata update rules first.
Custom resources get only ObjectMeta checks here; their schema is validated elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from timoneiro.api.field import FieldError
from timoneiro.api.validation import (
    apiextensions,
    apps,
    autoscaling,
    batch,
    certificates,
    coordination,
    core,
    discovery,
    events,
    meta,
    networking,
    policy,
    rbac,
    scheduling,
    storage,
)
from timoneiro.api.validation.names import name_is_dns_subdomain, name_is_path_segment
from timoneiro.api.validation.rules import Rules

if TYPE_CHECKING:
    from timoneiro.api.kinds import Kind

_GROUPS: dict[str, dict[str, Rules]] = {
    "": core.RULES,
    "apps": apps.RULES,
    "batch": batch.RULES,
    "networking.k8s.io": networking.RULES,
    "discovery.k8s.io": discovery.RULES,
    "coordination.k8s.io": coordination.RULES,
    "events.k8s.io": events.RULES,
    "storage.k8s.io": storage.RULES,
    "rbac.authorization.k8s.io": rbac.RULES,
    "policy": policy.RULES,
    "autoscaling": autoscaling.RULES,
    "scheduling.k8s.io": scheduling.RULES,
    "apiextensions.k8s.io": apiextensions.RULES,
    "certificates.k8s.io": certificates.RULES,
}


def _rules(kind: Kind) -> Rules:
    rules = None if kind.crd is not None else _GROUPS.get(kind.group, {}).get(kind.kind)
    return rules or _custom_resource(kind.namespaced)


def _custom_resource(namespaced: bool) -> Rules:
    """What a custom resource's strategy checks: DNS-subdomain names and the generic meta rules."""

    def create(obj: dict) -> list[FieldError]:
        return meta.object_meta(obj.get("metadata") or {}, namespaced, name_is_dns_subdomain, kube=False)

    def update(new: dict, old: dict) -> list[FieldError]:
        return meta.object_meta_update(new.get("metadata") or {}, old.get("metadata") or {}, kube=False)

    return Rules(create, update)


def _common_meta(kind: Kind, obj: dict) -> list[FieldError]:
    return meta.object_meta(obj.get("metadata") or {}, kind.namespaced, name_is_path_segment, kube=False)


def _unique(errs: list[FieldError]) -> list[FieldError]:
    """Drop repeats, as the Status message does when rules overlap (kept in first-seen order)."""
    seen: set[str] = set()
    out = []
    for err in errs:
        text = f"{err.type}|{err}"
        if text not in seen:
            seen.add(text)
            out.append(err)
    return out


def _without_nulls(value: Any) -> Any:
    """A copy in which JSON nulls read as Go's decoder reads them: a null field is an unset one, and a
    null list element is an empty item like its neighbours (dropped when it has none to go by)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        kinds = {type(v) for v in value if v is not None}
        empty: Any = {} if dict in kinds else "" if str in kinds else None
        return [
            _without_nulls(v) if v is not None else empty for v in value if v is not None or empty is not None
        ]
    return value


def validate(kind: Kind, obj: dict) -> list[FieldError]:
    obj = _without_nulls(obj)
    errs = _rules(kind).create(obj)
    if not errs:
        errs = _common_meta(kind, obj)
    return _unique(errs)


def validate_update(kind: Kind, new: dict, old: dict) -> list[FieldError]:
    new, old = _without_nulls(new), _without_nulls(old)
    common = _common_meta(kind, new) + meta.object_meta_update(
        new.get("metadata") or {}, old.get("metadata") or {}, kube=False
    )
    return _unique(common + _rules(kind).update(new, old))
