"""Who owns which fields: managedFields entries, manager identities and ownership changes.

Follows apimachinery's managedfields package and structured-merge-diff's merge.Updater: a write
owns the fields it changes and takes them from every other manager; an applier owns what it applies.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from timoneiro.api import schema as openapi
from timoneiro.apiserver.fieldpath import (
    Path,
    decode_canonical,
    encode_fields,
    go_json,
    go_quote,
    recursive_difference,
    sorted_paths,
)
from timoneiro.apiserver.meta import now
from timoneiro.apiserver.structuredmerge import Type, compare

# Fields nobody owns (upstream's stripMetaManager): identity and bookkeeping, not content.
UNOWNED: frozenset[Path] = frozenset(
    [("f:apiVersion",), ("f:kind",), ("f:metadata",)]
    + [("f:metadata", "f:" + name) for name in ("name", "namespace", "creationTimestamp", "selfLink", "uid",
                                                "clusterName", "generation", "managedFields", "resourceVersion")])

MAX_UPDATE_MANAGERS = 10

# Go struct fields that are values, not pointers, so a freshly allocated object already has them.
_VALUE_STRUCTS = frozenset({"metadata", "spec", "status", "strategy", "updateStrategy", "template", "resources",
                            "jobTemplate", "loadBalancer", "daemonEndpoints", "nodeInfo"})


def now_rfc3339() -> str:
    return now()  # meta.now: formatted once a second


@dataclass(frozen=True)
class ManagerId:
    """What makes managedFields entries one: appliers are one entry whatever apiVersion they use."""

    manager: str
    operation: str
    api_version: str = ""
    subresource: str = ""

    @classmethod
    def of(cls, manager: str, operation: str, api_version: str, subresource: str = "") -> ManagerId:
        return cls(manager or "unknown", operation, "" if operation == "Apply" else api_version, subresource)

    @property
    def identifier(self) -> str:
        """Upstream's manager identifier (the entry as JSON without fields and time); orders managers."""
        parts = [("manager", self.manager), ("operation", self.operation), ("apiVersion", self.api_version),
                 ("subresource", self.subresource)]
        return "{" + ",".join(f"{go_json(k)}:{go_json(v)}" for k, v in parts if v) + "}"

    def describe(self) -> str:
        """The manager as conflict messages name it."""
        text = go_quote(self.manager)
        if self.subresource:
            text += f" with subresource {go_quote(self.subresource)}"
        return f"{text} using {self.api_version}" if self.operation == "Update" else text


@dataclass
class Owned:
    fields: set[Path] | frozenset[Path]
    api_version: str
    applied: bool
    # The FieldsV1 object `fields` was decoded from, when encoding `fields` gives it back: while `fields`
    # is still that (immutable) set, encode() keeps the object rather than encode the set again.
    encoded: dict | None = field(default=None, compare=False, repr=False)
    encoded_fields: frozenset[Path] | None = field(default=None, compare=False, repr=False)

    def fields_v1(self) -> dict[str, Any]:
        if self.encoded is not None and self.fields is self.encoded_fields:
            return self.encoded
        return encode_fields(self.fields)


class Conflicts(Exception):
    """Fields an applier would change that other managers own: (manager, path) pairs in upstream order."""

    def __init__(self, clashes: dict[ManagerId, set[Path]]) -> None:
        self.conflicts = [(who, path) for who in sorted(clashes, key=lambda m: m.identifier)
                          for path in sorted_paths(clashes[who])]
        super().__init__(f"{len(self.conflicts)} conflicts")


def _seconds(time: str | None) -> float:
    if time.__class__ is str:
        return _seconds_of(time)
    try:
        return datetime.fromisoformat(time).timestamp() if time else 0
    except ValueError:
        return 0


@functools.lru_cache(maxsize=4096)
def _seconds_of(time: str) -> float:
    try:
        return datetime.fromisoformat(time).timestamp() if time else 0
    except ValueError:
        return 0


@dataclass
class Managed:
    """The decoded managedFields of an object."""

    owners: dict[ManagerId, Owned] = field(default_factory=dict)
    times: dict[ManagerId, str | None] = field(default_factory=dict)

    @classmethod
    def decode(cls, entries: Any) -> Managed:
        """Decode managedFields; ValueError with upstream's reasons when an entry is not valid."""
        managed = cls()
        if entries is None:
            return managed
        if not isinstance(entries, list):
            raise ValueError("managedFields must be a list")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ValueError(f"managed fields entry {i} must be an object")
            operation = entry.get("operation")
            if operation not in ("Apply", "Update"):
                raise ValueError("operation must be `Apply` or `Update`")
            api_version = entry.get("apiVersion")
            if not api_version:
                raise ValueError("apiVersion must not be empty")
            fields_type = entry.get("fieldsType")
            if not fields_type:
                raise ValueError(f"missing fieldsType in managed fields entry {i}")
            if fields_type != "FieldsV1":
                raise ValueError(f"invalid fieldsType {go_quote(str(fields_type))} in managed fields entry {i}")
            raw = entry.get("fieldsV1")
            try:
                decoded, canonical = decode_canonical(raw or {})
            except ValueError as err:
                raise ValueError(f"error decoding versioned set from entry {i}: {err}") from None
            who = ManagerId(entry.get("manager") or "", operation, "" if operation == "Apply" else api_version,
                            entry.get("subresource") or "")
            fields = frozenset(decoded)
            if canonical and isinstance(raw, dict):
                managed.owners[who] = Owned(fields, api_version, operation == "Apply", raw, fields)
            else:
                managed.owners[who] = Owned(fields, api_version, operation == "Apply")
            managed.times[who] = entry.get("time")
        return managed

    def encode(self) -> list[dict] | None:
        """managedFields entries in upstream's order (appliers first, then oldest first); None if none."""
        entries = []
        for who, owned in self.owners.items():
            entry: dict[str, Any] = {"manager": who.manager} if who.manager else {}
            entry["operation"] = "Apply" if owned.applied else who.operation
            entry["apiVersion"] = owned.api_version
            if self.times.get(who):
                entry["time"] = self.times[who]
            entry["fieldsType"] = "FieldsV1"
            entry["fieldsV1"] = owned.fields_v1()
            if who.subresource:
                entry["subresource"] = who.subresource
            entries.append(entry)
        entries.sort(key=lambda e: (e["operation"], int(_seconds(e.get("time"))), e.get("manager", ""),
                                    e["apiVersion"], e.get("subresource", "")))
        return entries or None


