"""Events, in both the core v1 and the events.k8s.io/v1 shape (upstream prints the latter as the former)."""

from __future__ import annotations

from datetime import datetime

from timoneiro.api import conversion
from timoneiro.api.printers.age import parse_time, since
from timoneiro.api.printers.columns import Printer, column, name, wide

EVENT_COLUMNS = (
    column("Last Seen", "Time since the event was last seen."),
    column("Type", "The event's type: Normal or Warning."),
    column("Reason", "Why the event happened."),
    column("Object", "The object the event is about."),
    wide("Subobject", "The part of the object the event is about."),
    wide("Source", "The component that reported the event."),
    column("Message", "What happened."),
    wide("First Seen", "Time since the event was first seen."),
    wide("Count", "How many times the event happened."),
    {**wide("Name", "Name of the event."), "format": "name"},
)


def event_cells(event: dict, now: datetime) -> list:
    first = since(event.get("firstTimestamp"), now)
    if parse_time(event.get("firstTimestamp")) is None:
        first = since(event.get("eventTime"), now)
    last = first if parse_time(event.get("lastTimestamp")) is None else since(event.get("lastTimestamp"), now)
    count = event.get("count", 0)
    series = event.get("series")
    if series is not None:
        last = since(series.get("lastObservedTime"), now)
        count = series.get("count", 0)
    elif count == 0:
        count = 1  # a singleton event of the new API carries no count

    involved = event.get("involvedObject") or {}
    kind = involved.get("kind", "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent", "")
    host = source.get("host") or event.get("reportingInstance", "")
    return [
        last,
        event.get("type", ""),
        event.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {host}" if host else component,
        event.get("message", "").strip(),
        first,
        count,
        name(event),
    ]


PRINTERS = {
    ("", "Event"): Printer(EVENT_COLUMNS, event_cells),
    ("events.k8s.io", "Event"): Printer(
        EVENT_COLUMNS, lambda event, now: event_cells(conversion.event_events_to_core(event), now)
    ),
}
