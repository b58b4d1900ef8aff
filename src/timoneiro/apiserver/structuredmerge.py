"""Objects read against their schema, as structured-merge-diff's typed package reads them.

The schema is OpenAPI with Kubernetes' extensions (a built-in definition or a CRD's
openAPIV3Schema). Atomic lists and maps are single fields; granular maps hold one field per key;
lists of type set or map hold items addressed by value or by their keys. Lists with a patch merge
key and no list type count as maps keyed by it, other lists without a list type are atomic, and
parts without a schema are granular maps and atomic lists, as upstream's schema conversion has it.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from timoneiro.api import schema as openapi
from timoneiro.apiserver.fieldpath import (
    Path,
    PathTree,
    field_token,
    go_quote,
    key_token,
    path_tree,
    render_path,
    value_token,
)

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# List-map keys whose defaults upstream's OpenAPI carries but the bundled schemas drop.
_KEY_DEFAULTS = {
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.ServicePort", "protocol"): "TCP",
}


class StructureError(ValueError):
    """An object that does not fit its schema, e.g. a keyed list item that has none of the keys."""


class _Missing:
    """Marks a field absent on one side of a comparison or merge (null is a value)."""


MISSING: Any = _Missing()


@dataclass(frozen=True, eq=False)
class Type:
    """The schema at one place in an object; `raw` None means no schema (anything goes)."""

    raw: dict | None = None
    preserve: bool = False
    root: bool = False
    _children: dict = field(default_factory=dict, repr=False)

    @functools.cached_property
    def schema(self) -> dict:
        return openapi.resolve(self.raw) or {}

    def kind(self, value: Any) -> str:
        """How to read `value` here: "map", "list" or "scalar" (null goes by the schema)."""
        if isinstance(value, dict):
            return "map"
        if isinstance(value, list):
            return "list"
        if value is not None:
            return "scalar"
        typ = self.schema.get("type")
        if isinstance(typ, list):
            typ = typ[0] if typ else None
        if typ == "array":
            return "list"
        return "scalar" if typ in ("string", "integer", "number", "boolean") else "map"

    @functools.cached_property
    def atomic_map(self) -> bool:
        own = (self.raw or {}).get("x-kubernetes-map-type")
        return (own or self.schema.get("x-kubernetes-map-type")) == "atomic"

    @functools.cached_property
    def list_keys(self) -> tuple[str, ...] | None:
        """None for an atomic list, () for a set, else the keys of a map list."""
        info = openapi.list_info(self.raw) or openapi.list_info(self.schema)
        list_type = info.get("list-type")
        if list_type == "set":
            return ()
        if list_type == "map":
            return tuple(info.get("list-map-keys", ()))
        if list_type is None and info.get("patch-strategy") in ("merge", "merge,retainKeys"):
            key = info.get("patch-merge-key")
            return (key,) if key else ()
        return None

    @functools.cached_property
    def item(self) -> Type:
        return Type(openapi.items(self.raw), self.preserve)

    def child(self, name: str) -> tuple[Type, bool]:
        """The type of map member `name`, and whether it is a declared field rather than an entry."""
        if name not in self._children:
            self._children[name] = self._child(name)
        return self._children[name]

    def _child(self, name: str) -> tuple[Type, bool]:
        if self.root and name == "metadata":
            return Type(openapi.definitions()[OBJECT_META]), True
        preserve = self.preserve or self.schema.get("x-kubernetes-preserve-unknown-fields") is True
        props = self.schema.get("properties") or {}
        if name in props:
            return Type(props[name], preserve), True
        extra = self.schema.get("additionalProperties")
        return Type(extra if isinstance(extra, dict) else None, preserve), False

    def allows(self, name: str) -> bool:
        """Whether a map here may hold `name` (else: "field not declared in schema")."""
        props = self.schema.get("properties")
        if self.raw is None or not props or name in props:
            return True
        if self.root and name in ("apiVersion", "kind", "metadata"):
            return True
        return (self.schema.get("additionalProperties") not in (None, False) or self.preserve
                or self.schema.get("x-kubernetes-preserve-unknown-fields") is True)

    def item_token(self, item: Any) -> str:
        """The path element of an item of this (set or map) list."""
        keys = self.list_keys
        if not keys:
            if isinstance(item, dict):
                raise StructureError("associative list without keys has an element that's a map type")
            if isinstance(item, list):
                raise StructureError("not supported: associative list with lists as elements")
            if item is None:
                raise StructureError("associative list without keys has an element that's an explicit null")
            return value_token(item)
        if item is None:
            raise StructureError("associative list with keys may not have a null element")
        if not isinstance(item, dict):
            raise StructureError("associative list with keys may not have non-map elements")
        key = {}
        for name in keys:
            value = item[name] if name in item else self._key_default(name)
            if value is not None:
                key[name] = value
        if not key:
            names = "[" + " ".join(go_quote(k) for k in keys) + "]"
            raise StructureError(f"associative list with keys has an element that omits all key fields {names} "
                                 "(and doesn't have default values for any key fields)")
        return key_token(key)

    def _key_default(self, name: str) -> Any:
        prop = (self.item.schema.get("properties") or {}).get(name) or {}
        if "default" in prop:
            return prop["default"]
        ref = (openapi.items(self.raw) or {}).get("$ref", "")
        return _KEY_DEFAULTS.get((ref.rsplit("/", 1)[-1], name))


def root_type(schema: dict | None) -> Type:
    return Type(schema, root=True)


def _item_tokens(t: Type, items: list, path: Path) -> list[str]:
    tokens = []
    for i, item in enumerate(items):
        try:
            tokens.append(t.item_token(item))
        except StructureError as err:
            raise StructureError(f"{render_path(path)}: element {i}: {err}") from None
    return tokens


def same_value(a: Any, b: Any) -> bool:
    """JSON equality (true is not 1, 1 is 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_value, a, b))
    if isinstance(a, (int, float)):
        return isinstance(b, (int, float)) and a == b
    return type(a) is type(b) and a == b


