"""ObjectMeta, labels, selectors and the small checks every kind's validation is built from.

Field paths are plain strings ("spec.template.metadata.labels"), joined the way field.Path prints
them: ".child", "[3]", "[key]".
"""

from __future__ import annotations

from typing import Any

from timoneiro.api.field import FieldError, forbidden, invalid, not_supported, required, too_long
from timoneiro.api.validation import golit
from timoneiro.api.validation.names import (
    HTTP_PATH_FMT,
    NameFunc,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_http_path,
    is_label_value,
    is_qualified_name,
    name_is_dns_label,
    regex_error,
)

IMMUTABLE = "field is immutable"
NEGATIVE = "must be greater than or equal to 0"
TOTAL_ANNOTATION_SIZE = 256 * (1 << 10)
FIELD_MANAGER_MAX = 128
STANDARD_FINALIZERS = {"kubernetes", "orphan", "foregroundDeletion"}
BANNED_OWNERS = {("", "v1", "Event")}


def child(path: str, *names: str) -> str:
    for name in names:
        path = f"{path}.{name}" if path else name
    return path


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


def too_many(path: str, actual: int, limit: int) -> FieldError:
    return FieldError("TooMany", path, f"must have at most {limit} items", actual)


def nonnegative(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return [invalid(path, value, NEGATIVE)]
    return []


def immutable(new: Any, old: Any, path: str, shown: Any = None) -> list[FieldError]:
    """ValidateImmutableField; `shown` is the new value as Go prints it when that differs from JSON."""
    if new == old:
        return []
    return [invalid(path, new if shown is None else shown, IMMUTABLE)]


def supported(value: Any, allowed: list[str], path: str) -> list[FieldError]:
    """NotSupported unless value is one of allowed, listed in upstream's order."""
    return [] if value in allowed else [not_supported(path, value, allowed)]


def one_of(value: Any, allowed: list[str], path: str) -> list[FieldError]:
    """Required when empty, else NotSupported unless one of allowed: upstream's enum switch."""
    return [required(path, "")] if not value else supported(value, allowed, path)


def each_message(path: str, value: Any, messages: list[str]) -> list[FieldError]:
    return [invalid(path, value, msg) for msg in messages]


def dns1123_label(value: str, path: str) -> list[FieldError]:
    return each_message(path, value, is_dns1123_label(value))


def dns1123_subdomain(value: str, path: str) -> list[FieldError]:
    return each_message(path, value, is_dns1123_subdomain(value))


def qualified_name(value: str, path: str) -> list[FieldError]:
    return each_message(path, value, is_qualified_name(value))


def name_with(name_fn: NameFunc, value: str, path: str) -> list[FieldError]:
    return each_message(path, value, name_fn(value, False))


def domain_prefixed_path(value: str, path: str) -> list[FieldError]:
    """IsDomainPrefixedPath: "acme.io/foo", a DNS subdomain, '/', and HTTP path characters."""
    if not value:
        return [required(path, "")]
    host, sep, rest = value.partition("/")
    if not sep or not host or not rest:
        return [invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    errs = dns1123_subdomain(host, path)
    if not is_http_path(rest):
        errs.append(invalid(path, rest, regex_error("Invalid path", HTTP_PATH_FMT)))
    return errs


def labels(value: dict | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for k, v in (value or {}).items():
        errs += qualified_name(k, path)
        errs += each_message(path, v, is_label_value(v if isinstance(v, str) else str(v)))
    return errs


def annotations(value: dict | None, path: str) -> list[FieldError]:
    value = value or {}
    errs: list[FieldError] = []
    for k in value:
        # case does not matter in annotation keys
        errs += each_message(path, k, is_qualified_name(k.lower()))
    size = sum(len(k.encode()) + len(str(v).encode()) for k, v in value.items())
    if size > TOTAL_ANNOTATION_SIZE:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE))
    return errs


def label_selector(selector: dict | None, path: str, allow_invalid_values: bool = False) -> list[FieldError]:
    if selector is None:
        return []
    errs = labels(selector.get("matchLabels"), child(path, "matchLabels"))
    for i, req in enumerate(selector.get("matchExpressions") or []):
        errs += selector_requirement(req, index(child(path, "matchExpressions"), i), allow_invalid_values)
    return errs


def selector_requirement(
    req: dict, path: str, allow_invalid_values: bool = False, numeric_operators: bool = False
) -> list[FieldError]:
    """ValidateLabelSelectorRequirement; with numeric_operators (Gt and Lt, which take one value), the
    node selector's ValidateNodeSelectorRequirement."""
    op, values = req.get("operator", ""), req.get("values") or []
    errs: list[FieldError] = []
    if op in ("In", "NotIn"):
        if not values:
            errs.append(
                required(child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'")
            )
    elif op in ("Exists", "DoesNotExist"):
        if values:
            errs.append(
                forbidden(
                    child(path, "values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )
            )
    elif numeric_operators and op in ("Gt", "Lt"):
        if len(values) != 1:
            errs.append(
                required(
                    child(path, "values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"
                )
            )
    else:
        errs.append(invalid(child(path, "operator"), op, "not a valid selector operator"))
    errs += qualified_name(req.get("key", ""), child(path, "key"))
    if not allow_invalid_values:
        for i, v in enumerate(values):
            errs += each_message(index(child(path, "values"), i), v, is_label_value(v))
    return errs


def selector_matches(selector: dict | None, obj_labels: dict | None) -> bool:
    """Whether a LabelSelector selects a label set; an empty selector selects everything."""
    obj_labels = obj_labels or {}
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if obj_labels.get(k) != v:
            return False
    for req in selector.get("matchExpressions") or []:
        k, op, values = req.get("key"), req.get("operator"), req.get("values") or []
        present = k in obj_labels
        if op == "In" and not (present and obj_labels[k] in values):
            return False
        if op == "NotIn" and present and obj_labels[k] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def selector_is_empty(selector: dict | None) -> bool:
    return not selector or not (selector.get("matchLabels") or selector.get("matchExpressions"))


def owner_references(refs: list | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    first_controller = ""
    for ref in refs or []:
        errs += _owner_reference(ref, path)
        if ref.get("controller"):
            current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if first_controller:
                errs.append(
                    invalid(
                        path,
                        refs,
                        "Only one reference can have Controller set to true. "
                        f'Found "true" in references for {first_controller} and {current}',
                    )
                )
            else:
                first_controller = current
    return errs


def _owner_reference(ref: dict, path: str) -> list[FieldError]:
    api_version, kind = ref.get("apiVersion", ""), ref.get("kind", "")
    group, version = _split_api_version(api_version)
    errs: list[FieldError] = []
    if not version:
        errs.append(invalid(child(path, "apiVersion"), api_version, "version must not be empty"))
    if not kind:
        errs.append(invalid(child(path, "kind"), kind, "must not be empty"))
    if not ref.get("name"):
        errs.append(invalid(child(path, "name"), ref.get("name", ""), "must not be empty"))
    if not ref.get("uid"):
        errs.append(invalid(child(path, "uid"), ref.get("uid", ""), "must not be empty"))
    if (group, version, kind) in BANNED_OWNERS:
        errs.append(invalid(path, ref, f"{group}/{version}, Kind={kind} is disallowed from being an owner"))
    return errs


def _split_api_version(api_version: str) -> tuple[str, str]:
    """schema.ParseGroupVersion; an unparsable value gives an empty version."""
    if not api_version:
        return "", ""
    parts = api_version.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return "", ""


def finalizers(names: list | None, path: str) -> list[FieldError]:
    names = names or []
    errs: list[FieldError] = []
    for name in names:
        errs += qualified_name(name, path)
    if "orphan" in names and "foregroundDeletion" in names:
        errs.append(
            invalid(
                path, golit.string_slice(names), "finalizer orphan and foregroundDeletion cannot be both set"
            )
        )
    return errs


def kube_finalizers(names: list | None, path: str) -> list[FieldError]:
    """The core group's extra rule: an unqualified finalizer must be one of the standard ones."""
    return [
        invalid(index(path, i), name, "name is neither a standard finalizer name nor is it fully qualified")
        for i, name in enumerate(names or [])
        if "/" not in name and name not in STANDARD_FINALIZERS
    ]


def managed_fields(entries: list | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, entry in enumerate(entries or []):
        p = index(path, i)
        if entry.get("operation") not in ("Apply", "Update"):
            errs.append(
                invalid(child(p, "operation"), entry.get("operation", ""), "must be `Apply` or `Update`")
            )
        fields_type = entry.get("fieldsType", "")
        if fields_type and fields_type != "FieldsV1":
            errs.append(invalid(child(p, "fieldsType"), fields_type, "must be `FieldsV1`"))
        manager = entry.get("manager", "")
        if len(manager) > FIELD_MANAGER_MAX:
            errs.append(too_long(child(p, "manager"), FIELD_MANAGER_MAX))
        errs += [
            invalid(child(p, "manager"), manager, f"invalid character {_go_rune(c)} (at position {pos})")
            for pos, c in enumerate(manager)
            if not c.isprintable()
        ]
        if len(entry.get("subresource", "")) > 256:
            errs.append(too_long(child(p, "subresource"), 256))
    return errs


def _go_rune(c: str) -> str:
    """%#U of a rune: U+0009 (with the quoted character only when printable)."""
    return f"U+{ord(c):04X}"


def object_meta(
    m: dict, namespaced: bool, name_fn: NameFunc, path: str = "metadata", kube: bool = True
) -> list[FieldError]:
    """ValidateObjectMeta for a new object; `kube` adds the core group's finalizer-name rule."""
    errs: list[FieldError] = []
    if m.get("generateName"):
        errs += each_message(child(path, "generateName"), m["generateName"], name_fn(m["generateName"], True))
    if not m.get("name"):
        errs.append(required(child(path, "name"), "name or generateName is required"))
    else:
        errs += each_message(child(path, "name"), m["name"], name_fn(m["name"], False))
    errs += _meta_common(m, namespaced, path)
    if kube:
        errs += kube_finalizers(m.get("finalizers"), child(path, "finalizers"))
    return errs


def _meta_common(m: dict, namespaced: bool, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    ns = m.get("namespace", "")
    if namespaced:
        if not ns:
            errs.append(required(child(path, "namespace"), ""))
        else:
            errs += each_message(child(path, "namespace"), ns, name_is_dns_label(ns, False))
    elif ns:
        errs.append(forbidden(child(path, "namespace"), "not allowed on this type"))
    errs += nonnegative(m.get("generation", 0), child(path, "generation"))
    errs += labels(m.get("labels"), child(path, "labels"))
    errs += annotations(m.get("annotations"), child(path, "annotations"))
    errs += owner_references(m.get("ownerReferences"), child(path, "ownerReferences"))
    errs += finalizers(m.get("finalizers"), child(path, "finalizers"))
    errs += managed_fields(m.get("managedFields"), child(path, "managedFields"))
    return errs


def object_meta_update(new: dict, old: dict, path: str = "metadata", kube: bool = True) -> list[FieldError]:
    """ValidateObjectMetaUpdate: identity fields stay put, and no finalizer joins a dying object.

    The resourceVersion precondition is the server's: unconditional updates are filled in with the
    current resourceVersion before validation, as kube-apiserver's store does.
    """
    errs: list[FieldError] = []
    if old.get("deletionTimestamp"):
        extra = sorted(set(new.get("finalizers") or []) - set(old.get("finalizers") or []))
        if extra:
            errs.append(
                forbidden(
                    child(path, "finalizers"),
                    "no new finalizers can be added if the object is "
                    f"being deleted, found new finalizers {golit.string_slice(extra)}",
                )
            )
    if new.get("generation", 0) < old.get("generation", 0):
        errs.append(invalid(child(path, "generation"), new.get("generation", 0), "must not be decremented"))
    for name in ("name", "namespace", "uid"):
        errs += immutable(new.get(name, ""), old.get(name, ""), child(path, name))
    for name in ("creationTimestamp", "deletionTimestamp"):
        new_time = new.get(name)
        if new_time != old.get(name):
            # a metav1.Time value prints even when zero; a nil *metav1.Time prints as null
            shown = golit.timestamp(new_time) if new_time or name == "creationTimestamp" else None
            errs.append(invalid(child(path, name), shown, IMMUTABLE))
    errs += immutable(
        new.get("deletionGracePeriodSeconds"),
        old.get("deletionGracePeriodSeconds"),
        child(path, "deletionGracePeriodSeconds"),
    )
    errs += labels(new.get("labels"), child(path, "labels"))
    errs += annotations(new.get("annotations"), child(path, "annotations"))
    errs += owner_references(new.get("ownerReferences"), child(path, "ownerReferences"))
    errs += managed_fields(new.get("managedFields"), child(path, "managedFields"))
    if kube:
        errs += kube_finalizers(new.get("finalizers"), child(path, "finalizers"))
    return errs


def template_meta(m: dict | None, path: str) -> list[FieldError]:
    """ValidateTemplateObjectMeta: an embedded template may carry only labels and annotations."""
    m = m or {}
    errs = annotations(m.get("annotations"), child(path, "annotations"))
    errs += labels(m.get("labels"), child(path, "labels"))
    errs += [
        forbidden(child(path, k), "cannot be set")
        for k, v in m.items()
        if k not in ("labels", "annotations") and v not in (None, "", {}, [], 0)
    ]
    return errs
