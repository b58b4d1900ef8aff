"""A readable diff of two versions of a struct, for the "... is immutable" messages that carry one.

Upstream prints go-cmp's diff of the internal Go struct; this shows the same -/+ lines per changed
field, named as Go names them, so a reader sees what changed.
"""

from __future__ import annotations

import json
from typing import Any


def _go_name(json_name: str) -> str:
    return json_name[:1].upper() + json_name[1:]


def _show(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), sort_keys=True)


def render(type_name: str, old: dict, new: dict) -> str:
    lines = [f"  {type_name}{{"]
    for name in sorted(set(old) | set(new), key=lambda n: (n not in old, n)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is not None:
            lines.append(f"- \t{_go_name(name)}: {_show(before)},")
        if after is not None:
            lines.append(f"+ \t{_go_name(name)}: {_show(after)},")
    lines.append("  }")
    return "\n".join(lines) + "\n"
