"""RFC 7386 JSON merge patch as gopkg.in/evanphx/json-patch.v4's MergePatch applies it for kube-apiserver.

One departure from the RFC is kept: nulls inside a value that lands where the document had nothing, null
or a non-object are dropped from that value's objects (arrays included), as the library prunes them.
"""

from __future__ import annotations

import copy
from typing import Any

from timoneiro.apiserver.patches import gotext
from timoneiro.apiserver.patches.errors import bad_request


def merge_patch(doc: dict, patch: Any) -> dict:
    """Apply a decoded application/merge-patch+json body to a copy of `doc`."""
    if patch is None:
        raise bad_request("Invalid JSON Patch")
    if not isinstance(patch, dict):
        problem = gotext.cannot_unmarshal(patch, "map[string]interface {}")
        raise bad_request(f"error decoding patch: {problem}")
    result = copy.deepcopy(doc)
    _merge_members(result, patch)
    return result


def _merge_members(doc: dict, patch: dict) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif doc.get(key) is None:
            doc[key] = _without_nulls(value)
        else:
            doc[key] = _merged(doc[key], value)


def _merged(current: Any, patch: Any) -> Any:
    if not isinstance(current, dict):
        return _without_nulls(patch)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    _merge_members(current, patch)
    return current


def _without_nulls(value: Any) -> Any:
    """A copy of `value` without null object members at any depth; null array elements stay."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
