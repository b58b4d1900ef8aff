"""spec.persistentVolumeClaimRetentionPolicy of a StatefulSet, as ownerReferences on its pods' claims.

The controller never deletes a claim itself: as upstream, it gives the claim a controller reference to
whatever should take it along, and the garbage collector does the rest. whenDeleted: Delete makes the set
an owner of every claim of an in-range pod; whenScaled: Delete makes a pod beyond the replica count the
owner of its claims, so they go when it goes. Retain for both leaves claims without our references.
A claim another controller controls, or that names an earlier set or pod of the same name, is left alone.
"""

from __future__ import annotations

import copy

from timoneiro.controllers.controller_ref import controller_ref
from timoneiro.controllers.stateful_pods import in_range

SET = ("apps/v1", "StatefulSet")
POD = ("v1", "Pod")
RETAIN, DELETE = "Retain", "Delete"


def retention_policy(sts: dict) -> tuple[str, str]:
    """(whenDeleted, whenScaled), Retain where unset."""
    policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
    return policy.get("whenDeleted") or RETAIN, policy.get("whenScaled") or RETAIN


def _refs(claim: dict) -> list[dict]:
    return claim["metadata"].get("ownerReferences") or []


def _names(ref: dict, obj: dict, type_: tuple[str, str]) -> bool:
    """Whether the reference is to an object of this type and name (whatever its uid)."""
    return (ref.get("apiVersion"), ref.get("kind")) == type_ and ref.get("name") == obj["metadata"].get("name")


def _uid(obj: dict) -> str:
    return obj["metadata"].get("uid") or ""


def has_owner(claim: dict, owner: dict) -> bool:
    return any(ref.get("uid") == _uid(owner) for ref in _refs(claim))


def has_stale_owner(claim: dict, obj: dict, type_: tuple[str, str]) -> bool:
    """Whether the claim names an object of this type and name with another uid (an earlier one)."""
    for ref in _refs(claim):
        if _names(ref, obj, type_):
            return ref.get("uid") != _uid(obj)
    return False


def has_unexpected_controller(claim: dict, sts: dict, pod: dict) -> bool:
    """Whether, under a policy that deletes, something other than this set and pod controls the claim (or
    a reference names them with an old uid)."""
    if retention_policy(sts) == (RETAIN, RETAIN):
        return False
    for ref in _refs(claim):
        for obj, type_ in ((sts, SET), (pod, POD)):
            if _names(ref, obj, type_):
                if ref.get("uid") != _uid(obj):
                    return True
                break
        else:
            if ref.get("controller"):
                return True
    return False


def _has_non_controller_reference(claim: dict, sts: dict, pod: dict) -> bool:
    return any(ref.get("uid") in (_uid(sts), _uid(pod)) and not ref.get("controller") for ref in _refs(claim))


def owners_up_to_date(claim: dict, sts: dict, pod: dict) -> bool:
    """Whether the claim's references to the set and pod are what the retention policy wants; a claim
    with stale references or another controller counts as up to date, so that it is not touched."""
    if has_stale_owner(claim, sts, SET) or has_stale_owner(claim, pod, POD):
        return True
    if has_unexpected_controller(claim, sts, pod):
        return not (has_owner(claim, sts) or has_owner(claim, pod))  # ours must go
    if _has_non_controller_reference(claim, sts, pod):
        return False
    want_set, want_pod = _wanted_owners(sts, pod)
    return has_owner(claim, sts) == want_set and has_owner(claim, pod) == want_pod


def _wanted_owners(sts: dict, pod: dict) -> tuple[bool, bool]:
    """Whether the claim should be owned by (the set, the pod)."""
    when_deleted, when_scaled = retention_policy(sts)
    scaled_down = not in_range(pod, sts)
    if when_scaled == DELETE and when_deleted == DELETE:
        return not scaled_down, scaled_down
    if when_scaled == DELETE and when_deleted == RETAIN:
        return False, scaled_down
    if when_scaled == RETAIN and when_deleted == DELETE:
        return True, False
    return False, False  # Retain for both, or a policy not known: kept as Retain


def with_owners(claim: dict, sts: dict, pod: dict) -> dict:
    """A copy of the claim with references to the set and pod as the retention policy wants (none but
    others' if another controller controls it)."""
    claim = copy.deepcopy(claim)
    unexpected = has_unexpected_controller(claim, sts, pod)
    refs = [r for r in _refs(claim) if not (_names(r, sts, SET) or _names(r, pod, POD))]
    if not unexpected:
        want_set, want_pod = _wanted_owners(sts, pod)
        if want_pod:
            refs.append(controller_ref(pod, *POD))
        if want_set:
            refs.append(controller_ref(sts, *SET))
    claim["metadata"]["ownerReferences"] = refs
    return claim
