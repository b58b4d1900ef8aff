"""x-kubernetes-validations: the CEL rules of a CRD version's schema, evaluated on every create and update
of its objects as apiextensions-apiserver evaluates them. `self` is the value at the rule's node (seen
through the schema: numbers are doubles, date-times timestamps), `oldSelf` the correlated old value; a
rule that uses oldSelf (a transition rule) runs only on updates where the old value exists. Errors are
upstream's field errors: `spec.replicas: Invalid value: "integer": must be at most 10`. Unchanged values
ratchet: their failing rules (other than transition rules) are not errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from timoneiro.api import cel
from timoneiro.api.crd_schema.validate import MISSING
from timoneiro.api.crd_schema.values import json_equal
from timoneiro.api.field import FieldError

BLOCKING = {"NotSupported", "Required", "TooLong", "TooMany", "TypeInvalid"}
NOT_CHECKED = FieldError("Invalid", "<nil>", "some validation rules were not checked because the object was "
                         "invalid; correct the existing errors to complete validation", "null")
MAX_MESSAGE_BYTES = 5000


def has_rules(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    if schema.get("x-kubernetes-validations"):
        return True
    subs = [schema.get("items"), schema.get("additionalProperties"), *(schema.get("properties") or {}).values(),
            *(schema.get("allOf") or [])]
    return any(has_rules(s) for s in subs)


def validate(obj: Any, schema: dict, old: Any = MISSING) -> list[FieldError]:
    """The rule errors of a custom object (old: the object an update replaces)."""
    return list(_node(obj, schema, "", old, resource_root=True))


def _node(value: Any, s: dict, path: str, old: Any, resource_root: bool = False) -> Iterator[FieldError]:
    if value is None:
        return
    if s.get("x-kubernetes-validations"):
        yield from _rules(value, s, path, old, resource_root)
    for sub in s.get("allOf") or []:
        if isinstance(sub, dict):
            yield from _node(value, sub, path, MISSING, resource_root)
    if isinstance(value, dict):
        props = s.get("properties") or {}
        extra = s.get("additionalProperties")
        correlated = isinstance(old, dict) and s.get("x-kubernetes-map-type") != "atomic"
        for key, item in value.items():
            sub = props.get(key) if key in props else extra if isinstance(extra, dict) else None
            if sub is None:
                continue
            child = f"{path}.{key}" if key in props and path else key if key in props else f"{path}[{key}]"
            old_item = old.get(key, MISSING) if correlated else MISSING
            yield from _node(item, sub, child, old_item, bool(sub.get("x-kubernetes-embedded-resource")))
    elif isinstance(value, list) and isinstance(s.get("items"), dict):
        items = s["items"]
        for i, item in enumerate(value):
            yield from _node(item, items, f"{path}[{i}]", _old_item(item, s, old),
                             bool(items.get("x-kubernetes-embedded-resource")))


def _old_item(value: Any, s: dict, old: Any) -> Any:
    """Only items of map lists correlate with old items, by their keys."""
    keys = s.get("x-kubernetes-list-map-keys")
    if s.get("x-kubernetes-list-type") != "map" or not keys or not isinstance(old, list) \
            or not isinstance(value, dict):
        return MISSING
    return next((o for o in old if isinstance(o, dict) and all(json_equal(o.get(k), value.get(k)) for k in keys)),
                MISSING)


def _rules(value: Any, s: dict, path: str, old: Any, resource_root: bool) -> Iterator[FieldError]:
    where = path or "<nil>"
    type_name = "" if s.get("x-kubernetes-int-or-string") else s.get("type", "")
    activation = {"self": cel.with_schema(value, s, resource_root)}
    if old is not MISSING and old is not None:
        activation["oldSelf"] = cel.with_schema(old, s, resource_root)
    unchanged = old is not MISSING and json_equal(value, old)
    for rule in s["x-kubernetes-validations"]:
        source = rule.get("rule", "")
        try:
            program = cel.compile_expression(source)
        except cel.CompileError as e:
            yield FieldError("Invalid", where, f"rule compile error: {e}", type_name)
            continue
        if program.uses_old_self and "oldSelf" not in activation:
            continue
        named = _rule_text(rule)
        try:
            result = program.evaluate(activation)
        except cel.EvalError as e:
            if str(e).startswith("no such overload"):
                yield FieldError("Invalid", where, f"'{e}': call arguments did not match a supported operator, "
                                 f"function or macro signature for rule: {named}", type_name)
            else:
                yield FieldError("Invalid", where, f"{e} evaluating rule: {named}", type_name)
            continue
        if cel.is_true(result) or (unchanged and not program.uses_old_self):
            continue
        at = _child(path, rule.get("fieldPath", ""))
        detail = _message(rule.get("messageExpression", ""), activation) or \
            (rule["message"].strip() if rule.get("message") else f"failed rule: {named}")
        yield _error(rule.get("reason", ""), at or "<nil>", type_name, detail)


def _rule_text(rule: dict) -> str:
    return (rule.get("message") or "").strip() or rule.get("rule", "").strip()


def _message(source: str, activation: dict) -> str:
    if not source:
        return ""
    try:
        value = cel.compile_expression(source).evaluate(activation)
    except (cel.CompileError, cel.EvalError):
        return ""
    text = str(value).strip() if isinstance(value, str) else ""
    return "" if len(text.encode()) > MAX_MESSAGE_BYTES or "\n" in text else text


def _error(reason: str, field: str, type_name: str, detail: str) -> FieldError:
    if reason == "FieldValueForbidden":
        return FieldError("Forbidden", field, detail)
    if reason == "FieldValueRequired":
        return FieldError("Required", field, detail)
    if reason == "FieldValueDuplicate":
        return FieldError("Duplicate", field, "", type_name)
    return FieldError("Invalid", field, detail, type_name)


_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\['((?:[^'\\]|\\.)*)'\]")


def _child(path: str, field_path: str) -> str:
    """The rule's fieldPath (".spec.x", "['a.b']") below the rule's node, as field.Path.Child prints it."""
    if not field_path:
        return path
    steps = [m.group(1) if m.group(1) is not None else m.group(2).replace("\\'", "'")
             for m in _PATH_STEP.finditer(field_path)]
    relative = ".".join(steps)
    return f"{path}.{relative}" if path else relative
