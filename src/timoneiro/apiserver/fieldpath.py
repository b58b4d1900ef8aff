"""Field paths and field sets as managedFields carries them (the FieldsV1 format).

A path element is kept as its FieldsV1 token: "f:spec" (a field), 'k:{"name":"nginx"}' (a list item
by its keys), 'v:"a"' (a set item by value) or "i:0" (a list item by index). A path is a tuple of
tokens and a field set is a plain set of paths, so union, difference and intersection are Python's
set operators, meaning what they mean for structured-merge-diff's fieldpath.Set.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import orjson

Path = tuple[str, ...]

# A tree of paths: token -> [whether the path ending here is in the set, the tree below it].
PathTree = dict[str, list]

_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_PLAIN = re.compile(r"[\x20\x21\x23-\x25\x27-\x3b\x3d\x3f-\x5b\x5d-\x7e]*")  # needs no escaping
_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
                  "\\": "\\\\", '"': '\\"'}


def go_json(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it: sorted keys, HTML-safe strings, Go's floats."""
    if isinstance(value, str):
        return go_string(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, list):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{go_string(k)}:{go_json(v)}" for k, v in sorted(value.items())) + "}"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def go_string(text: str) -> str:
    """A string as go_json writes it."""
    if _PLAIN.fullmatch(text):
        return f'"{text}"'
    out = json.dumps(text, ensure_ascii=False)
    if any(ch in out for ch in _HTML_ESCAPES):
        out = "".join(_HTML_ESCAPES.get(ch, ch) for ch in out)
    return out


