"""The uniqueness that x-kubernetes-list-type set and map promise, checked as apiextensions does."""

from __future__ import annotations

from typing import Any

import orjson

from timoneiro.api.field import FieldError, duplicate, invalid
from timoneiro.api.validation import meta


def validate(x: Any, s: dict | None, path: str = "") -> list[FieldError]:
    if s is None:
        return []
    errs: list[FieldError] = []
    if isinstance(x, dict):
        props = s.get("properties") or {}
        extra = s.get("additionalProperties")
        if isinstance(extra, dict):
            errs += [e for k, v in x.items() for e in validate(v, extra, meta.key(path, k))]
        errs += [e for k, v in x.items() if k in props for e in validate(v, props[k], meta.child(path, k))]
    elif isinstance(x, list):
        kind = s.get("x-kubernetes-list-type")
        if kind == "set":
            errs += [duplicate(meta.index(path, i), x[i]) for i in _repeats(x)]
        elif kind == "map":
            errs += _map_list(x, s.get("x-kubernetes-list-map-keys") or [], path)
        if isinstance(s.get("items"), dict):
            errs += [e for i, v in enumerate(x) for e in validate(v, s["items"], meta.index(path, i))]
    return errs


def _repeats(values: list) -> list[int]:
    """The index of each value's second appearance."""
    seen: dict[bytes, int] = {}
    out = []
    for i, v in enumerate(values):
        token = orjson.dumps(v, option=orjson.OPT_SORT_KEYS)
        seen[token] = seen.get(token, 0) + 1
        if seen[token] == 2:
            out.append(i)
    return out


def _map_list(items: list, keys: list[str], path: str) -> list[FieldError]:
    for i, item in enumerate(items):
        if item is not None and not isinstance(item, dict):
            return [invalid(meta.index(path, i), item, "must be an object for an array of list-type map")]
    entries = [{k: item[k] for k in keys if k in item} if isinstance(item, dict) else {} for item in items]
    return [duplicate(meta.index(path, i), entries[i]) for i in _repeats(entries)]
