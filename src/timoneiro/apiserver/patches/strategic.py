"""Strategic merge patch as kube-apiserver applies it (apimachinery's strategicpatch.StrategicMergeMapPatch).

Patch strategies and merge keys come from the kind's OpenAPI schema (x-kubernetes-patch-strategy and
x-kubernetes-patch-merge-key mirror the Go struct tags upstream reads). Lists without strategy "merge"
are replaced whole, maps merge key by key, null deletes a key. Directives: `$patch` (replace/delete in
maps; delete/replace elements in merging lists), `$retainKeys`, `$deleteFromPrimitiveList/<list>` and
`$setElementOrder/<list>`. Element order follows upstream: $setElementOrder first, then the order of the
patch list, then that of the live list.

Custom resources have no strategies; kube-apiserver refuses strategic merge patches for them with 415
before patching, and the handler does the same. A schema of None here (a field without a schema, a
subresource the caller has none for) therefore just means "no strategies": its lists are replaced whole.
"""

from __future__ import annotations

import copy
from typing import Any

from timoneiro.api.schema import field, items, list_info
from timoneiro.apiserver.patches import gotext
from timoneiro.apiserver.patches.errors import PatchError, bad_request, internal, rejected

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER = "$setElementOrder"

BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"
BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
BAD_ELEMENT_ORDER = "invalid patch format of setElementOrder list"


def strategic_merge_patch(doc: dict, patch: Any, schema: dict | None) -> dict:
    """Apply a decoded application/strategic-merge-patch+json body to a copy of `doc`."""
    if patch is None:
        return copy.deepcopy(doc)
    if not isinstance(patch, dict):
        raise bad_request(gotext.cannot_unmarshal(patch, "map[string]interface {}"))
    return _merge_map(copy.deepcopy(doc), copy.deepcopy(patch), schema)


# Both arguments of the helpers below are private copies: like upstream, they are merged in place.

def _merge_map(original: dict, patch: dict, schema: dict | None) -> dict:
    if DIRECTIVE in patch:
        return _map_directive(patch)
    _retain_keys(original, patch)
    _set_element_orders(original, patch, schema)
    for key, value in list(patch.items()):
        delete_list = key.startswith(DELETE_FROM_PRIMITIVE_LIST)
        if delete_list:
            key = _target(key, DELETE_FROM_PRIMITIVE_LIST, BAD_PRIMITIVE_LIST) or key
        if value is None:
            original.pop(key, None)
        elif key not in original or type(original[key]) is not type(value):
            if not delete_list:
                _set_from_patch(original, key, value)
        elif isinstance(value, dict):
            sub, strategy, _ = _patch_meta(schema, key)
            original[key] = value if strategy == "replace" else _merge_map(original[key], value, sub)
        elif isinstance(value, list):
            sub, strategy, merge_key = _patch_meta(schema, key)
            if strategy == "merge" or delete_list:
                original[key] = _merge_list(original[key], value, items(sub), merge_key, delete_list)
            else:
                original[key] = value
        else:
            original[key] = value
    return original


def _map_directive(patch: dict) -> dict:
    """`$patch` in a map: replace it by the rest of the patch, or empty it."""
    directive = patch[DIRECTIVE]
    if directive == "replace":
        del patch[DIRECTIVE]
        return patch
    if directive == "delete":
        return {}
    raise _bad_patch_type(directive, patch)


def _bad_patch_type(directive: Any, where: dict) -> PatchError:
    return internal(f"unknown patch type: {gotext.value(directive)} in map: {gotext.value(where)}")


def _set_from_patch(original: dict, key: str, value: Any) -> None:
    """Take a patch value where there is nothing (or something of another type) to merge it with."""
    _discard_nulls(value)
    value, keep = _without_directives(value)
    if keep:
        original[key] = value
    else:
        original.pop(key, None)


def _discard_nulls(value: Any) -> None:
    if isinstance(value, dict):
        for k in [k for k, v in value.items() if v is None]:
            del value[k]
        for v in value.values():
            _discard_nulls(v)
    elif isinstance(value, list):
        for v in value:
            _discard_nulls(v)