def field_set(value: Any, t: Type) -> set[Path]:
    """The fields `value` sets: leaves, atomic parts, list items, empty or null maps, map entries."""
    out: set[Path] = set()
    _collect(value, t, (), out)
    return out


def _collect(value: Any, t: Type, path: Path, out: set[Path]) -> None:
    kind = t.kind(value)
    if kind == "map" and not t.atomic_map:
        for name, child in (value if isinstance(value, dict) else {}).items():
            child_type, declared = t.child(name)
            child_path = path + (field_token(name),)
            _collect(child, child_type, child_path, out)
            if child is None or child == {} or not declared:
                out.add(child_path)
    elif kind == "list" and t.list_keys is not None:
        items = value if isinstance(value, list) else []
        tokens = _item_tokens(t, items, path)
        duplicates = {tok for tok, n in Counter(tokens).items() if n > 1}
        out.update(path + (tok,) for tok in duplicates)  # a duplicated item is owned as a whole
        for tok, item in zip(tokens, items, strict=True):
            if tok not in duplicates:
                _collect(item, t.item, path + (tok,), out)
                out.add(path + (tok,))
    elif path:
        out.add(path)


def validate(value: Any, t: Type) -> list[str]:
    """Why `value` cannot be applied: undeclared fields, keyless or duplicate list items."""
    errors: list[str] = []
    _validate(value, t, "", errors)
    return errors


def _validate(value: Any, t: Type, where: str, errors: list[str]) -> None:
    kind = t.kind(value)
    if kind == "map" and isinstance(value, dict):
        for name, child in value.items():
            if not t.allows(name):
                errors.append(f"{where}.{name}: field not declared in schema")
                break
            _validate(child, t.child(name)[0], f"{where}.{name}", errors)
    elif kind == "list" and isinstance(value, list):
        seen: set[str] = set()
        for i, item in enumerate(value):
            if t.list_keys is None:
                label = f"[{i}]"
            else:
                try:
                    token = t.item_token(item)
                except StructureError as err:
                    errors.append(f"{where}: element {i}: {err}" if where else f"element {i}: {err}")
                    return
                label = render_path((token,))
                if token in seen:
                    errors.append(f"{where}: duplicate entries for key {label}")
                seen.add(token)
            _validate(item, t.item, where + label, errors)


