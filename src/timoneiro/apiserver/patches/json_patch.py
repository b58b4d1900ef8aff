"""RFC 6902 JSON patch with the behaviour of gopkg.in/evanphx/json-patch.v4, the library kube-apiserver runs.

Its departures from the RFC are kept because clients observe them: negative array indexes count from the
end, "replace" of a missing object member adds it, "copy" from a missing object member copies null, "test"
takes a missing member for null, "add" cannot target the whole document, and the part of a path before its
first "/" is ignored. As in kube-apiserver, copies may grow a document by 3 MiB at most.

kube-apiserver hides why an operation failed behind a generic 422; the library's reason stays on the
PatchError as its __cause__.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

from timoneiro.api.crd_schema.values import json_equal
from timoneiro.apiserver.patches import gotext
from timoneiro.apiserver.patches.errors import PatchError, bad_request, rejected, too_large

MAX_OPERATIONS = 10000
MAX_COPY_BYTES = 3 * 1024 * 1024  # kube-apiserver's default JSONPatchMaxCopyBytes
_INDEX = re.compile(r"[+-]?[0-9]+")


class OperationFailed(Exception):
    """An operation that does not apply to the document, worded as the library words it."""


def json_patch(doc: dict, ops: Any) -> dict:
    """Apply a decoded application/json-patch+json body to a copy of `doc`."""
    problem = _decode_problem(ops)
    if problem:
        raise bad_request(f"error decoding patch: {problem}")
    operations = ops or []
    if len(operations) > MAX_OPERATIONS:
        raise too_large(f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, "
                        f"got {len(operations)}")
    root: Any = copy.deepcopy(doc)
    budget = _CopyBudget()
    try:
        for op in operations:
            root = _apply(root, op or {}, budget)
    except OperationFailed as e:
        raise rejected() from e
    if not isinstance(root, dict):
        raise _not_an_object(root)
    return root


def _decode_problem(ops: Any) -> str:
    """What decoding the body into []jsonPatchOp reports (upstream decodes strictly by default)."""
    if ops is None:
        return ""
    if not isinstance(ops, list):
        return gotext.cannot_unmarshal(ops, "[]handlers.jsonPatchOp")
    for op in ops:
        if op is None:
            continue
        if not isinstance(op, dict):
            return gotext.cannot_unmarshal(op, "handlers.jsonPatchOp")
        for name, v in op.items():
            if name in ("op", "path", "from") and v is not None and not isinstance(v, str):
                return gotext.cannot_unmarshal(v, "string", f"jsonPatchOp.{name}")
    return ""


def _not_an_object(result: Any) -> PatchError:
    """What decoding a patched document that is no longer an object into the kind's type answers."""
    text = json.dumps(result, separators=(",", ":"))
    find_kind = 'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
    reason = f"couldn't get version/kind; json parse error: {gotext.cannot_unmarshal(result, find_kind)}"
    return PatchError(f'"" is invalid: patch: Invalid value: {json.dumps(text)}: {reason}')


class _CopyBudget:
    """How much "copy" operations may grow the document, counted in bytes of compact JSON as upstream
    counts them across one patch."""

    def __init__(self) -> None:
        self.spent = 0

    def spend(self, value: Any) -> None:
        if value is not None:
            self.spent += len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        if self.spent > MAX_COPY_BYTES:
            raise OperationFailed(f"Unable to complete the copy, the accumulated size increase of copy is "
                                  f"{self.spent}, exceeding the limit {MAX_COPY_BYTES}")


def _apply(root: Any, op: dict, budget: _CopyBudget) -> Any:
    kind = op.get("op") if isinstance(op.get("op"), str) else "unknown"
    if kind == "copy":
        return _copy(root, op, budget)
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise OperationFailed(f"Unexpected kind: {kind}")
    return handler(root, op)


def _member(op: dict, name: str) -> str:
    text = op.get(name)
    if text is None:
        raise OperationFailed(f"{op['op']} operation failed to decode {name}: missing value")
    return text