def _without_directives(value: Any) -> tuple[Any, bool]:
    """Drop maps (and list elements) that carry `$patch`; the flag says whether `value` itself stays."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        for k in list(value):
            value[k], keep = _without_directives(value[k])
            if not keep:
                del value[k]
    elif isinstance(value, list):
        return [v for v, keep in map(_without_directives, value) if keep], True
    return value, True


def _target(key: str, prefix: str, malformed: str) -> str:
    """The list a `<prefix>/<list>` directive key names."""
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise bad_request(malformed)
    return rest


def _patch_meta(schema: dict | None, key: str) -> tuple[dict | None, str, str]:
    """A field's schema, its patch strategy other than retainKeys (which only $retainKeys acts on when
    applying), and its merge key."""
    sub = field(schema, key)
    meta = list_info(sub)
    strategies = [s for s in meta.get("patch-strategy", "").split(",") if s != "retainKeys"]
    return sub, strategies[0] if strategies else "", meta.get("patch-merge-key", "")


def _retain_keys(original: dict, patch: dict) -> None:
    """`$retainKeys`: clear the original's keys the list leaves out; the patch may set only listed keys."""
    if RETAIN_KEYS not in patch:
        return
    retained = patch.pop(RETAIN_KEYS)
    if not isinstance(retained, list):
        raise bad_request(BAD_RETAIN_KEYS)
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if key not in retained:
            raise bad_request(BAD_RETAIN_KEYS)
    for key in [k for k in original if k not in retained]:
        del original[key]


def _set_element_orders(original: dict, patch: dict, schema: dict | None) -> None:
    """Merge each list that has a `$setElementOrder/<list>` and put its elements in that order."""
    for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _bad_arg_type("[]interface {}", order)
        key = _target(directive, SET_ELEMENT_ORDER, BAD_ELEMENT_ORDER)
        in_original, in_patch = key in original, key in patch
        original_list, patch_list = original.get(key), patch.get(key)
        for present, value in ((in_original, original_list), (in_patch, patch_list)):
            if present and not isinstance(value, list):
                raise _bad_arg_type("[]interface {}", value)
        sub, strategy, merge_key = _patch_meta(schema, key)
        _check_order(patch_list or [], order, merge_key)
        live_order = original_list or []
        if in_original and in_patch:
            if strategy == "merge":
                merged = _merge_list(original_list, patch_list, items(sub), merge_key, False)
                if merge_key and _element_type(original_list, patch_list) is dict:
                    live_order = _merged_in_place(original_list, patch_list, merge_key)
            else:
                merged = patch_list
        elif in_original:
            merged = original_list
        elif in_patch:
            merged = _without_directives(patch_list)[0]
        else:
            continue
        in_order, others = _partition(merged, order, merge_key)
        kind = _element_type(original_list or [], patch_list or [])
        original[key] = _ordered(in_order, others, order, live_order, merge_key, kind)
        patch.pop(key, None)


def _merged_in_place(original: list, patch: list, merge_key: str) -> list:
    """The live list as upstream's $setElementOrder step sees it after merging: Go deletes and appends
    within the list's own array, so the slots freed by `$patch: delete` hold the first appended elements
    (this decides where server-only elements land among them)."""
    view, length = list(original), len(original)
    for element in patch:
        if element.get(DIRECTIVE) == "delete":
            while (at := _find(view[:length], merge_key, element[merge_key])) >= 0:
                view[at:length - 1] = view[at + 1:length]
                length -= 1
    if any(element.get(DIRECTIVE) == "replace" for element in patch):
        return view
    for element in patch:
        if DIRECTIVE not in element and _find(view[:length], merge_key, element[merge_key]) < 0:
            if length < len(view):
                view[length] = element
            length += 1
    return view


def _check_order(patch_list: list, order: list, merge_key: str) -> None:
    """The patch list's elements must appear in the $setElementOrder list, in the same relative order."""
    if not order or not patch_list:
        return
    listed = _split_deletions(patch_list)[0] if merge_key else patch_list
    i = j = 0
    while i < len(listed) and j < len(order):
        if isinstance(listed[i], dict) and DIRECTIVE in listed[i]:
            i += 1
            continue
        if _merge_key_equal(listed[i], order[j], merge_key):
            i += 1
        j += 1
    if i < len(listed):
        raise internal(f"The order in patch list:\n{gotext.value(patch_list)}\n doesn't match "
                       f"{SET_ELEMENT_ORDER} list:\n{gotext.value(order)}\n")


