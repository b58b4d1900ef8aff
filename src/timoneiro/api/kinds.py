"""Kinds and the registry that the one generic request path serves them from.

A Kind says where a resource lives (group, version, plural, scope), how it is named in discovery,
and which Strategy shapes its objects on create and update. Adding a kind is one Kind(...) entry.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from timoneiro.api.field import FieldError

# metadata a status write may not change, per kind (upstream's status strategies' reset fields)
STATUS_RESET_METADATA: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("apps", "Deployment"): (("metadata", "labels"),),
    ("apps", "ReplicaSet"): (("metadata", "labels"),),
    ("apps", "StatefulSet"): (("metadata", "labels"),),
    ("apps", "DaemonSet"): (("metadata", "labels"),),
    ("", "Pod"): (("metadata", "ownerReferences"), ("metadata", "deletionTimestamp")),
}
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ScalePaths:
    """Where the scale subresource reads and writes replicas (the CRD scale subresource shape)."""

    spec_replicas: str = ".spec.replicas"
    status_replicas: str = ".status.replicas"
    label_selector: str | None = ".status.selector"


class Strategy:
    """Per-kind behaviour on the generic path; this base serves most kinds unchanged.

    The hooks mirror upstream's rest strategies: prepare (reset what a client may not set),
    default, validate, and the status split that keeps status out of main-resource writes.
    """

    def prepare_for_create(self, kind: Kind, obj: dict) -> None:
        if "status" in kind.subresources:
            obj.pop("status", None)
            initial = self.initial_status(kind, obj)
            if initial is not None:
                obj["status"] = initial
        if kind.generation:
            obj["metadata"]["generation"] = 1

    def initial_status(self, kind: Kind, obj: dict) -> dict | None:
        """The status a new object starts with: Go serializes an empty status struct as {}."""
        return {}

    def prepare_for_update(self, kind: Kind, new: dict, old: dict) -> None:
        if "status" in kind.subresources:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if kind.generation:
            gen = old["metadata"].get("generation", 1)
            new["metadata"]["generation"] = gen + 1 if self.spec_changed(new, old) else gen

    def spec_changed(self, new: dict, old: dict) -> bool:
        """Whether a write changed what the generation counts: all but metadata and status."""
        keys = (set(new) | set(old)) - {"metadata", "status", "apiVersion", "kind"}
        return any(new.get(k) != old.get(k) for k in keys)

    def prepare_for_status_update(self, kind: Kind, new: dict, old: dict) -> dict:
        """A status write keeps everything but status and metadata as it was (upstream's status strategies
        reset the spec); metadata the status strategy resets comes from the old object too."""
        out = {k: v for k, v in new.items() if k in ("apiVersion", "kind", "metadata", "status")}
        for key, value in old.items():
            if key not in ("apiVersion", "kind", "metadata", "status"):
                out[key] = value
        if "status" not in new and "status" in old:
            out["status"] = old["status"]
        for path in kind.reset_fields("status"):
            if path[0] == "metadata" and len(path) == 2:
                if path[1] in old["metadata"]:
                    out["metadata"][path[1]] = old["metadata"][path[1]]
                else:
                    out["metadata"].pop(path[1], None)
        return out

    def create_on_update(self, kind: Kind) -> bool:
        """Whether a PUT of a missing object creates it (upstream's AllowCreateOnUpdate)."""
        return kind.kind in ("Endpoints", "Event", "Lease", "LimitRange")

    def unconditional_update(self, kind: Kind) -> bool:
        """Whether a PUT without a resourceVersion overwrites (upstream's AllowUnconditionalUpdate)."""
        return True

    def grace_period(self, kind: Kind, obj: dict, requested: int | None) -> int:
        """Seconds a deleted object lingers for its owner to finish (pods); 0 deletes at once."""
        return 0

    def holds_deletion(self, kind: Kind, obj: dict) -> bool:
        """Whether something besides metadata.finalizers keeps a deleted object (a namespace's spec)."""
        return False

    def prepare_for_delete(self, kind: Kind, obj: dict) -> None:
        """Changes made when an object is marked for deletion (a namespace turns Terminating)."""

    def default(self, kind: Kind, obj: dict) -> None:
        _defaults().apply(kind.group, kind.kind, obj)

    def validate(self, kind: Kind, obj: dict) -> list[FieldError]:
        return _validation().validate(kind, obj)

    def validate_update(self, kind: Kind, new: dict, old: dict) -> list[FieldError]:
        return _validation().validate_update(kind, new, old)

    def field_values(self, kind: Kind, obj: dict) -> dict[str, str]:
        """The fields a field selector may name for this kind."""
        meta = obj.get("metadata", {})
        values = {"metadata.name": meta.get("name", "")}
        if kind.namespaced:
            values["metadata.namespace"] = meta.get("namespace", "")
        for path in kind.selectable_fields:
            values[path] = _field_string(obj, path)
        return values


@functools.cache
def _defaults():
    """The defaulting package, imported on first use (it imports this module's types)."""
    return importlib.import_module("timoneiro.api.defaults")


@functools.cache
def _schema():
    return importlib.import_module("timoneiro.api.schema")


@functools.cache
def _validation():
    return importlib.import_module("timoneiro.api.validation")


def _field_string(obj: dict, path: str) -> str:
    value = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(eq=False)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    singular: str = ""
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    selectable_fields: tuple[str, ...] = ()
    scale: ScalePaths | None = None
    generation: bool = False
    storage_version: str = ""
    # where objects are kept, shared by every version and by aliases such as events.k8s.io Events
    storage_resource: str = ""
    strategy: Strategy = field(default_factory=Strategy)
    crd: dict | None = None
    # converts an object between this version and the storage version (None: only apiVersion changes)
    to_storage: Callable[[dict], dict] | None = None
    from_storage: Callable[[dict], dict] | None = None

    def __post_init__(self) -> None:
        self.singular = self.singular or self.kind.lower()
        self.storage_version = self.storage_version or self.api_version
        self.storage_resource = self.storage_resource or f"{self.group or 'core'}/{self.plural}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def storage_prefix(self) -> str:
        """Key prefix in the store; every version of a kind shares it."""
        return f"/{self.storage_resource}/"

    @property
    def qualified_kind(self) -> str:
        """How error messages name the kind: Pod, Deployment.apps."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def qualified_resource(self) -> str:
        """How NotFound and Conflict messages name the resource: pods, deployments.apps."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def object_schema(self) -> dict | None:
        """The schema decoding, patching and field tracking follow: upstream's, or the CRD version's."""
        if self.crd is None:
            return _schema().for_kind(self.group, self.version, self.kind)
        for v in self.crd.get("spec", {}).get("versions", []):
            if v.get("name") == self.version:
                return (v.get("schema") or {}).get("openAPIV3Schema")
        return None

    def reset_fields(self, subresource: str) -> list[tuple[str, ...]]:
        """Fields a write through this endpoint cannot set, so its writer never comes to own them."""
        if "status" not in self.subresources:
            return []
        if subresource == "status":
            return [("spec",), *STATUS_RESET_METADATA.get((self.group, self.kind), ())]
        return [("status",)]

    def key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix}{namespace}/{name}"
        return f"{self.storage_prefix}{name}"

    def list_prefix(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.storage_prefix}{namespace}/"
        return self.storage_prefix


