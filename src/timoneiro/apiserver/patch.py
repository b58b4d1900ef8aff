"""PATCH bodies applied the way kube-apiserver applies them, dispatched on the request's media type.

Server-side apply (application/apply-patch+yaml) is handled elsewhere; it is only listed here among the
types upstream accepts, for the 415 answer.
"""

from __future__ import annotations

from typing import Any

from timoneiro.apiserver.patches.errors import PatchError, unsupported_media_type
from timoneiro.apiserver.patches.json_patch import json_patch
from timoneiro.apiserver.patches.merge_patch import merge_patch
from timoneiro.apiserver.patches.strategic import strategic_merge_patch

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

__all__ = ["PatchError", "apply_patch", "json_patch", "merge_patch", "strategic_merge_patch",
           "JSON_PATCH", "MERGE_PATCH", "STRATEGIC_MERGE_PATCH", "APPLY_PATCH"]


def apply_patch(content_type: str, doc: dict, patch_body: Any, schema: dict | None) -> dict:
    """Apply a decoded patch body of `content_type` (parameters after ";" ignored) to a copy of `doc`.

    `schema` is the kind's top-level schema. Upstream serves no strategic merge patch for custom resources
    (415 listing the other types): the caller must refuse those itself, since None here only means "no
    patch strategies" (every list replaced whole), which is also right for objects without lists (Scale).
    """
    media_type = content_type.split(";", 1)[0]
    if media_type == JSON_PATCH:
        return json_patch(doc, patch_body)
    if media_type == MERGE_PATCH:
        return merge_patch(doc, patch_body)
    if media_type == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(doc, patch_body, schema)
    raise unsupported_media_type([JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH])
