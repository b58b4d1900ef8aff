"""Events, one store behind two APIs: core/v1 keeps its lax legacy rules, events.k8s.io/v1 is strict.

Upstream validates the internal Event whichever API wrote it, so errors name the core fields
(involvedObject, message) even for an events.k8s.io object (regarding, note).
"""

from __future__ import annotations

from timoneiro.api.field import FieldError, invalid, required
from timoneiro.api.validation import golit, meta
from timoneiro.api.validation.names import is_dns1123_subdomain, is_qualified_name, name_is_dns_subdomain
from timoneiro.api.validation.rules import Rules

_FROM_EVENTS_API = {
    "regarding": "involvedObject",
    "note": "message",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_IMMUTABLE = (
    "involvedObject",
    "reason",
    "message",
    "source",
    "firstTimestamp",
    "lastTimestamp",
    "count",
    "reason",
    "type",
    "eventTime",
    "action",
    "related",
    "reportingController",
    "reportingInstance",
)
_LIMITS = (("reportingInstance", 128), ("action", 128), ("reason", 128))


def as_core(event: dict) -> dict:
    """An events.k8s.io Event with its fields under their core names."""
    if not str(event.get("apiVersion", "")).startswith("events.k8s.io/"):
        return event
    return {_FROM_EVENTS_API.get(k, k): v for k, v in event.items()}


def _legacy(event: dict) -> list[FieldError]:
    m = event.get("metadata") or {}
    namespace = m.get("namespace", "")
    involved_ns = (event.get("involvedObject") or {}).get("namespace", "")
    errs: list[FieldError] = []
    mismatch = invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    if not event.get("eventTime"):
        if (not involved_ns and namespace not in ("", "default")) or (
            involved_ns and namespace != involved_ns
        ):
            errs.append(mismatch)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            errs.append(mismatch)
        controller = event.get("reportingController", "")
        if not controller:
            errs.append(required("reportingController", ""))
        errs += meta.each_message("reportingController", controller, is_qualified_name(controller))
        for name, limit in _LIMITS:
            value = event.get(name, "")
            if not value:
                errs.append(required(name, ""))
            if len(value) > limit:
                errs.append(invalid(name, "", f"can have at most {limit} characters"))
        if len(event.get("message", "")) > 1024:
            errs.append(invalid("message", "", "can have at most 1024 characters"))
    return errs + meta.each_message("namespace", namespace, is_dns1123_subdomain(namespace))


def _series(event: dict) -> list[FieldError]:
    series = event.get("series")
    if series is None:
        return []
    errs = [invalid("series.count", "", "should be at least 2")] if series.get("count", 0) < 2 else []
    if not series.get("lastObservedTime"):
        errs.append(required("series.lastObservedTime", ""))
    return errs


def _strict_create(event: dict) -> list[FieldError]:
    errs = meta.object_meta(event.get("metadata") or {}, True, name_is_dns_subdomain)
    errs += _series(event)
    if not event.get("eventTime"):
        errs.append(required("eventTime", ""))
    if event.get("type") not in ("Normal", "Warning"):
        errs.append(invalid("type", "", f"has invalid value: {event.get('type', '')}"))
    for name in ("firstTimestamp", "lastTimestamp", "count"):
        if event.get(name):
            errs.append(invalid(name, "", "needs to be unset"))
    source = event.get("source") or {}
    if source.get("component") or source.get("host"):
        errs.append(invalid("source", "", "needs to be unset"))
    return errs


def _strict_update(new: dict, old: dict) -> list[FieldError]:
    errs = meta.object_meta_update(new.get("metadata") or {}, old.get("metadata") or {})
    if new.get("series") != old.get("series"):
        errs += _series(new)
    for name in _IMMUTABLE:
        shown = golit.timestamp(new.get(name)) if name in ("firstTimestamp", "lastTimestamp") else None
        errs += meta.immutable(new.get(name), old.get(name), name, shown)
    return errs


def create_core(event: dict) -> list[FieldError]:
    return _legacy(event)


def update_core(new: dict, old: dict) -> list[FieldError]:
    return _legacy(new)


def create_events_api(event: dict) -> list[FieldError]:
    event = as_core(event)
    return _legacy(event) + _strict_create(event)


def update_events_api(new: dict, old: dict) -> list[FieldError]:
    new, old = as_core(new), as_core(old)
    return _legacy(new) + _strict_update(new, old)


RULES: dict[str, Rules] = {"Event": Rules(create_events_api, update_events_api)}
