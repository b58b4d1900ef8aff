"""The per-kind entry points every API group module registers in its RULES table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from timoneiro.api.field import FieldError
from timoneiro.api.validation import meta
from timoneiro.api.validation.names import NameFunc

Create = Callable[[dict], list[FieldError]]
Update = Callable[[dict, dict], list[FieldError]]


@dataclass(frozen=True)
class Rules:
    """A kind's ValidateX (create) and ValidateXUpdate (update, which checks the new object too)."""

    create: Create
    update: Update


def with_meta(
    namespaced: bool,
    name_fn: NameFunc,
    body: Create | None = None,
    body_update: Update | None = None,
    kube: bool = True,
    update_first: bool = False,
) -> Rules:
    """The usual shape: ObjectMeta then the body on create. On update the metadata update rules come
    first, then either the new body and the update rules, or (update_first, for kinds whose
    ValidateXUpdate ends by calling ValidateX) the update rules and the whole create validation."""

    def create(obj: dict) -> list[FieldError]:
        errs = meta.object_meta(obj.get("metadata") or {}, namespaced, name_fn, kube=kube)
        return errs + (body(obj) if body else [])

    def update(new: dict, old: dict) -> list[FieldError]:
        errs = meta.object_meta_update(new.get("metadata") or {}, old.get("metadata") or {}, kube=kube)
        changes = body_update(new, old) if body_update else []
        if update_first:
            return errs + changes + create(new)
        return errs + (body(new) if body else []) + changes

    return Rules(create, update)


def spec_of(obj: dict) -> dict:
    return obj.get("spec") or {}
