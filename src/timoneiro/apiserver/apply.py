"""Server-side apply: merge an applied configuration into the live object, as kube-apiserver does.

The applier comes to own exactly the fields of its configuration; fields it applied before and no
longer applies are removed unless another manager owns them; changing a field another manager owns
is a conflict unless forced. kubectl (manager "kubectl") may override fields that its client-side
last-applied configuration still holds, and that annotation is kept up to date, as upstream does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from timoneiro.apiserver.errors import APIError, bad_request
from timoneiro.apiserver.fieldpath import Path, field_token, go_json, recursive_difference, render_path
from timoneiro.apiserver.ownership import (
    UNOWNED,
    Conflicts,
    Managed,
    ManagerId,
    Owned,
    now_rfc3339,
    record_update,
    shared_zero_object,
    take_changes,
)
from timoneiro.apiserver.structuredmerge import (
    StructureError,
    Type,
    compare,
    field_set,
    field_set_with_parents,
    merge,
    remove_items,
    root_type,
    same_value,
    validate,
    with_field_parents,
)

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_MAX_ANNOTATIONS_BYTES = 256 * 1024


class ApplyConflict(APIError):
    """409 Conflict: fields the applier would change are owned by other managers."""

    def __init__(self, message: str, causes: list[dict]) -> None:
        super().__init__(409, "Conflict", message, {"causes": causes})
        self.causes = causes


def _conflict_error(conflicts: list[tuple[ManagerId, Path]]) -> ApplyConflict:
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {who.describe()}",
               "field": render_path(path)} for who, path in conflicts]
    if len(conflicts) == 1:
        who, path = conflicts[0]
        return ApplyConflict(f"Apply failed with 1 conflict: conflict with {who.describe()}: {render_path(path)}",
                             causes)
    lines = []
    for who, path in conflicts:
        if not lines or lines[-1][0] != who:
            lines.append((who, []))
        lines[-1][1].append(f"- {render_path(path)}")
    text = "\n".join(f"conflicts with {who.describe()}:\n" + "\n".join(paths) for who, paths in lines)
    return ApplyConflict(f"Apply failed with {len(conflicts)} conflicts: {text}", causes)


def _internal(message: str) -> APIError:
    """Errors upstream returns unwrapped, which kube-apiserver answers with a 500 and no reason."""
    return APIError(500, "", message)


def _gvk(obj: dict) -> tuple[str, str, str]:
    api_version = obj.get("apiVersion") if isinstance(obj.get("apiVersion"), str) else ""
    kind = obj.get("kind") if isinstance(obj.get("kind"), str) else ""
    if api_version.count("/") > 1:
        return "", "", ""
    group, _, version = api_version.rpartition("/")
    return group, version, kind


def _describe(obj: dict) -> str:
    """An object as upstream names it in apply errors: namespace/name; group/version, Kind=kind."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    group, version, kind = _gvk(obj)
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}; {group}/{version}, Kind={kind}"


def apply(live: dict | None, applied: dict, manager: str, api_version: str, schema: dict | None, force: bool,
          now: str | None = None, *, kind: str | None = None, name: str | None = None, subresource: str = "",
          reset_fields: Iterable[Sequence[str]] = ()) -> dict:
    """The object after `manager` applies `applied` to `live` (None: create it), with managedFields.

    `kind` is the endpoint's kind (default: the live object's), `name` the name in the URL (checked
    when given), `reset_fields` the field paths the endpoint's strategy resets (such as ("status",) on
    the main resource), which nobody comes to own. Raises ApplyConflict, or APIError as upstream.
    """
    if not isinstance(applied, dict):
        raise bad_request("error decoding patch: the apply configuration must be an object")
    expected = kind or (live or {}).get("kind") or applied.get("kind")
    if applied.get("apiVersion") != api_version or applied.get("kind") != expected:
        group, version, applied_kind = _gvk(applied)
        raise bad_request(f"invalid object type: {group}/{version}, Kind={applied_kind}")
    t = root_type(schema)
    now = now or now_rfc3339()
    reset = {tuple(field_token(part) for part in path) for path in reset_fields}
    try:
        obj, managed = _apply(live, applied, manager, api_version, t, force, now, subresource, reset)
    except Conflicts as err:
        excused = _excused_by_last_applied(live, t, api_version) if manager == "kubectl" else set()
        remaining = [(who, path) for who, path in err.conflicts if path not in excused]
        if remaining:
            raise _conflict_error(remaining) from None
        obj, managed = _apply(live, applied, manager, api_version, t, True, now, subresource, reset)
    obj = _without_new_nulls(obj, live)
    if manager == "kubectl":
        _record_last_applied(obj, applied)
    meta = obj.setdefault("metadata", {})
    entries = managed.encode()
    if entries:
        meta["managedFields"] = entries
    else:
        meta.pop("managedFields", None)
    if name is not None and meta.get("name", "") != name:
        raise bad_request(f"the name of the object ({meta.get('name', '')}) does not match the name on the URL "
                          f"({name})")
    return obj


