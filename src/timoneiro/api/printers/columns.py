"""Column definitions and the Printer record every kind's table is built from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


def column(name: str, description: str, type_: str = "string", priority: int = 0, format_: str = "") -> dict:
    """One meta.k8s.io/v1 TableColumnDefinition."""
    return {"name": name, "type": type_, "format": format_, "description": description, "priority": priority}


def wide(name: str, description: str, type_: str = "string") -> dict:
    """A column shown only with -o wide (priority 1)."""
    return column(name, description, type_, priority=1)


NAME = column("Name", "Name of the object, unique within its namespace.", format_="name")
AGE = column("Age", "Time since the object was created.")
CONTAINERS = wide("Containers", "Names of each container in the template.")
IMAGES = wide("Images", "Images referenced by each container in the template.")
SELECTOR = wide("Selector", "Label selector of the pods this object manages.")


@dataclass(frozen=True)
class Printer:
    """The columns of a kind's table and how one object becomes a row of cells (always the wide row)."""

    columns: tuple[dict, ...]
    cells: Callable[[dict, datetime], list]
    conditions: Callable[[dict], list | None] | None = None


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def spec(obj: dict) -> dict:
    return obj.get("spec") or {}


def status(obj: dict) -> dict:
    return obj.get("status") or {}


def name(obj: dict) -> str:
    return meta(obj).get("name", "")


def created(obj: dict) -> object:
    return meta(obj).get("creationTimestamp")


def container_cells(pod_spec: dict | None) -> list[str]:
    """layoutContainerCells: container names and images, each comma-joined."""
    containers = (pod_spec or {}).get("containers") or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)]


def template_spec(obj: dict) -> dict:
    """The pod spec inside a workload's spec.template."""
    return ((spec(obj).get("template") or {}).get("spec")) or {}


def with_more(text: str, count: int, limit: int) -> str:
    """A list cut at `limit` entries, as upstream's printers say so: "a,b,c + 2 more..." (count is the
    number there were)."""
    return f"{text} + {count - limit} more..." if count > limit else text


def condition_true(conditions: list | None, type_: str) -> bool:
    """Whether the first condition of a type is True (upstream's hasJobCondition and kin)."""
    for cond in conditions or []:
        if cond.get("type") == type_:
            return cond.get("status") == "True"
    return False