def is_reset(entries: Any) -> bool:
    """Whether a client sent managedFields to clear them: [] or [{}]."""
    return entries == [] or (isinstance(entries, list) and len(entries) == 1 and isinstance(entries[0], dict)
                             and not any(entries[0].values()))


def take_changes(managed: Managed, live: Any, new: Any, t: Type, writer: ManagerId | None, force: bool,
                 reset: set[Path]) -> tuple[set[Path], set[Path]]:
    """Take the fields going from `live` to `new` changes from every manager but `writer`.

    Raises Conflicts instead, unless `force`, when a changed field is owned by another manager.
    Returns the (added or modified, removed) fields, less the `reset` ones nobody may own.
    """
    diff = compare(live, new, t)
    changed = recursive_difference(diff.added | diff.modified, reset)
    removed = recursive_difference(diff.removed, reset)
    clashes = {who: owned.fields & changed for who, owned in managed.owners.items() if who != writer}
    clashes = {who: paths for who, paths in clashes.items() if paths}
    if clashes and not force:
        raise Conflicts(clashes)
    for who, owned in list(managed.owners.items()):
        if who != writer and (who in clashes or not removed.isdisjoint(owned.fields)):
            owned.fields = owned.fields - clashes.get(who, set()) - removed
        if not owned.fields:
            del managed.owners[who]
    return changed, removed


def record_update(managed: Managed, live: Any, new: Any, t: Type, writer: ManagerId, api_version: str,
                  reset: set[Path], now: str) -> None:
    """An update owns what it changed, merged into the writer's earlier entry (and is timestamped)."""
    changed, _ = take_changes(managed, live, new, t, None, True, reset)
    fields = changed - UNOWNED
    if not fields:
        return
    previous = managed.owners.get(writer)
    if previous is None:
        managed.owners[writer] = Owned(fields, api_version, False)
    else:
        fields |= previous.fields
        before = previous.encoded_fields
        if before is not None and fields == before:  # what it owned already (a controller writing status)
            managed.owners[writer] = Owned(before, api_version, False, previous.encoded, before)
        else:
            managed.owners[writer] = Owned(fields, api_version, False)
    managed.times[writer] = now


def cap_update_managers(managed: Managed) -> None:
    """Fold the oldest update entries into "ancient-changes" once there are more than ten."""
    updaters = [who for who, owned in managed.owners.items() if not owned.applied]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda who: (int(_seconds(managed.times.get(who))), who.identifier))
    first_of_version: dict[str, ManagerId] = {}
    count = len(updaters)
    for who in updaters:
        if count <= MAX_UPDATE_MANAGERS:
            break
        owned = managed.owners[who]
        bucket = ManagerId("ancient-changes", "Update", owned.api_version)
        if owned.api_version not in first_of_version:
            first_of_version[owned.api_version] = who
            continue
        if bucket not in managed.owners:
            managed.owners[bucket] = managed.owners.pop(first_of_version[owned.api_version])
        managed.owners[bucket] = Owned(owned.fields | managed.owners[bucket].fields, owned.api_version, False)
        del managed.owners[who]
        managed.times[bucket] = managed.times.get(who)
        count -= 1


def zero_object(schema: dict | None, api_version: str, kind: str) -> dict:
    """What upstream compares a create against: a newly allocated object, as JSON.

    A built-in kind is a Go struct, so its value-struct fields and fields without omitempty are there
    while still empty; a custom resource starts from its apiVersion and kind alone.
    """
    return copy.deepcopy(shared_zero_object(schema, api_version, kind))


_ZERO_STRUCTS: dict[int, tuple[dict, dict]] = {}


def shared_zero_object(schema: dict | None, api_version: str, kind: str) -> dict:
    """zero_object, but sharing its parts with other calls' (so not to be changed), as comparing
    against it does not change it."""
    zero: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    if schema and "x-kubernetes-group-version-kind" in schema:
        found = _ZERO_STRUCTS.get(id(schema))
        if found is None or found[0] is not schema:
            if len(_ZERO_STRUCTS) >= 256:
                _ZERO_STRUCTS.clear()
            found = _ZERO_STRUCTS[id(schema)] = (schema, _zero_struct(schema, frozenset()))
        zero.update(found[1])
    return zero


def _zero_struct(schema: dict, seen: frozenset[int]) -> dict:
    resolved = openapi.resolve(schema) or {}
    required = set(resolved.get("required", ()))
    out: dict[str, Any] = {}
    for name, prop in (resolved.get("properties") or {}).items():
        target = openapi.resolve(prop) or {}
        if "properties" in target and (name in required or name in _VALUE_STRUCTS) and id(target) not in seen:
            out[name] = _zero_struct(prop, seen | {id(target)})
        elif name in required:
            out[name] = None
    return out
