"""scheduling.k8s.io/v1: PriorityClasses."""

from __future__ import annotations

from timoneiro.api.field import FieldError, forbidden
from timoneiro.api.validation import meta
from timoneiro.api.validation.names import name_is_dns_subdomain
from timoneiro.api.validation.pods import preemption_policy
from timoneiro.api.validation.rules import Rules, with_meta

SYSTEM_PREFIX = "system-"
HIGHEST_USER_PRIORITY = 1_000_000_000
# name -> (value, globalDefault) of the classes only the system may define
SYSTEM_CLASSES = {
    "system-node-critical": (2_000_001_000, False),
    "system-cluster-critical": (2_000_000_000, False),
}


def _system_class_error(name: str, value: int, global_default: bool) -> str | None:
    if name not in SYSTEM_CLASSES:
        return f"{name} is not a known system priority class"
    want_value, want_default = SYSTEM_CLASSES[name]
    if value != want_value:
        return f"value of {name} PriorityClass must be {want_value}"
    if global_default != want_default:
        return f"globalDefault of {name} PriorityClass must be {str(want_default).lower()}"
    return None


def _priority_class(obj: dict) -> list[FieldError]:
    name, value = (obj.get("metadata") or {}).get("name", ""), obj.get("value", 0)
    errs: list[FieldError] = []
    if name.startswith(SYSTEM_PREFIX):
        problem = _system_class_error(name, value, bool(obj.get("globalDefault")))
        if problem:
            errs.append(
                forbidden(
                    "metadata.name",
                    f"priority class names with '{SYSTEM_PREFIX}' prefix are reserved "
                    f"for system use only. error: {problem}",
                )
            )
    elif value > HIGHEST_USER_PRIORITY:
        errs.append(
            forbidden("value", f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}")
        )
    if obj.get("preemptionPolicy") is not None:
        errs += preemption_policy(obj["preemptionPolicy"], "preemptionPolicy")
    return errs


def _priority_class_update(new: dict, old: dict) -> list[FieldError]:
    errs = (
        []
        if new.get("value") == old.get("value")
        else [forbidden("value", "may not be changed in an update.")]
    )
    return errs + meta.immutable(new.get("preemptionPolicy"), old.get("preemptionPolicy"), "preemptionPolicy")


def _update(new: dict, old: dict) -> list[FieldError]:
    errs = meta.object_meta_update(new.get("metadata") or {}, old.get("metadata") or {})
    return errs + _priority_class_update(new, old)


RULES: dict[str, Rules] = {
    "PriorityClass": Rules(with_meta(False, name_is_dns_subdomain, _priority_class).create, _update),
}