def _merge_key_equal(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _same(left, right)
    for m in (left, right):
        _require_key(m, merge_key)
    return _same(left[merge_key], right[merge_key])


def _merge_list(original: list, patch: list, item_schema: dict | None, merge_key: str,
                delete_list: bool) -> list:
    """Merge a list with strategy "merge" (or apply a $deleteFromPrimitiveList list to it)."""
    if not original and not patch:
        return original
    kind = _element_type(original, patch)
    if kind is not dict:
        if delete_list:
            return [v for v in original if not _contains(patch, v)]
        merged: list = []
        for v in original + patch:
            if not _contains(merged, v):
                merged.append(v)
    elif not merge_key:
        raise internal("cannot merge lists without merge key for struct")
    else:
        original, patch = _list_directives(original, patch, merge_key)
        merged = list(original)
        for element in patch:
            _require_key(element, merge_key)
            at = _find(merged, merge_key, element[merge_key])
            if at < 0:
                merged.append(element)
            else:
                merged[at] = _merge_map(merged[at], element, item_schema)
    in_patch, others = _partition(merged, patch, merge_key)
    return _ordered(in_patch, others, patch, original, merge_key, kind)


def _list_directives(original: list, patch: list, merge_key: str) -> tuple[list, list]:
    """Apply `$patch` elements: delete drops the original's elements with that key, replace makes the
    other patch elements the whole list. Returns the original and the patch left to merge."""
    plain, replace = [], False
    for element in patch:
        if DIRECTIVE not in element:
            plain.append(element)
            continue
        directive = element[DIRECTIVE]
        if directive == "delete":
            _require_key(element, merge_key)
            original = [o for o in original if not (merge_key in o and _same(o[merge_key], element[merge_key]))]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise internal("merging lists cannot yet be specified in the patch")
        else:
            raise _bad_patch_type(directive, element)
    return (plain, []) if replace else (original, plain)


def _partition(merged: list, by: list, merge_key: str) -> tuple[list, list]:
    """Split merged elements into those present in `by` and the rest."""
    present, rest = [], []
    for v in merged:
        if merge_key:
            _require_key(v, merge_key)
            found = _find(by, merge_key, v[merge_key]) >= 0
        else:
            found = _contains(by, v)
        (present if found else rest).append(v)
    return present, rest


def _ordered(from_patch: list, server_only: list, patch_order: list, server_order: list, merge_key: str,
             kind: type) -> list:
    """Sort each part by its own order list, then weave the server-only elements into the patch ones
    where the live list had them (upstream's normalizeElementOrder)."""
    right = _sorted_by(from_patch, patch_order, merge_key, kind)
    left = _sorted_by(server_only, server_order, merge_key, kind)
    out: list = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            out.append(left[i])
            i += 1
            continue
        if i < len(left):
            li = _position(server_order, left[i], merge_key, kind)
            ri = _position(server_order, right[j], merge_key, kind)
            if 0 <= li < ri:
                out.append(left[i])
                i += 1
                continue
        out.append(right[j])
        j += 1
    return out


def _sorted_by(elements: list, order: list, merge_key: str, kind: type) -> list:
    """Stable sort by position in `order`; maps marked `$patch: delete` go last."""
    doomed: list = []
    if kind is dict:
        for m in elements + order:
            _require_key(m, merge_key)
        elements, doomed = _split_deletions(elements)

    def rank(v: Any) -> int:
        at = _position(order, v, merge_key, kind)
        return at if at >= 0 else len(order)

    return sorted(elements, key=rank) + doomed


def _split_deletions(elements: list) -> tuple[list, list]:
    kept, doomed = [], []
    for m in elements:
        if not isinstance(m, dict):
            raise _bad_arg_type("map[string]interface {}", m)
        (doomed if m.get(DIRECTIVE) == "delete" else kept).append(m)
    return kept, doomed


def _position(elements: list, v: Any, merge_key: str, kind: type) -> int:
    """Index of `v` in `elements`, maps compared by merge key."""
    def identity(x: Any) -> Any:
        if kind is not dict:
            return x
        return x.get(merge_key) if isinstance(x, dict) else None

    wanted = identity(v)
    return next((i for i, x in enumerate(elements) if _same(identity(x), wanted)), -1)


def _find(elements: list, merge_key: str, value: Any) -> int:
    for i, m in enumerate(elements):
        if not isinstance(m, dict):
            raise internal(f"value for key {i} is not a map")
        if merge_key in m and _same(m[merge_key], value):
            return i
    return -1


def _element_type(*lists: list) -> type:
    """The one type of all elements of the lists; lists of lists and mixed lists are refused."""
    values = [v for lst in lists for v in lst]
    if not values:
        raise internal("no elements in any of the given slices")
    kind = type(values[0])
    if kind is list:
        raise rejected()
    if any(type(v) is not kind for v in values):
        raise internal(f"list element types are not identical: {gotext.value(list(lists))}")
    return kind


def _require_key(m: Any, merge_key: str) -> None:
    if not isinstance(m, dict):
        raise _bad_arg_type("map[string]interface {}", m)
    if merge_key not in m:
        raise internal(f"map: {gotext.value(m)} does not contain declared merge key: {merge_key}")


def _bad_arg_type(expected: str, actual: Any) -> PatchError:
    return internal(f"expected a {expected}, but received a {gotext.type_name(actual)}")


def _same(a: Any, b: Any) -> bool:
    """Go's == on decoded values: equal and of the same type (1 is not 1.0, true is not 1)."""
    return type(a) is type(b) and a == b


def _contains(elements: list, v: Any) -> bool:
    return any(_same(x, v) for x in elements)