@dataclass
class Comparison:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)


def compare(lhs: Any, rhs: Any, t: Type) -> Comparison:
    """Which fields going from `lhs` to `rhs` adds, modifies and removes."""
    out = Comparison()
    _compare(lhs, rhs, t, (), out)
    return out


def _compare(lhs: Any, rhs: Any, t: Type, path: Path, out: Comparison) -> None:
    if rhs is MISSING:
        leaf = _compare_as(t.kind(lhs), lhs, rhs, t, path, out)
    elif lhs is MISSING or t.kind(lhs) == t.kind(rhs):
        leaf = _compare_as(t.kind(rhs), lhs, rhs, t, path, out)
    else:
        _compare_as(t.kind(lhs), lhs, rhs, t, path, out)
        leaf = _compare_as(t.kind(rhs), lhs, rhs, t, path, out)
    if not leaf and path:
        if lhs is MISSING:
            out.added.add(path)
        elif rhs is MISSING:
            out.removed.add(path)


def _compare_as(kind: str, lhs: Any, rhs: Any, t: Type, path: Path, out: Comparison) -> bool:
    """Compare as a map, list or scalar; True when the node was compared as a single leaf."""
    if kind == "map":
        left = lhs if isinstance(lhs, dict) else {}
        right = rhs if isinstance(rhs, dict) else {}
        if t.atomic_map or not (left or right):
            _compare_leaf(lhs, rhs, path, out)
            return True
        for name in {**left, **right}:
            _compare(left.get(name, MISSING), right.get(name, MISSING), t.child(name)[0],
                     path + (field_token(name),), out)
        return False
    if kind == "list":
        left = lhs if isinstance(lhs, list) else []
        right = rhs if isinstance(rhs, list) else []
        if t.list_keys is None or not (left or right):
            _compare_leaf(lhs, rhs, path, out)
            return True
        _compare_items(left, right, t, path, out)
        return False
    _compare_leaf(lhs, rhs, path, out)
    return True


def _compare_leaf(lhs: Any, rhs: Any, path: Path, out: Comparison) -> None:
    if not path:
        return
    if lhs is MISSING:
        out.added.add(path)
    elif rhs is MISSING:
        out.removed.add(path)
    elif not same_value(lhs, rhs):
        out.modified.add(path)


def _group(t: Type, items: list, path: Path) -> dict[str, list]:
    groups: dict[str, list] = {}
    for token, item in zip(_item_tokens(t, items, path), items, strict=True):
        groups.setdefault(token, []).append(item)
    return groups


def _compare_items(lhs: list, rhs: list, t: Type, path: Path, out: Comparison) -> None:
    left, right = _group(t, lhs, path), _group(t, rhs, path)
    for token in {**left, **right}:
        lv, rv = left.get(token, []), right.get(token, [])
        item_path = path + (token,)
        if len(lv) <= 1 and len(rv) <= 1:
            _compare(lv[0] if lv else MISSING, rv[0] if rv else MISSING, t.item, item_path, out)
        elif len(lv) >= 2 and len(rv) >= 2:
            if not same_value(lv, rv):
                out.modified.add(item_path)
        elif len(lv) >= 2:
            if rv:
                _compare(MISSING, rv[0], t.item, item_path, out)
            out.removed.add(item_path)
        else:
            if lv:
                _compare(lv[0], MISSING, t.item, item_path, out)
            out.added.add(item_path)


def merge(lhs: Any, rhs: Any, t: Type) -> Any:
    """`rhs` (applied configuration) merged over `lhs` (the live object); shares parts of both."""
    return _merge(lhs, rhs, t, ())


