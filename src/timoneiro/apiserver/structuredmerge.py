"""Objects read against their schema, as structured-merge-diff's typed package reads them.

The schema is OpenAPI with Kubernetes' extensions (a built-in definition or a CRD's
openAPIV3Schema). Atomic lists and maps are single fields; granular maps hold one field per key;
lists of type set or map hold items addressed by value or by their keys. Lists with a patch merge
key and no list type count as maps keyed by it, other lists without a list type are atomic, and
parts without a schema are granular maps and atomic lists, as upstream's schema conversion has it.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from timoneiro.api import schema as openapi
from timoneiro.apiserver.fieldpath import (
    LruCache,
    Path,
    PathTree,
    field_token,
    go_json,
    go_quote,
    go_string,
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
    """The schema at one place in an object; `raw` None means no schema (anything goes).

    A Type caches what it derives from its schema, the types of its declared fields among them, and
    root_type keeps the type of each schema, so that reading an object against it is mostly lookups.
    """

    raw: dict | None = None
    preserve: bool = False
    root: bool = False
    _children: dict = field(default_factory=dict, repr=False)

    @functools.cached_property
    def schema(self) -> dict:
        return openapi.resolve(self.raw) or {}

    @functools.cached_property
    def null_kind(self) -> str:
        """How to read null here (it goes by the schema)."""
        typ = self.schema.get("type")
        if isinstance(typ, list):
            typ = typ[0] if typ else None
        if typ == "array":
            return "list"
        return "scalar" if typ in ("string", "integer", "number", "boolean") else "map"

    def kind(self, value: Any) -> str:
        """How to read `value` here: "map", "list" or "scalar" (null goes by the schema)."""
        if isinstance(value, dict):
            return "map"
        if isinstance(value, list):
            return "list"
        if value is not None:
            return "scalar"
        return self.null_kind

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

    @functools.cached_property
    def _extra(self) -> tuple[Type, bool]:
        """The type of the members that are not declared fields."""
        extra = self.schema.get("additionalProperties")
        return Type(extra if isinstance(extra, dict) else None, self._preserve_below), False

    @functools.cached_property
    def _preserve_below(self) -> bool:
        return self.preserve or self.schema.get("x-kubernetes-preserve-unknown-fields") is True

    @functools.cached_property
    def _properties(self) -> dict:
        return self.schema.get("properties") or {}

    def child(self, name: str) -> tuple[Type, bool]:
        """The type of map member `name`, and whether it is a declared field rather than an entry."""
        found = self._children.get(name)
        if found is not None:
            return found
        if name in self._properties or (self.root and name == "metadata"):
            found = self._children[name] = self._child(name)  # declared fields: bounded by the schema
            return found
        return self._extra

    def _child(self, name: str) -> tuple[Type, bool]:
        if self.root and name == "metadata":
            return Type(openapi.definitions()[OBJECT_META]), True
        props = self._properties
        if name in props:
            return Type(props[name], self._preserve_below), True
        return self._extra

    def allows(self, name: str) -> bool:
        """Whether a map here may hold `name` (else: "field not declared in schema")."""
        props = self.schema.get("properties")
        if self.raw is None or not props or name in props:
            return True
        if self.root and name in ("apiVersion", "kind", "metadata"):
            return True
        return (self.schema.get("additionalProperties") not in (None, False) or self.preserve
                or self.schema.get("x-kubernetes-preserve-unknown-fields") is True)

    @functools.cached_property
    def _key_names(self) -> tuple[tuple[str, str], ...]:
        """The list-map keys in the order a key token lists them, each with its JSON prefix."""
        return tuple((name, go_string(name) + ":") for name in sorted(set(self.list_keys or ())))

    @functools.cached_property
    def holds_items(self) -> bool:
        """Whether values here may hold set or map lists, whose items comparing them must key (and
        may find without keys). True when unsure, as for recursive schemas."""
        if self.list_keys is not None:
            return True
        if (self.raw is None and not self.root) or self.atomic_map:
            return False
        key = (id(self.raw), self.root)  # the answer goes by the schema: types of one schema share it
        found = _HOLDS_ITEMS.get(key)
        if found is not None and found[0] is self.raw:
            return found[1]
        if key in _VISITING:
            return True
        _VISITING.add(key)
        try:
            types = [self.child(name)[0] for name in self._properties] + [self._extra[0]]
            if self.root:
                types.append(self.child("metadata")[0])
            holds = any(t.holds_items for t in types)
        finally:
            _VISITING.discard(key)
        if len(_HOLDS_ITEMS) >= 65536:
            _HOLDS_ITEMS.clear()
        _HOLDS_ITEMS[key] = (self.raw, holds)  # the schema is held, so its id is not reused
        return holds

    @functools.cached_property
    def _single_key(self) -> tuple[str, str] | None:
        """The key of a list keyed by one field, and how its tokens start."""
        names = self._key_names
        return (names[0][0], "k:{" + names[0][1]) if len(names) == 1 else None

    def item_tokens(self, items: list) -> list[str]:
        """The path elements of the items of this (set or map) list (StructureError for the first
        that has none)."""
        keys = self.list_keys
        out = []
        if keys:
            single = self._single_key
            if single is not None:
                name, head = single
                for item in items:
                    if item.__class__ is dict and name in item and item[name].__class__ is str:
                        out.append(head + go_string(item[name]) + "}")
                    else:
                        out.append(self.item_token(item))
                return out
        else:
            for item in items:
                out.append("v:" + go_string(item) if item.__class__ is str else self.item_token(item))
            return out
        return list(map(self.item_token, items))

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
        parts = []
        for name, prefix in self._key_names:
            value = item[name] if name in item else self._key_default(name)
            if value is not None:
                parts.append(prefix + (go_string(value) if value.__class__ is str else go_json(value)))
        if not parts:
            names = "[" + " ".join(go_quote(k) for k in keys) + "]"
            raise StructureError(f"associative list with keys has an element that omits all key fields {names} "
                                 "(and doesn't have default values for any key fields)")
        return "k:{" + ",".join(parts) + "}"

    @functools.cached_property
    def _key_defaults(self) -> dict[str, Any]:
        return {}

    def _key_default(self, name: str) -> Any:
        defaults = self._key_defaults
        if name not in defaults:
            defaults[name] = self._find_key_default(name)
        return defaults[name]

    def _find_key_default(self, name: str) -> Any:
        prop = (self.item.schema.get("properties") or {}).get(name) or {}
        if "default" in prop:
            return prop["default"]
        ref = (openapi.items(self.raw) or {}).get("$ref", "")
        return _KEY_DEFAULTS.get((ref.rsplit("/", 1)[-1], name))


_VISITING: set[tuple[int, bool]] = set()  # schemas Type.holds_items is looking below
_HOLDS_ITEMS: dict[tuple[int, bool], tuple[dict | None, bool]] = {}
_NO_SCHEMA_ROOT = Type(None, root=True)
_ROOTS: dict[int, tuple[dict, Type]] = {}


def root_type(schema: dict | None) -> Type:
    """The type of objects of `schema` (the same Type for the same schema object, so that what it
    derives from the schema is derived once)."""
    if schema is None:
        return _NO_SCHEMA_ROOT
    found = _ROOTS.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    if len(_ROOTS) >= 256:
        _ROOTS.clear()
    t = Type(schema, root=True)
    _ROOTS[id(schema)] = (schema, t)  # the schema is held, so its id is not reused while cached
    return t


def _item_tokens(t: Type, items: list, path: Path) -> list[str]:
    try:
        return t.item_tokens(items)
    except StructureError:
        pass
    for i, item in enumerate(items):  # again, to name the first item that has no token
        try:
            t.item_token(item)
        except StructureError as err:
            raise StructureError(f"{render_path(path)}: element {i}: {err}") from None
    raise AssertionError("unreachable")


def same_value(a: Any, b: Any) -> bool:
    """JSON equality (true is not 1, 1 is 1.0)."""
    if isinstance(a, (dict, list)) and isinstance(b, (dict, list)):
        if a != b:  # == holds wherever JSON equality does
            return False
        if _strict_json(a, b) is not None:
            return True
    return _same_value(a, b)


# How _strict_json serializes: sorted keys, and what go_json cannot encode is an error rather than text.
_STRICT_JSON = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
                | orjson.OPT_PASSTHROUGH_DATACLASS)


def _strict_json(a: Any, b: Any) -> bytes | None:
    """The JSON of values that are ==, when that makes them JSON-equal for sure: they serialize alike
    (so no true is 1 and no 1 is 1.0) and hold no NaN (which equals itself when shared) or infinity
    (null, as None is). None when unsure."""
    try:
        text = orjson.dumps(a, option=_STRICT_JSON)
        if a is not b and orjson.dumps(b, option=_STRICT_JSON) != text:
            return None
    except TypeError:  # not JSON (orjson.JSONEncodeError is a TypeError)
        return None
    return text if b"null" not in text or not _non_finite(a) else None


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same_value, a, b))
    if isinstance(a, (int, float)):
        return isinstance(b, (int, float)) and a == b
    return type(a) is type(b) and a == b


def field_set(value: Any, t: Type) -> set[Path]:
    """The fields `value` sets: leaves, atomic parts, list items, empty or null maps, map entries."""
    out: set[Path] = set()
    _collect(value, t, (), out, False)
    return out


def field_set_with_parents(value: Any, t: Type) -> set[Path]:
    """with_field_parents(field_set(value, t), t), in one walk."""
    out: set[Path] = set()
    _collect(value, t, (), out, True)
    return out


def _collect(value: Any, t: Type, path: Path, out: set[Path], parents: bool) -> None:
    """Add the fields of `value` to `out`, and with `parents` the declared fields above them."""
    if isinstance(value, dict):
        if t.atomic_map:
            if path:
                out.add(path)
            return
        child = t.child
        for name, member in value.items():
            member_type, declared = child(name)
            member_path = path + ("f:" + name,)
            if member is None or not declared or member == {}:
                out.add(member_path)
            if isinstance(member, (dict, list)):
                if member:
                    if parents and declared:
                        before = len(out)
                        _collect(member, member_type, member_path, out, True)
                        if len(out) > before:  # fields below (or itself, when a leaf: in the set anyway)
                            out.add(member_path)
                    else:
                        _collect(member, member_type, member_path, out, parents)
                elif isinstance(member, list) and member_type.list_keys is None:
                    out.add(member_path)  # an empty atomic list
            elif member is not None:
                out.add(member_path)  # a scalar (null reads as nothing below it)
        return
    if isinstance(value, list):
        if t.list_keys is None:
            if path:
                out.add(path)
            return
        tokens = _item_tokens(t, value, path)
        item_type = t.item
        if len(set(tokens)) == len(tokens):
            for token, item in zip(tokens, value, strict=True):
                item_path = path + (token,)
                _collect(item, item_type, item_path, out, parents)
                out.add(item_path)
            return
        duplicates = {tok for tok, n in Counter(tokens).items() if n > 1}
        out.update(path + (tok,) for tok in duplicates)  # a duplicated item is owned as a whole
        for token, item in zip(tokens, value, strict=True):
            if token not in duplicates:
                _collect(item, item_type, path + (token,), out, parents)
                out.add(path + (token,))
        return
    kind = t.kind(value)
    if (kind == "map" and not t.atomic_map) or (kind == "list" and t.list_keys is not None):
        return  # null as an empty map or list
    if path:
        out.add(path)


def validate(value: Any, t: Type) -> list[str]:
    """Why `value` cannot be applied: undeclared fields, keyless or duplicate list items."""
    errors: list[str] = []
    _validate(value, t, None, errors)
    return errors


# Where _validate is: None at the top, else (where above, ".field", a list index or an item's token).
_Where = tuple | None


def _where(where: _Where) -> str:
    parts = []
    while where is not None:
        where, part = where
        if part.__class__ is int:
            parts.append(f"[{part}]")
        elif part[:1] == ".":
            parts.append(part)
        else:
            parts.append(render_path((part,)))
    return "".join(reversed(parts))


def _validate(value: Any, t: Type, where: _Where, errors: list[str]) -> None:
    if isinstance(value, dict):
        for name, child in value.items():
            if not t.allows(name):
                errors.append(f"{_where(where)}.{name}: field not declared in schema")
                break
            if isinstance(child, (dict, list)):  # nothing else holds fields
                _validate(child, t.child(name)[0], (where, "." + name), errors)
    elif isinstance(value, list):
        keys = t.list_keys
        item_type = t.item
        seen: set[str] = set()
        for i, item in enumerate(value):
            if keys is None:
                label: int | str = i
            else:
                try:
                    label = t.item_token(item)
                except StructureError as err:
                    at = _where(where)
                    errors.append(f"{at}: element {i}: {err}" if at else f"element {i}: {err}")
                    return
                if label in seen:
                    errors.append(f"{_where(where)}: duplicate entries for key {render_path((label,))}")
                seen.add(label)
            if isinstance(item, (dict, list)):
                _validate(item, item_type, (where, label), errors)


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


# Values of these types that are == are the same (a NaN is not == itself).
_SCALARS = frozenset({str, int, bool, float})

# Values, as their _strict_json with their type, whose list items all have keys (an object updated
# again and again keeps most of its parts).
_CHECKED = LruCache(4 << 20)


def _compare(lhs: Any, rhs: Any, t: Type, path: Path, out: Comparison) -> None:
    if rhs is MISSING:
        if lhs is MISSING:
            if path:
                out.added.add(path)
            return
        _every(lhs, t, path, out.removed)
        return
    if lhs is MISSING:
        _every(rhs, t, path, out.added)
        return
    if isinstance(lhs, dict):
        if isinstance(rhs, dict):
            if (lhs is rhs or lhs == rhs) and _unchanged(lhs, rhs, t):
                return
            if t.atomic_map or not (lhs or rhs):
                if path and not same_value(lhs, rhs):
                    out.modified.add(path)
                return
            child = t.child
            for name, lv in lhs.items():
                rv = rhs.get(name, MISSING)
                if rv is MISSING:
                    _every(lv, child(name)[0], path + ("f:" + name,), out.removed)
                elif lv.__class__ is not rv.__class__ or lv.__class__ not in _SCALARS or lv != rv:
                    _compare(lv, rv, child(name)[0], path + ("f:" + name,), out)
            for name, rv in rhs.items():
                if name not in lhs:
                    _every(rv, child(name)[0], path + ("f:" + name,), out.added)
            return
    elif isinstance(lhs, list):
        if isinstance(rhs, list):
            if (lhs is rhs or lhs == rhs) and _unchanged(lhs, rhs, t):
                return
            if t.list_keys is None or not (lhs or rhs):
                if path and not same_value(lhs, rhs):
                    out.modified.add(path)
                return
            _compare_items(lhs, rhs, t, path, out)
            return
    elif lhs is not None and rhs is not None and not isinstance(rhs, (dict, list)):
        if path and not same_value(lhs, rhs):  # two scalars
            out.modified.add(path)
        return
    left_kind, right_kind = t.kind(lhs), t.kind(rhs)
    if left_kind != right_kind:
        _compare_as(left_kind, lhs, rhs, t, path, out)
    _compare_as(right_kind, lhs, rhs, t, path, out)


def _compare_as(kind: str, lhs: Any, rhs: Any, t: Type, path: Path, out: Comparison) -> None:
    """Compare two values present on both sides as a map, list or scalar."""
    if kind == "map":
        left = lhs if isinstance(lhs, dict) else {}
        right = rhs if isinstance(rhs, dict) else {}
        if t.atomic_map or not (left or right):
            _compare_leaf(lhs, rhs, path, out)
            return
        for name in {**left, **right}:
            _compare(left.get(name, MISSING), right.get(name, MISSING), t.child(name)[0],
                     path + (field_token(name),), out)
        return
    if kind == "list":
        left = lhs if isinstance(lhs, list) else []
        right = rhs if isinstance(rhs, list) else []
        if t.list_keys is None or not (left or right):
            _compare_leaf(lhs, rhs, path, out)
            return
        _compare_items(left, right, t, path, out)
        return
    _compare_leaf(lhs, rhs, path, out)


def _compare_leaf(lhs: Any, rhs: Any, path: Path, out: Comparison) -> None:
    if not path:
        return
    if lhs is MISSING:
        out.added.add(path)
    elif rhs is MISSING:
        out.removed.add(path)
    elif not same_value(lhs, rhs):
        out.modified.add(path)


def _every(value: Any, t: Type, path: Path, out: set[Path]) -> None:
    """Add the path of every node of `value` to `out`: what comparing it with a missing value finds."""
    if path:
        out.add(path)
    if isinstance(value, dict):
        if value and not t.atomic_map:
            child = t.child
            for name, member in value.items():
                if member and isinstance(member, (dict, list)):
                    _every(member, child(name)[0], path + ("f:" + name,), out)
                else:  # a leaf, or an empty map or list
                    out.add(path + ("f:" + name,))
    elif isinstance(value, list) and value and t.list_keys is not None:
        tokens = _item_tokens(t, value, path)
        item_type = t.item
        if len(set(tokens)) == len(tokens):
            for token, item in zip(tokens, value, strict=True):
                _every(item, item_type, path + (token,), out)
            return
        counts = Counter(tokens)
        for token, item in zip(tokens, value, strict=True):
            n = counts[token]
            if n == 1:
                _every(item, item_type, path + (token,), out)
            elif n:
                out.add(path + (token,))  # a duplicated item is a single field
                counts[token] = 0


def _unchanged(lhs: Any, rhs: Any, t: Type) -> bool:
    """Whether comparing equal (==) `lhs` and `rhs` would find no change and raise no error, so that it
    may be skipped: when they are JSON-equal for sure and keyed lists below have their keys."""
    text = _strict_json(lhs, rhs)
    if text is None:
        return False
    if t.holds_items and _CHECKED.lookup((t, text)) is None:
        try:
            _check_items(lhs, t)
        except Exception:  # noqa: BLE001 - comparing will raise it, in its order
            return False
        _CHECKED.keep((t, text), True, len(text))  # the same JSON has the same items, whatever its order
    return True


def _non_finite(value: Any) -> bool:
    """Whether `value` holds a NaN or an infinity (which serialize as null)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, float) and not math.isfinite(node):
            return True
    return False


