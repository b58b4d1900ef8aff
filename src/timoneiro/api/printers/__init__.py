"""Server-side printing: Table responses with kube-apiserver's columns."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from timoneiro.api.kinds import Kind


def to_table(kind: Kind, objects: list[dict], include_object: str = "Metadata", list_meta: dict | None = None) -> dict:
    """A meta.k8s.io/v1 Table of `objects`: columns, one row per object, with the object as asked."""
    rows = []
    for obj in objects:
        meta = obj.get("metadata", {})
        rows.append({"cells": [meta.get("name", ""), meta.get("creationTimestamp")], "object": _row_object(obj, include_object)})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0},
            {"name": "Created At", "type": "date", "format": "", "description": "", "priority": 0},
        ],
        "rows": rows,
    }


def _row_object(obj: dict, include_object: str) -> dict | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}
