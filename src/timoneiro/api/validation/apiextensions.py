"""apiextensions.k8s.io/v1: CustomResourceDefinitions (names, versions, scope and structural schemas).

The schema checks here are the structural basics kube-apiserver refuses a CRD for; validating custom
objects against the schema is done elsewhere.
"""

from __future__ import annotations

import re

from timoneiro.api.field import FieldError, forbidden, invalid, required
from timoneiro.api.validation import golit, meta
from timoneiro.api.validation.meta import child, index, key
from timoneiro.api.validation.names import (
    NameFunc,
    is_dns1035_label,
    is_dns1123_subdomain,
    name_is_dns_subdomain,
)
from timoneiro.api.validation.rules import Rules, spec_of

COLUMN_TYPES = ["boolean", "date", "integer", "number", "string"]
COLUMN_FORMATS = ["byte", "date", "date-time", "double", "float", "int32", "int64", "password"]
REVIEW_VERSIONS = ["v1", "v1beta1"]
_SIMPLE_JSON_PATH = re.compile(r"^(\.[A-Za-z0-9_-]+|\[[^\]]*\])+$")
_FIELD_LEVEL, _ITEM_LEVEL, _ROOT_LEVEL = "object fields", "array items", "root"


def _dns1035(value: str, path: str, prefix: str = "") -> list[FieldError]:
    msgs = is_dns1035_label(value)
    return [invalid(path, value, prefix + ",".join(msgs))] if msgs else []


