"""A custom resource version's published schemas, built from its CRD the way apiextensions-apiserver does.

The CRD's structural schema gets apiVersion, kind and an ObjectMeta reference at the root (and in every
embedded resource), its group-version-kind, and a list kind beside it. v2 also drops what kubectl's
v2 reader cannot handle: junctors, nullable, defaults, and properties under preserve-unknown-fields.
"""

from __future__ import annotations

import copy
from typing import Any

from timoneiro.api.openapi.schemas import V2_PREFIX, to_v3, v2_definitions

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
# a built-in kind and list whose apiVersion, kind and metadata descriptions custom resources share
_OBJECT_SOURCE, _LIST_SOURCE = "io.k8s.api.core.v1.Service", "io.k8s.api.core.v1.ServiceList"

# what a structural schema keeps of a JSONSchemaProps (everything else is dropped on publishing)
_STRUCTURAL_KEYS = {
    "type", "description", "title", "nullable", "default", "example", "externalDocs", "format",
    "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern",
    "maxItems", "minItems", "uniqueItems", "multipleOf", "enum", "maxProperties", "minProperties",
    "required", "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type",
    "x-kubernetes-validations",
}
_FLAGS = ("x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string")
_JUNCTORS = ("allOf", "anyOf", "oneOf")
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def model_name(group: str, version: str, kind: str) -> str:
    """The definition name of a custom kind: the group reversed, e.g. com.example.stable.v1.CronTab."""
    return ".".join([*reversed(group.split(".")), version, kind])


def version_entry(crd: dict, version: str) -> dict:
    for v in crd.get("spec", {}).get("versions", []):
        if v.get("name") == version:
            return v
    return {}


def _kinds(crd: dict) -> tuple[str, str]:
    names = crd["spec"]["names"]
    return names["kind"], names.get("listKind") or f"{names['kind']}List"


def definition_names(crd: dict, version: str) -> tuple[str, str]:
    """The definition names of the kind and of its list."""
    group, (kind, list_kind) = crd["spec"]["group"], _kinds(crd)
    return model_name(group, version, kind), model_name(group, version, list_kind)


def definitions(crd: dict, version: str, v2: bool) -> dict[str, dict]:
    """The kind's and its list's definitions, in v2 or v3 form."""
    spec = crd["spec"]
    group, (kind, list_kind) = spec["group"], _kinds(crd)
    object_name, list_name = definition_names(crd, version)
    entry = version_entry(crd, version)
    selectable = [{"fieldPath": f["jsonPath"].removeprefix(".")} for f in entry.get("selectableFields", [])]
    root = (entry.get("schema") or {}).get("openAPIV3Schema")
    obj = _kind_schema(root, v2, spec.get("preserveUnknownFields", False))
    lst = _list_schema(object_name, spec["names"].get("plural", ""), kind, list_kind)
    for schema, k in ((obj, kind), (lst, list_kind)):
        schema["x-kubernetes-group-version-kind"] = [{"group": group, "kind": k, "version": version}]
        if selectable:
            schema["x-kubernetes-selectable-fields"] = selectable
    if v2:
        return {object_name: obj, list_name: lst}
    return {object_name: to_v3(obj), list_name: to_v3(lst)}


def _type_meta(name: str) -> dict:
    props = v2_definitions()[_OBJECT_SOURCE]["properties"]
    return dict(props[name])


def _meta_ref(definition: str, description_from: str) -> dict:
    description = v2_definitions()[description_from]["properties"]["metadata"]["description"]
    return {"$ref": V2_PREFIX + definition, "description": description}


def _set_object_meta(props: dict) -> None:
    """The apiVersion, kind and ObjectMeta properties every resource (root or embedded) is given."""
    props["metadata"] = _meta_ref(OBJECT_META, _OBJECT_SOURCE)
    props["apiVersion"] = _type_meta("apiVersion")
    props["kind"] = _type_meta("kind")


def _kind_schema(root: dict | None, v2: bool, preserve_unknown: bool) -> dict:
    if root is None:
        return {"type": "object"}
    s = _unfold(_structural(root))
    if v2 and (s.get("x-kubernetes-preserve-unknown-fields") or preserve_unknown):
        return {"type": "object"}
    if v2:
        s = _for_v2(s)
    _set_object_meta(s.setdefault("properties", {}))
    _add_embedded_meta(s, v2)
    return s