def _apply(live: dict | None, applied: dict, manager: str, api_version: str, t: Type, force: bool, now: str,
           subresource: str, reset: set[Path]) -> tuple[dict, Managed]:
    base = live if live is not None else {}
    try:
        managed = Managed.decode((base.get("metadata") or {}).get("managedFields"))
    except ValueError as err:
        raise _internal(f"failed to decode managed fields: {err}") from None
    try:
        if not managed.owners and live is not None:  # fields set before anyone tracked them
            zero = shared_zero_object(t.raw, api_version, live.get("kind", ""))
            record_update(managed, zero, live, t, ManagerId.of("before-first-apply", "Update", api_version,
                                                               subresource), api_version, reset, now)
    except StructureError as err:
        raise _internal(f"failed to create manager for existing fields: {err}") from None
    if (applied.get("metadata") or {}).get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    errors = validate(applied, t)
    if errors:
        detail = errors[0] if len(errors) == 1 else "errors:\n  " + "\n  ".join(errors)
        raise _internal(f"failed to create typed patch object ({_describe(applied)}): {detail}")
    applier = ManagerId.of(manager, "Apply", api_version, subresource)
    try:
        merged = merge(base, applied, t)
        last = managed.owners.get(applier)
        managed.owners[applier] = Owned(recursive_difference(field_set(applied, t), reset), api_version, True)
        new = _prune(merged, managed, last, t)
        take_changes(managed, base, new, t, applier, force, reset)
    except StructureError as err:
        raise _internal(f"failed to create typed live object ({_describe(base)}): {err}") from None
    owned = managed.owners.get(applier)
    if owned:
        owned.fields -= UNOWNED
        if not owned.fields:
            del managed.owners[applier]
    if same_value(base, new):  # nothing changed: the applier's entry keeps its time
        return base, managed
    managed.times[applier] = now
    return new, managed


def _prune(merged: dict, managed: Managed, last: Owned | None, t: Type) -> dict:
    """Remove what the applier applied last time and no longer does, unless someone else owns it."""
    if last is None or not last.fields:
        return merged
    last_fields = with_field_parents(last.fields, t)
    pruned = remove_items(merged, last_fields, t)
    owned = set().union(*(o.fields for o in managed.owners.values()))
    merged_fields = field_set_with_parents(merged, t)
    kept = field_set_with_parents(pruned, t) | with_field_parents(owned, t)
    if not merged_fields - kept:  # nothing to prune, so nothing dangles either
        return remove_items(merged, set(), t)
    pruned = remove_items(merged, merged_fields - kept, t)
    dangling = (merged_fields - field_set_with_parents(pruned, t)) & last_fields
    return remove_items(merged, dangling, t)


def _excused_by_last_applied(live: dict | None, t: Type, api_version: str) -> set[Path]:
    """Conflicts kubectl may override: fields of its last client-side apply, still as it left them."""
    annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
    try:
        last = _json_object(annotations.get(LAST_APPLIED))
        if last.get("apiVersion") != api_version or validate(last, t):
            return set()
        diff = compare(last, live, t)
        return field_set(last, t) - diff.modified - diff.added - diff.removed
    except (ValueError, TypeError):
        return set()


def _json_object(text: Any) -> dict:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def _record_last_applied(obj: dict, applied: dict) -> None:
    """Keep kubectl's last-applied annotation, when the object has one, equal to what was applied."""
    annotations = (obj.get("metadata") or {}).get("annotations")
    if not isinstance(annotations, dict) or not annotations.get(LAST_APPLIED):
        return
    config = dict(applied)
    config_meta = dict(config.get("metadata") or {})
    if isinstance(config_meta.get("annotations"), dict):
        config_meta["annotations"] = {k: v for k, v in config_meta["annotations"].items() if k != LAST_APPLIED}
        config["metadata"] = config_meta
    annotations[LAST_APPLIED] = go_json(config) + "\n"
    if sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items()) > _MAX_ANNOTATIONS_BYTES:
        del annotations[LAST_APPLIED]


def _without_new_nulls(value: Any, live: Any) -> Any:
    """A copy of `value` without the null map values that `live` did not hold: in upstream's Go
    objects a field applied as null, or left empty by pruning, is simply unset."""
    if isinstance(value, dict):
        before = live if isinstance(live, dict) else {}
        return {k: _without_new_nulls(v, before.get(k)) if isinstance(v, (dict, list)) else v
                for k, v in value.items() if v is not None or (k in before and before[k] is None)}
    if isinstance(value, list):
        return [_without_new_nulls(v, None) if isinstance(v, (dict, list)) else v for v in value]
    return value
