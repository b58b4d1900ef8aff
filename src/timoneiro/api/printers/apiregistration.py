"""APIServices, as kube-aggregator's table convertor prints them: the service behind each (or Local) and
whether it is available, with the reason when it is not."""

from __future__ import annotations

from datetime import datetime

from timoneiro.api.printers.age import since
from timoneiro.api.printers.columns import AGE, NAME, Printer, column, created, name, spec, status


def apiservice_cells(apiservice: dict, now: datetime) -> list:
    service = spec(apiservice).get("service")
    where = f"{service.get('namespace', '')}/{service.get('name', '')}" if service else "Local"
    available = next((c for c in status(apiservice).get("conditions") or () if c.get("type") == "Available"), None)
    state = "Unknown"
    if available is not None:
        state = available.get("status", "Unknown")
        if state != "True" and available.get("reason"):
            state = f"{state} ({available['reason']})"
    return [name(apiservice), where, state, since(created(apiservice), now)]


PRINTERS = {
    ("apiregistration.k8s.io", "APIService"): Printer(
        (NAME, column("Service", "The reference to the service that hosts this API endpoint."),
         column("Available", "Whether this service is available."), AGE),
        apiservice_cells),
}