def _check_items(value: Any, t: Type) -> None:
    """Raise what comparing `value` with itself would: the tokens of keyed and set list items."""
    if isinstance(value, dict):
        if value and not t.atomic_map:
            child = t.child
            for name, member in value.items():
                if member and isinstance(member, (dict, list)):
                    member_type = child(name)[0]
                    if member_type.holds_items:
                        _check_items(member, member_type)
    elif value and t.list_keys is not None:
        tokens = t.item_tokens(value)
        item_type = t.item
        if not item_type.holds_items:
            return
        if len(set(tokens)) == len(tokens):
            for item in value:
                if item and isinstance(item, (dict, list)):
                    _check_items(item, item_type)
        else:
            counts = Counter(tokens)
            for token, item in zip(tokens, value, strict=True):
                if counts[token] == 1 and item and isinstance(item, (dict, list)):
                    _check_items(item, item_type)


def _group(t: Type, items: list, path: Path) -> dict[str, list]:
    groups: dict[str, list] = {}
    for token, item in zip(_item_tokens(t, items, path), items, strict=True):
        groups.setdefault(token, []).append(item)
    return groups


def _compare_items(lhs: list, rhs: list, t: Type, path: Path, out: Comparison) -> None:
    left_tokens, right_tokens = _item_tokens(t, lhs, path), _item_tokens(t, rhs, path)
    left, right = dict(zip(left_tokens, lhs, strict=True)), dict(zip(right_tokens, rhs, strict=True))
    if len(left) == len(lhs) and len(right) == len(rhs):  # no duplicates
        item_type = t.item
        for token, lv in left.items():
            rv = right.get(token, MISSING)
            if rv is MISSING:
                _every(lv, item_type, path + (token,), out.removed)
            else:
                _compare(lv, rv, item_type, path + (token,), out)
        for token, rv in right.items():
            if token not in left:
                _every(rv, item_type, path + (token,), out.added)
        return
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
        child = t.child
        out = {}
        for name, lv in left.items():
            rv = right.get(name, MISSING)
            if rv is MISSING:
                out[name] = lv
            elif lv.__class__ in _SCALARS and rv.__class__ in _SCALARS:
                out[name] = rv  # two scalars
            else:
                out[name] = _merge(lv, rv, child(name)[0], path + ("f:" + name,))
        for name, rv in right.items():
            if name not in left:
                out[name] = rv
        return out
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
    tree: dict = {}  # the paths above members: a tree of tokens
    for path in paths:
        if len(path) > 1:
            node = tree
            for token in path[:-1]:
                below = node.get(token)
                if below is None:
                    below = node[token] = {}
                node = below
    _field_parents(tree, t, (), out)
    return out


def _field_parents(tree: dict, t: Type, prefix: Path, out: set[Path]) -> None:
    for token, below in tree.items():
        if token.startswith("f:"):
            member_type, declared = t.child(token[2:])
            path = prefix + (token,)
            if declared:
                out.add(path)
            if below:
                _field_parents(below, member_type, path, out)
        elif token.startswith("k:") and below:
            _field_parents(below, t.item, prefix + (token,), out)