def _merge(lhs: Any, rhs: Any, t: Type, path: Path) -> Any:
    if rhs is MISSING:
        return lhs
    if lhs is MISSING or t.kind(lhs) != t.kind(rhs):
        return rhs
    kind = t.kind(rhs)
    if kind == "map":
        left = lhs if isinstance(lhs, dict) else {}
        right = rhs if isinstance(rhs, dict) else {}
        if t.atomic_map or not (left or right):
            return rhs
        return {name: _merge(left.get(name, MISSING), right.get(name, MISSING), t.child(name)[0],
                             path + (field_token(name),))
                for name in {**left, **right}}
    if kind == "list":
        left = lhs if isinstance(lhs, list) else []
        right = rhs if isinstance(rhs, list) else []
        if t.list_keys is None or not (left or right):
            return rhs
        return _merge_items(left, right, t, path)
    return rhs


def _merge_items(lhs: list, rhs: list, t: Type, path: Path) -> list:
    """Merge keyed items: applied items in applied order, live-only items kept where they were."""
    rhs_tokens, lhs_tokens = _item_tokens(t, rhs, path), _item_tokens(t, lhs, path)
    rhs_items: dict[str, Any] = {}
    for token, item in zip(rhs_tokens, rhs, strict=True):
        if token in rhs_items:
            raise StructureError(f"{render_path(path)}: duplicate entries for key {render_path((token,))}")
        rhs_items[token] = item
    lhs_items: dict[str, Any] = {}
    for token, item in zip(lhs_tokens, lhs, strict=True):
        lhs_items[token] = None if token in lhs_items else item  # duplicates merge as null
    shared = iter([token for token in rhs_tokens if token in lhs_items])
    next_shared = next(shared, None)
    done: set[str] = set()
    out = []

    def take(token: str) -> None:
        done.add(token)
        out.append(_merge(lhs_items.get(token, MISSING), rhs_items[token], t.item, path + (token,)))

    li = ri = 0
    while li < len(lhs_tokens) or ri < len(rhs_tokens):
        if li < len(lhs_tokens) and ri < len(rhs_tokens):
            token = lhs_tokens[li]
            if token == rhs_tokens[ri]:
                take(token)
                li, ri = li + 1, ri + 1
                next_shared = next(shared, None)
                continue
            if token in rhs_items and next_shared is not None and next_shared != token:
                li += 1
                continue
        if li < len(lhs_tokens):
            token = lhs_tokens[li]
            if token not in rhs_items:
                out.append(lhs[li])
                li += 1
                continue
            if token in done:
                li += 1
        if ri < len(rhs_tokens):
            token = rhs_tokens[ri]
            take(token)
            ri += 1
            if next_shared == token:
                next_shared = next(shared, None)
    return out


def remove_items(value: Any, paths: set[Path], t: Type) -> Any:
    """`value` without the fields in `paths`; maps and lists left empty become null."""
    result = _remove(value, path_tree(paths), t)
    return {} if result is None else result


def _remove(value: Any, tree: PathTree, t: Type) -> Any:
    kind = t.kind(value)
    if kind == "scalar":
        return value
    if kind == "list":
        if not isinstance(value, list) or not value or t.list_keys is None:
            return None
        items = []
        for token, item in zip(_item_tokens(t, value, ()), value, strict=True):
            member, below = tree.get(token, (False, None))
            if not member:
                items.append(_remove(item, below, t.item) if below else item)
        return items or None
    if not isinstance(value, dict) or not value or t.atomic_map:
        return None
    out = {}
    for name, child in value.items():
        member, below = tree.get(field_token(name), (False, None))
        if not member:
            out[name] = _remove(child, below, t.child(name)[0]) if below else child
    return out or None


def with_field_parents(paths: set[Path], t: Type) -> set[Path]:
    """`paths` plus each declared field above one of them (upstream EnsureNamedFieldsAreMembers)."""
    out = set(paths)
    for path in paths:
        current = t
        for i, token in enumerate(path[:-1]):
            if token.startswith("f:"):
                current, declared = current.child(token[2:])
                if declared:
                    out.add(path[: i + 1])
            elif token.startswith("k:"):
                current = current.item
            else:
                break
    return out
