"""Config maps, secrets, service accounts and resource quotas."""

from __future__ import annotations

from datetime import datetime

from timoneiro.api.printers.age import since
from timoneiro.api.printers.columns import AGE, NAME, Printer, column, created, name, status
from timoneiro.api.printers.quantity import quantity


def config_map_cells(obj: dict, now: datetime) -> list:
    return [name(obj), len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), since(created(obj), now)]


def secret_cells(obj: dict, now: datetime) -> list:
    return [name(obj), obj.get("type", ""), len(obj.get("data") or {}), since(created(obj), now)]


def service_account_cells(obj: dict, now: datetime) -> list:
    return [name(obj), len(obj.get("secrets") or []), since(created(obj), now)]


def resource_quota_cells(obj: dict, now: datetime) -> list:
    """Used/hard per resource, limits.* in the Limit column and the rest in Request, sorted by name."""
    hard, used = status(obj).get("hard") or {}, status(obj).get("used") or {}
    requests, limits = [], []
    for resource in sorted(hard):
        pieces = resource.split(".")
        target = limits if len(pieces) > 1 and pieces[0] == "limits" else requests
        target.append(f"{resource}: {quantity(used.get(resource))}/{quantity(hard[resource])}")
    return [name(obj), ", ".join(requests), ", ".join(limits), since(created(obj), now)]


PRINTERS = {
    ("", "ConfigMap"): Printer(
        (NAME, column("Data", "Number of data and binaryData entries."), AGE), config_map_cells
    ),
    ("", "Secret"): Printer(
        (NAME, column("Type", "The secret's type."), column("Data", "Number of data entries."), AGE),
        secret_cells,
    ),
    ("", "ServiceAccount"): Printer(
        (NAME, column("Secrets", "Number of secrets listed on the account."), AGE), service_account_cells
    ),
    ("", "ResourceQuota"): Printer(
        (
            NAME,
            column("Request", "Used and hard amounts of requests and object counts."),
            column("Limit", "Used and hard amounts of limits."),
            AGE,
        ),
        resource_quota_cells,
    ),
}