def _list_schema(item_model: str, plural: str, kind: str, list_kind: str) -> dict:
    return {
        "description": f"{list_kind} is a list of {kind}",
        "properties": {
            "apiVersion": _type_meta("apiVersion"),
            "items": {"description": f"List of {plural}.", "items": {"$ref": V2_PREFIX + item_model},
                      "type": "array"},
            "kind": _type_meta("kind"),
            "metadata": _meta_ref(LIST_META, _LIST_SOURCE),
        },
        "required": ["items"],
        "type": "object",
    }


def _structural(node: dict) -> dict:
    """The parts of a JSONSchemaProps a structural schema has; false flags vanish as upstream's do."""
    out: dict[str, Any] = {k: copy.deepcopy(v) for k, v in node.items() if k in _STRUCTURAL_KEYS}
    out.update({flag: True for flag in _FLAGS if node.get(flag)})
    if isinstance(node.get("properties"), dict):
        out["properties"] = {k: _structural(v) for k, v in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        out["items"] = _structural(node["items"])
    extra = node.get("additionalProperties")
    if extra is not None:
        out["additionalProperties"] = _structural(extra) if isinstance(extra, dict) else extra
    for junctor in _JUNCTORS:
        if isinstance(node.get(junctor), list):
            out[junctor] = [_structural(x) for x in node[junctor]]
    if isinstance(node.get("not"), dict):
        out["not"] = _structural(node["not"])
    return out


def _children(s: dict) -> list[dict]:
    kids = list(s.get("properties", {}).values())
    for key in ("items", "additionalProperties"):
        if isinstance(s.get(key), dict):
            kids.append(s[key])
    return kids


def _unfold(s: dict) -> dict:
    """Spell out x-kubernetes-int-or-string as the anyOf it means, unless the schema already does."""
    if s.get("x-kubernetes-int-or-string") and not _spells_int_or_string(s):
        if "anyOf" not in s:
            s["anyOf"] = copy.deepcopy(_INT_OR_STRING_ANY_OF)
        else:
            s["allOf"] = [{"anyOf": copy.deepcopy(_INT_OR_STRING_ANY_OF)}, *s.get("allOf", [])]
    for child in _children(s):
        _unfold(child)
    return s


def _spells_int_or_string(s: dict) -> bool:
    def is_pair(any_of: Any) -> bool:
        return isinstance(any_of, list) and [x.get("type") for x in any_of] == ["integer", "string"]

    all_of = s.get("allOf") or [{}]
    return is_pair(s.get("anyOf")) or is_pair(all_of[0].get("anyOf"))


def _for_v2(s: dict) -> dict:
    """What ToStructuralOpenAPIV2 and v2's default pruning leave of a structural schema (parents first)."""
    for key in (*_JUNCTORS, "not", "default"):
        s.pop(key, None)
    if s.pop("nullable", False):
        for key in ("type", "items", "properties"):
            s.pop(key, None)
    if s.get("x-kubernetes-preserve-unknown-fields"):
        s.pop("items", None)
        s.pop("properties", None)
        if s.get("type") == "object":
            del s["type"]
    if s.get("type") == "array" and "items" not in s:
        del s["type"]
    props = s.get("properties", {})
    extra = s.get("additionalProperties")
    required = [r for r in s.pop("required", []) if not props.get(r, {}).get("nullable")]
    if required and not (isinstance(extra, dict) and extra.get("nullable")):
        s["required"] = required
    for child in _children(s):
        _for_v2(child)
    return s


def _add_embedded_meta(s: dict, v2: bool) -> None:
    """Embedded resources get apiVersion, kind and ObjectMeta like the root (not under v2 preserve)."""
    for child in _children(s):
        _add_embedded_meta(child, v2)
    if v2 and s.get("x-kubernetes-preserve-unknown-fields"):
        return
    if s.get("x-kubernetes-embedded-resource"):
        _set_object_meta(s.setdefault("properties", {}))
        required = s.setdefault("required", [])
        required.extend(k for k in ("kind", "apiVersion") if k not in required)