def _parent(root: Any, path: str) -> tuple[Any, str]:
    """The container a pointer's last token is looked up in, and that token; (None, "") if there is none."""
    tokens = path.split("/")
    if len(tokens) < 2:
        return None, ""
    node = root
    for token in tokens[1:-1]:
        try:
            node = _get(node, _unescape(token))
        except OperationFailed:
            return None, ""
        if not isinstance(node, (dict, list)):
            return None, ""
    return node, _unescape(tokens[-1])


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _index(key: str, size: int) -> int:
    """An array index as strconv.Atoi reads it, negative ones counting from the end."""
    if not _INDEX.fullmatch(key):
        raise OperationFailed(f'strconv.Atoi: parsing "{key}": invalid syntax')
    idx = int(key)
    if idx < -size or idx >= size:
        raise OperationFailed(f"Unable to access invalid index: {idx}: invalid index referenced")
    return idx % size


def _get(container: Any, key: str) -> Any:
    if isinstance(container, dict):
        return container.get(key)
    return container[_index(key, len(container))]


def _insert(container: Any, key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
    elif key == "-":
        container.append(value)
    else:
        container.insert(_index(key, len(container) + 1), value)


def _remove(container: Any, key: str) -> Any:
    if isinstance(container, dict):
        if key not in container:
            raise OperationFailed(f"Unable to remove nonexistent key: {key}: missing value")
        return container.pop(key)
    return container.pop(_index(key, len(container)))


def _locate(root: Any, op: dict, name: str, what: str) -> tuple[Any, str, str]:
    """The container and token `op[name]` points at, failing the way the library words `what`."""
    pointer = _member(op, name)
    container, key = _parent(root, pointer)
    if container is None:
        shown = f'"{pointer}"' if op["op"] in ("add", "remove") else pointer
        raise OperationFailed(f"{op['op']} operation does not apply: {what}: {shown}: missing value")
    return container, key, pointer


def _within(context: str, step: Callable[..., Any], *args: Any) -> Any:
    """Run a container step, prefixing its failure with what the operation was doing."""
    try:
        return step(*args)
    except OperationFailed as e:
        raise OperationFailed(f"{context}: {e}") from None


def _add(root: Any, op: dict) -> Any:
    container, key, pointer = _locate(root, op, "path", "doc is missing path")
    _within(f"error in add for path: '{pointer}'", _insert, container, key, copy.deepcopy(op.get("value")))
    return root


def _remove_op(root: Any, op: dict) -> Any:
    container, key, pointer = _locate(root, op, "path", "doc is missing path")
    _within(f"error in remove for path: '{pointer}'", _remove, container, key)
    return root


def _replace(root: Any, op: dict) -> Any:
    value = copy.deepcopy(op.get("value"))
    if _member(op, "path") == "":
        if not isinstance(value, (dict, list)):
            raise OperationFailed("replace operation value must be object or array")
        return value
    container, key, pointer = _locate(root, op, "path", "doc is missing path")
    try:
        _get(container, key)
    except OperationFailed:
        raise OperationFailed(f"replace operation does not apply: doc is missing key: {pointer}: "
                              "missing value") from None
    if isinstance(container, dict):
        container[key] = value
    else:
        container[_index(key, len(container))] = value
    return root


def _move(root: Any, op: dict) -> Any:
    container, key, _ = _locate(root, op, "from", "doc is missing from path")
    value = _within(f"error in move for path: '{key}'", _remove, container, key)
    container, key, pointer = _locate(root, op, "path", "doc is missing destination path")
    _within(f"error in move for path: '{pointer}'", _insert, container, key, value)
    return root


def _copy(root: Any, op: dict, budget: _CopyBudget) -> Any:
    container, key, source = _locate(root, op, "from", "doc is missing from path")
    value = copy.deepcopy(_within(f"error in copy for from: '{source}'", _get, container, key))
    container, key, _ = _locate(root, op, "path", "doc is missing destination path")
    budget.spend(value)
    _within("error while adding value during copy", _insert, container, key, value)
    return root


def _test(root: Any, op: dict) -> Any:
    pointer = _member(op, "path")
    if pointer == "":
        actual = root
    else:
        container, key, _ = _locate(root, op, "path", "is missing path")
        actual = _within(f"error in test for path: '{pointer}'", _get, container, key)
    if not json_equal(actual, op.get("value")):
        raise OperationFailed(f"testing value {pointer} failed: test failed")
    return root


_HANDLERS: dict[str, Callable[[Any, dict], Any]] = {
    "add": _add, "remove": _remove_op, "replace": _replace, "move": _move, "test": _test,
}