def _go_float(number: float) -> str:
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"unsupported value: {number}")
    if number == 0 or 1e-6 <= abs(number) < 1e21:
        text = format(Decimal(repr(number)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    mantissa, exponent = repr(number).split("e")
    if exponent.startswith("-0"):
        exponent = "-" + exponent[2:]
    return f"{mantissa}e{exponent}"


def go_quote(text: str) -> str:
    """A string as Go's %q prints it (conflict messages quote manager names and keys this way)."""
    out = []
    for ch in text:
        if ch in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def field_token(name: str) -> str:
    return "f:" + name


def key_token(key: dict[str, Any]) -> str:
    return "k:" + go_json(key)


def value_token(value: Any) -> str:
    return "v:" + go_json(value)


@functools.lru_cache(maxsize=65536)
def _parse(token: str) -> tuple[int, Any]:
    """A token's rank among element kinds (field < key < value < index) and its payload."""
    kind, body = token[:2], token[2:]
    if kind == "f:":
        return 0, body
    if kind == "k:":
        return 1, tuple(sorted(json.loads(body).items()))
    if kind == "v:":
        return 2, json.loads(body)
    return 3, int(body)


def _value_rank(value: Any) -> int:
    if value is None:
        return 5
    if isinstance(value, bool):
        return 2
    if isinstance(value, (int, float)):
        return 0
    if isinstance(value, str):
        return 1
    return 3 if isinstance(value, list) else 4


def _cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def compare_values(a: Any, b: Any) -> int:
    """Order JSON values as structured-merge-diff does: numbers, strings, bools, lists, maps, null."""
    rank = _value_rank(a)
    if rank != _value_rank(b):
        return _cmp(rank, _value_rank(b))
    if rank == 3:
        for x, y in zip(a, b, strict=False):
            if c := compare_values(x, y):
                return c
        return _cmp(len(a), len(b))
    if rank == 4:
        for i, key in enumerate(sorted(a.keys() | b.keys())):
            if i == len(a):
                return -1
            if i == len(b) or key not in a:
                return 1
            if key not in b:
                return -1
            if c := compare_values(a[key], b[key]):
                return c
        return 0
    return 0 if rank == 5 else _cmp(a, b)


def compare_tokens(a: str, b: str) -> int:
    (rank_a, body_a), (rank_b, body_b) = _parse(a), _parse(b)
    if rank_a != rank_b:
        return _cmp(rank_a, rank_b)
    if rank_a == 1:
        for (name_a, value_a), (name_b, value_b) in zip(body_a, body_b, strict=False):
            if c := _cmp(name_a, name_b) or compare_values(value_a, value_b):
                return c
        return _cmp(len(body_a), len(body_b))
    return compare_values(body_a, body_b) if rank_a == 2 else _cmp(body_a, body_b)


token_order = functools.cmp_to_key(compare_tokens)


def _value_key(value: Any) -> tuple:
    """A sort key ordering values as compare_values does (tuples compare element by element, then by
    length, as compare_values compares lists and, by their sorted keys, maps)."""
    rank = _value_rank(value)
    if rank == 3:
        return 3, tuple(_value_key(v) for v in value)
    if rank == 4:
        return 4, tuple((k, _value_key(value[k])) for k in sorted(value))
    return (5,) if rank == 5 else (rank, value)


_TOKEN_KEYS: dict[str, tuple] = {}


def token_key(token: str) -> tuple:
    """A sort key ordering tokens as compare_tokens does (sorting by it gives token_order's order)."""
    key = _TOKEN_KEYS.get(token)
    if key is None:
        rank, body = _parse(token)
        if rank == 1:
            key = (1, tuple((name, _value_key(value)) for name, value in body))
        elif rank == 2:
            key = (2, _value_key(body))
        else:
            key = (rank, body)
        if len(_TOKEN_KEYS) >= 65536:
            _TOKEN_KEYS.clear()
        _TOKEN_KEYS[token] = key
    return key


def sorted_paths(paths: Iterable[Path]) -> list[Path]:
    """Paths in the order upstream iterates a set: at each level the leaves, then the subtrees."""
    return sorted(paths, key=lambda p: tuple((i < len(p) - 1, token_order(t)) for i, t in enumerate(p)))


def path_tree(paths: Iterable[Path]) -> PathTree:
    tree: PathTree = {}
    for path in paths:
        if not path:
            continue
        node = tree
        for token in path[:-1]:
            entry = node.get(token)
            if entry is None:
                entry = node[token] = [False, {}]
            node = entry[1]
        entry = node.get(path[-1])
        if entry is None:
            node[path[-1]] = [True, {}]
        else:
            entry[0] = True
    return tree


class LruCache:
    """A cache that forgets its least recently used entries beyond a total weight (their size, say)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: dict[Any, tuple[Any, int]] = {}
        self._weight = 0

    def lookup(self, key: Any) -> Any:
        """The value kept for `key`, None if none."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        self._entries[key] = entry
        return entry[0]

    def keep(self, key: Any, value: Any, weight: int) -> None:
        if weight > self.limit // 16:  # too big to be worth the room
            return
        old = self._entries.pop(key, None)
        self._entries[key] = (value, weight)
        self._weight += weight - (old[1] if old else 0)
        while self._weight > self.limit and self._entries:
            try:
                self._weight -= self._entries.pop(next(iter(self._entries)))[1]
            except (KeyError, RuntimeError):  # changed meanwhile
                break


# Field sets of FieldsV1 objects, by their JSON (subclasses of dict or str are not JSON here, so that
# the JSON tells everything decode_canonical reads), and the JSON of encoded field sets, weighed by
# the size of the JSON (a set takes some eight times as much). Objects of one kind made alike (a
# Deployment's pods, say) share their field sets.
_DECODED = LruCache(2 << 20)
_ENCODED = LruCache(2 << 20)
_AS_JSON = orjson.OPT_PASSTHROUGH_SUBCLASS


def encode_fields(paths: Iterable[Path]) -> dict[str, Any]:
    """A field set as a FieldsV1 object, ordered as upstream serializes it."""
    if not isinstance(paths, (set, frozenset)):
        return _encode(paths)[0]
    key = paths if isinstance(paths, frozenset) else frozenset(paths)
    text = _ENCODED.lookup(key)
    if text is not None:
        return orjson.loads(text)
    out, exact = _encode(key)
    if exact:  # the same set always encodes alike and decodes back to itself
        text = orjson.dumps(out)
        _ENCODED.keep(key, text, len(text))
        if () not in key:
            _DECODED.keep(text, (key, True), len(text))
    return out


def _encode(paths: Iterable[Path]) -> tuple[dict[str, Any], bool]:
    """encode_fields, and whether every token is canonical and no two tokens tie in token order (so
    that the order of `paths` does not matter)."""
    tree: dict = {}
    for path in paths:
        if not path:
            continue
        node = tree
        for token in path:
            child = node.get(token)
            if child is None:
                child = node[token] = {}
            node = child
        node[None] = True  # a member
    exact = [True]
    return _emit(tree, exact), exact[0]


def _emit(tree: dict, exact: list[bool]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if len(tree) == 1:
        tokens: Iterable[str] = tree
        token = next(iter(tree))
        if token[:2] != "f:" and exact[0] and not _is_canonical(token):
            exact[0] = False
    else:
        try:
            tokens = sorted(tree, key=_TOKEN_KEYS.__getitem__)
        except KeyError:
            tokens = sorted(tree, key=token_key)
        if tokens[-1][:2] != "f:" and exact[0]:  # tokens other than fields may tie or not be canonical
            keys = [token_key(t) for t in tokens]
            if len(set(keys)) != len(keys) or not all(t[:2] == "f:" or _is_canonical(t) for t in tokens):
                exact[0] = False
    for token in tokens:
        below = tree[token]
        member = below.pop(None, False)
        if not below:
            out[token] = {}
        elif member:
            node = out[token] = {".": {}}
            node.update(_emit(below, exact))
        else:
            out[token] = _emit(below, exact)
    return out


def _is_canonical(token: str) -> bool:
    try:
        return canonical_token(token) == token
    except ValueError:
        return False


def decode_fields(fields: Any) -> set[Path]:
    """The field set of a FieldsV1 object; ValueError when it is malformed."""
    out: set[Path] = set()
    _read(fields, (), out)
    return out


def decode_canonical(fields: Any) -> tuple[frozenset[Path], bool]:
    """decode_fields, and whether `fields` is exactly what encode_fields makes of that set (so that an
    unchanged set may keep it rather than be encoded again)."""
    try:
        text = orjson.dumps(fields, option=_AS_JSON)
    except TypeError:
        text = None
    if text is not None:
        found = _DECODED.lookup(text)
        if found is not None:
            return found
    out: set[Path] = set()
    _member, canonical = _read(fields, (), out)
    found = frozenset(out), canonical and "." not in fields
    if text is not None:
        _DECODED.keep(text, found, len(text))
    return found


def _read(node: Any, prefix: Path, out: set[Path]) -> tuple[bool, bool]:
    """Collect the paths below `prefix`: whether `prefix` itself is a member, and whether `node` is
    canonical (plain dicts, tokens as this module writes them, in token order without ties, "."
    exactly where encode_fields puts it)."""
    if not isinstance(node, dict):
        raise ValueError(f"expected an object, got {json.dumps(node)}")
    if not node:
        return True, node.__class__ is dict
    canonical = node.__class__ is dict
    recognised = False
    previous = None
    first = True
    for key, child in node.items():
        if key == ".":
            if not first or child.__class__ is not dict or child:
                canonical = False
            first = False
            continue
        first = False
        if key.__class__ is str and key[:2] == "f:":
            token = key
            if canonical and previous is not None:
                canonical = previous < token if previous[:2] == "f:" else token_key(previous) < token_key(token)
        else:
            token = canonical_token(key)
            if token is None:
                canonical = False
                continue
            if canonical:
                if token != key or key.__class__ is not str:
                    canonical = False
                elif previous is not None:
                    canonical = token_key(previous) < token_key(token)
        recognised = True
        previous = token
        path = prefix + (token,)
        if child.__class__ is dict and not child:
            out.add(path)
            continue
        member, below = _read(child, path, out)
        if member:
            out.add(path)
        if not below:
            canonical = False
    dot = "." in node
    return dot or not recognised, canonical and (recognised or not dot)


@functools.lru_cache(maxsize=65536)
def _canonical_token(key: str) -> str | None:
    kind, body = key[0], key[2:]
    if kind == "f":
        return key
    if kind == "k":
        fields = json.loads(body)
        if not isinstance(fields, dict):
            raise ValueError(f"expected an object of keys: {key}")
        return key_token(fields)
    if kind == "v":
        return value_token(json.loads(body))
    if kind == "i":
        return f"i:{int(body)}"
    return None


def canonical_token(key: str) -> str | None:
    """A FieldsV1 key as this module writes it; None for element kinds upstream skips."""
    if len(key) < 2:
        raise ValueError(f"key must be 2 characters long: {key}")
    if key[1] != ":":
        raise ValueError(f"missing colon: {key}")
    return _canonical_token(key)


def render_value(value: Any) -> str:
    """A value as structured-merge-diff's value.ToString shows it in paths."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, (bool, int, float)):
        return go_json(value)
    if isinstance(value, list):
        return "[" + ",".join(render_value(v) for v in value) + "]"
    return "".join(f"{k}={render_value(v)}" for k, v in sorted(value.items()))


def render_path(path: Path) -> str:
    """A path as conflict messages show it: .spec.containers[name="nginx"].image."""
    parts = []
    for token in path:
        rank, body = _parse(token)
        if rank == 0:
            parts.append("." + body)
        elif rank == 1:
            parts.append("[" + ",".join(f"{k}={render_value(v)}" for k, v in body) + "]")
        elif rank == 2:
            parts.append(f"[={render_value(body)}]")
        else:
            parts.append(f"[{body}]")
    return "".join(parts)


def recursive_difference(paths: set[Path], exclude: set[Path]) -> set[Path]:
    """`paths` without those in `exclude` or below one of them."""
    lengths = sorted({len(e) for e in exclude if e})
    if not lengths:
        return set(paths)
    firsts = {e[0] for e in exclude if e}
    if lengths == [1]:
        return {p for p in paths if not p or p[0] not in firsts}
    return {p for p in paths
            if not p or p[0] not in firsts or not any(p[:n] in exclude for n in lengths if n <= len(p))}
