"""Server-side printing: meta.k8s.io/v1 Table responses with kube-apiserver v1.32's columns and cells.

Built-in kinds use the printers of upstream's pkg/printers/internalversion (always the wide row, as the
server does), custom resources a CRD version's additionalPrinterColumns, everything else the default
Name / Created At table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from timoneiro.api.printers import (
    apiregistration,
    autoscaling,
    batch,
    certificates,
    cluster,
    config,
    events,
    network,
    pods,
    rbac,
    storage,
    workloads,
)
from timoneiro.api.printers.age import rfc3339
from timoneiro.api.printers.columns import NAME, Printer, column, created, name
from timoneiro.api.printers.custom import crd_printer

if TYPE_CHECKING:
    from timoneiro.api.kinds import Kind

BUILTIN: dict[tuple[str, str], Printer] = {
    key: printer
    for module in (pods, workloads, batch, network, config, cluster, events, storage, rbac, autoscaling,
                   certificates, apiregistration)
    for key, printer in module.PRINTERS.items()
}

DEFAULT = Printer(
    (NAME, column("Created At", "Time the object was created.", "date")),
    lambda obj, now: [name(obj), rfc3339(created(obj))],
)


def printer_for(kind: Kind) -> Printer:
    """The printer upstream would use for a kind: its CRD's columns, a built-in printer, or the default."""
    if kind.crd is not None:
        return crd_printer(kind.crd, kind.version)
    return BUILTIN.get((kind.group, kind.kind), DEFAULT)


def to_table(kind: Kind, objects: list[dict], include_object: str = "Metadata", list_meta: dict | None = None) -> dict:
    """A meta.k8s.io/v1 Table of `objects`: columns, one row per object, with the object as asked."""
    printer = printer_for(kind)
    now = datetime.now(UTC)
    rows = []
    for obj in objects:
        row = {"cells": printer.cells(obj, now), "object": _row_object(obj, include_object)}
        conditions = printer.conditions(obj) if printer.conditions else None
        if conditions:
            row["conditions"] = conditions
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": [dict(c) for c in printer.columns],
        "rows": rows,
    }


def _row_object(obj: dict, include_object: str) -> dict | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}
