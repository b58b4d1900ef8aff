"""Resources embedded in custom objects (x-kubernetes-embedded-resource): their TypeMeta and ObjectMeta.

On decoding, an embedded metadata is coerced to ObjectMeta (unknown fields dropped and reported, empty
ones omitted); on validation, apiVersion and kind are required and checked, and the metadata is
validated like an object's with the name made optional. The root is the caller's business.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from timoneiro.api import schema as upstream
from timoneiro.api.field import FieldError, invalid, required
from timoneiro.api.validation import meta
from timoneiro.api.validation.names import is_dns1035_label, name_is_path_segment

_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def _walk(x: Any, s: dict | None, path: str) -> Iterator[tuple[dict, str]]:
    """The embedded resources in x, with their field paths (map entries as [key], like upstream)."""
    if s is None:
        return
    if isinstance(x, dict):
        if s.get("x-kubernetes-embedded-resource"):
            yield x, path
        props = s.get("properties") or {}
        extra = s.get("additionalProperties")
        for k, v in x.items():
            if k in props:
                yield from _walk(v, props[k], meta.child(path, k))
            elif isinstance(extra, dict):
                yield from _walk(v, extra, meta.key(path, k))
    elif isinstance(x, list) and isinstance(s.get("items"), dict):
        for i, v in enumerate(x):
            yield from _walk(v, s["items"], meta.index(path, i))


def coerce(obj: dict, schema: dict) -> tuple[list[FieldError], list[str]]:
    """Type-check TypeMeta and prune ObjectMeta of nested embedded resources; the first error stops it."""
    known = upstream.definitions()[_OBJECT_META]["properties"]
    unknown: list[str] = []
    for resource, path in _walk(obj, schema, ""):
        if resource is obj:
            continue
        for k in ("apiVersion", "kind"):
            if k in resource and not isinstance(resource[k], str):
                return [invalid(meta.child(path, k), resource[k], "must be a string")], sorted(unknown)
        m = resource.get("metadata")
        if "metadata" not in resource:
            continue
        if not isinstance(m, dict):
            return [invalid(meta.child(path, "metadata"), m, "json: cannot unmarshal into Go value of type "
                            "v1.ObjectMeta")], sorted(unknown)
        for k in list(m):
            if k not in known:
                unknown.append(meta.child(path, "metadata", k))
                del m[k]
            elif m[k] in (None, "", {}, []) or (k == "generation" and m[k] == 0):
                del m[k]
    return [], sorted(unknown)


def validate(obj: dict, schema: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    for resource, path in _walk(obj, schema, ""):
        if resource is obj:
            continue
        errs += [required(meta.child(path, k)) for k in ("apiVersion", "kind") if k not in resource]
        for k, v in resource.items():
            at = meta.child(path, k)
            if k in ("apiVersion", "kind") and not isinstance(v, str):
                errs.append(invalid(at, v, "must be a string"))
            elif k in ("apiVersion", "kind") and not v:
                errs.append(invalid(at, v, "must not be empty"))
            elif k == "apiVersion" and v != "/" and v.count("/") > 1:
                errs.append(invalid(at, v, f"unexpected GroupVersion string: {v}"))
            elif k == "kind" and (problems := is_dns1035_label(v.lower())):
                errs.append(invalid(at, v, "may have mixed case, but should otherwise match: " + ",".join(problems)))
            elif k == "metadata" and isinstance(v, dict):
                m = {**v, "name": v.get("name") or "fakename"}
                errs += meta.object_meta(m, bool(m.get("namespace")), name_is_path_segment, at, kube=False)
    return errs