def _names(names: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for name in ("plural", "singular"):
        if names.get(name):
            errs += _dns1035(names[name], child(path, name))
    for name in ("kind", "listKind"):
        value = names.get(name, "")
        if value:
            msgs = is_dns1035_label(value.lower())
            if msgs:
                errs.append(
                    invalid(
                        child(path, name),
                        value,
                        "may have mixed case, but should otherwise match: " + ",".join(msgs),
                    )
                )
    for i, short in enumerate(names.get("shortNames") or []):
        errs += _dns1035(short, index(child(path, "shortNames"), i))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        errs.append(
            invalid(child(path, "listKind"), names["listKind"], "kind and listKind may not be the same")
        )
    for i, category in enumerate(names.get("categories") or []):
        errs += _dns1035(category, index(child(path, "categories"), i))
    return errs


def _json_path(value: str, path: str, under: tuple[str, ...], where: str) -> list[FieldError]:
    if not value:
        return [required(path, "")]
    if not _SIMPLE_JSON_PATH.match(value):
        return [invalid(path, value, "must be a simple json path starting with .")]
    if under and not value.startswith(under):
        return [invalid(path, value, f"should be a json path under {where}")]
    return []


def _subresources(subresources: dict | None, path: str) -> list[FieldError]:
    scale = (subresources or {}).get("scale")
    if scale is None:
        return []
    errs = _json_path(
        scale.get("specReplicasPath", ""), child(path, "scale.specReplicasPath"), (".spec.",), ".spec"
    )
    errs += _json_path(
        scale.get("statusReplicasPath", ""), child(path, "scale.statusReplicasPath"), (".status.",), ".status"
    )
    selector_path = scale.get("labelSelectorPath")
    if selector_path:
        errs += _json_path(
            selector_path,
            child(path, "scale.labelSelectorPath"),
            (".spec.", ".status."),
            "either .spec or .status",
        )
    return errs


def _column(column: dict, path: str) -> list[FieldError]:
    errs = [] if column.get("name") else [required(child(path, "name"), "")]
    kind = column.get("type", "")
    must_be = "must be one of " + ",".join(COLUMN_TYPES)
    if not kind:
        errs.append(required(child(path, "type"), must_be))
    elif kind not in COLUMN_TYPES:
        errs.append(invalid(child(path, "type"), kind, must_be))
    fmt = column.get("format", "")
    if fmt and fmt not in COLUMN_FORMATS:
        errs.append(invalid(child(path, "format"), fmt, "must be one of " + ",".join(COLUMN_FORMATS)))
    return errs + _json_path(column.get("jsonPath", ""), child(path, "JSONPath"), (), "")


def structural(schema: dict, path: str, level: str = _ROOT_LEVEL) -> list[FieldError]:
    """The structural-schema rules a v1 CRD's openAPIV3Schema must follow, recursively."""
    errs: list[FieldError] = []
    kind = schema.get("type", "")
    if (
        not kind
        and not schema.get("x-kubernetes-int-or-string")
        and not schema.get("x-kubernetes-embedded-resource")
    ):
        errs.append(
            required(
                child(path, "type"),
                "must not be empty at the root"
                if level == _ROOT_LEVEL
                else f"must not be empty for specified {level}",
            )
        )
    if level == _ROOT_LEVEL and kind and kind != "object":
        errs.append(invalid(child(path, "type"), kind, "must be object at the root"))
    if kind == "array" and schema.get("items") is None:
        errs.append(required(child(path, "items"), "must be specified"))
    if schema.get("uniqueItems"):
        errs.append(
            forbidden(
                child(path, "uniqueItems"),
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            )
        )
    extra, properties = schema.get("additionalProperties"), schema.get("properties") or {}
    if extra not in (None, True) and properties:
        errs.append(
            forbidden(
                child(path, "additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            )
        )
    for name, sub in properties.items():
        if isinstance(sub, dict):
            errs += structural(sub, key(child(path, "properties"), name), _FIELD_LEVEL)
    if isinstance(extra, dict):
        errs += structural(extra, child(path, "additionalProperties"), _FIELD_LEVEL)
    items = schema.get("items")
    if isinstance(items, dict):
        errs += structural(items, child(path, "items"), _ITEM_LEVEL)
    return errs


def _version(version: dict, path: str) -> list[FieldError]:
    errs = _dns1035(version.get("name", ""), child(path, "name"))
    schema = (version.get("schema") or {}).get("openAPIV3Schema")
    if schema is None:
        errs.append(required(child(path, "schema", "openAPIV3Schema"), "schemas are required"))
    else:
        errs += structural(schema, child(path, "schema", "openAPIV3Schema"))
    errs += _subresources(version.get("subresources"), child(path, "subresources"))
    for i, column in enumerate(version.get("additionalPrinterColumns") or []):
        errs += _column(column, index(child(path, "additionalPrinterColumns"), i))
    return errs


def _conversion(conversion: dict | None, path: str) -> list[FieldError]:
    if conversion is None:
        return []
    strategy = conversion.get("strategy", "")
    errs = meta.one_of(strategy, ["None", "Webhook"], child(path, "strategy"))
    webhook = conversion.get("webhook")
    if strategy != "Webhook":
        if webhook is not None:
            errs.append(
                forbidden(child(path, "webhook"), "should not be set when strategy is not set to Webhook")
            )
        return errs
    if webhook is None or webhook.get("clientConfig") is None:
        errs.append(
            required(child(path, "webhook", "clientConfig"), "required when strategy is set to Webhook")
        )
    versions = (webhook or {}).get("conversionReviewVersions") or []
    versions_path = child(path, "webhook", "conversionReviewVersions")
    if not versions:
        errs.append(required(versions_path, ""))
    elif not set(versions) & set(REVIEW_VERSIONS):
        errs.append(
            invalid(
                versions_path,
                golit.string_slice(versions),
                "none of the versions accepted by this server. "
                "accepted version(s) are " + ", ".join(REVIEW_VERSIONS),
            )
        )
    return errs


def _spec(spec: dict, path: str = "spec") -> list[FieldError]:
    errs: list[FieldError] = []
    group = spec.get("group", "")
    if not group:
        errs.append(required(child(path, "group"), ""))
    elif msgs := is_dns1123_subdomain(group):
        errs.append(invalid(child(path, "group"), group, ",".join(msgs)))
    elif "." not in group:
        errs.append(invalid(child(path, "group"), group, "should be a domain with at least one dot"))
    scope = spec.get("scope", "")
    errs += meta.one_of(scope, ["Cluster", "Namespaced"], child(path, "scope"))
    versions = spec.get("versions") or []
    for i, version in enumerate(versions):
        errs += _version(version, index(child(path, "versions"), i))
    names = [v.get("name") for v in versions]
    if len(set(names)) != len(names):
        errs.append(invalid(child(path, "versions"), versions, "must contain unique version names"))
    if sum(1 for v in versions if v.get("storage")) != 1:
        errs.append(
            invalid(
                child(path, "versions"), versions, "must have exactly one version marked as storage version"
            )
        )
    crd_names = spec.get("names") or {}
    errs += [
        required(child(path, "names", name), "")
        for name in ("plural", "singular", "kind", "listKind")
        if not crd_names.get(name)
    ]
    errs += _names(crd_names, child(path, "names"))
    return errs + _conversion(spec.get("conversion"), child(path, "conversion"))


def _crd_name(crd: dict) -> NameFunc:
    """A CRD's name is a DNS subdomain that is exactly <plural>.<group>."""
    spec = spec_of(crd)
    wanted = f"{(spec.get('names') or {}).get('plural', '')}.{spec.get('group', '')}"

    def check(name: str, prefix: bool) -> list[str]:
        msgs = name_is_dns_subdomain(name, prefix)
        return msgs + (['must be spec.names.plural+"."+spec.group'] if name != wanted else [])

    return check


def _create(crd: dict) -> list[FieldError]:
    errs = meta.object_meta(crd.get("metadata") or {}, False, _crd_name(crd), kube=False)
    errs += _spec(spec_of(crd))
    return errs + _names((crd.get("status") or {}).get("acceptedNames") or {}, "status.acceptedNames")


def _established(crd: dict) -> bool:
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in (crd.get("status") or {}).get("conditions") or []
    )


def _update(new: dict, old: dict) -> list[FieldError]:
    spec, old_spec = spec_of(new), spec_of(old)
    errs = meta.object_meta_update(new.get("metadata") or {}, old.get("metadata") or {}, kube=False)
    errs += _spec(spec)
    if _established(old):
        errs += meta.immutable(spec.get("scope"), old_spec.get("scope"), "spec.scope")
        errs += meta.immutable(
            (spec.get("names") or {}).get("kind"),
            (old_spec.get("names") or {}).get("kind"),
            "spec.names.kind",
        )
    errs += meta.immutable(spec.get("group"), old_spec.get("group"), "spec.group")
    errs += meta.immutable(
        (spec.get("names") or {}).get("plural"),
        (old_spec.get("names") or {}).get("plural"),
        "spec.names.plural",
    )
    errs += _names((new.get("status") or {}).get("acceptedNames") or {}, "status.acceptedNames")
    served = {v.get("name") for v in spec.get("versions") or []}
    return errs + [
        invalid(index("status.storedVersions", i), v, "must appear in spec.versions")
        for i, v in enumerate((new.get("status") or {}).get("storedVersions") or [])
        if v not in served
    ]


RULES: dict[str, Rules] = {"CustomResourceDefinition": Rules(_create, _update)}
