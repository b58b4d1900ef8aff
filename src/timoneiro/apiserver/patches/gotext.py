"""Decoded JSON values named and printed the way Go's encoding/json and fmt do in upstream's error texts.

The renderings are timoneiro.api.validation.golit's, which validation's messages share; these are the
names the patch code uses.
"""

from __future__ import annotations

from timoneiro.api.validation.golit import cannot_unmarshal, json_kind, type_name
from timoneiro.api.validation.golit import go_value as value

__all__ = ["cannot_unmarshal", "json_kind", "type_name", "value"]