class Registry:
    """Every kind the server knows, looked up by resource path or by kind."""

    def __init__(self, kinds: Iterable[Kind] = ()) -> None:
        self._by_resource: dict[tuple[str, str, str], Kind] = {}
        self._groups: dict[str, list[str]] = {}
        self.listeners: list[Callable[[], None]] = []
        for k in kinds:
            self.add(k, notify=False)

    def add(self, kind: Kind, notify: bool = True) -> None:
        self._by_resource[(kind.group, kind.version, kind.plural)] = kind
        versions = self._groups.setdefault(kind.group, [])
        if kind.version not in versions:
            versions.append(kind.version)
        if notify:
            self._changed()

    def remove_group_kinds(self, group: str, plural: str) -> None:
        for key in [k for k in self._by_resource if k[0] == group and k[2] == plural]:
            del self._by_resource[key]
        for version in list(self._groups.get(group, [])):
            if not any(k[0] == group and k[1] == version for k in self._by_resource):
                self._groups[group].remove(version)
        if group in self._groups and not self._groups[group]:
            del self._groups[group]
        self._changed()

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    def get(self, group: str, version: str, plural: str) -> Kind | None:
        return self._by_resource.get((group, version, plural))

    def kinds(self) -> list[Kind]:
        return list(self._by_resource.values())

    def groups(self) -> dict[str, list[str]]:
        """Group -> served versions, preferred first."""
        return {g: sorted(v, key=version_priority) for g, v in self._groups.items()}

    def in_group_version(self, group: str, version: str) -> list[Kind]:
        return [k for (g, v, _), k in self._by_resource.items() if g == group and v == version]

    def preferred(self, group: str, kind: str) -> Kind | None:
        versions = self.groups().get(group, [])
        for version in versions:
            for k in self.in_group_version(group, version):
                if k.kind == kind:
                    return k
        return None

    def by_kind(self, group: str, version: str, kind: str) -> Kind | None:
        for k in self.in_group_version(group, version):
            if k.kind == kind:
                return k
        return None


def version_priority(version: str) -> tuple:
    """Kubernetes' version order: GA > beta > alpha, higher numbers first, others last by name."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0, version)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, version)
