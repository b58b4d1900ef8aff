"""Defaults of apiextensions.k8s.io/v1 CustomResourceDefinitions (apiextensions-apiserver).

Defaults declared inside a CRD's schema apply to its custom resources and are not handled here.
"""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.api.defaults import fill

WEBHOOK_PORT = 443


def custom_resource_definition(obj: dict) -> None:
    """Singular and listKind from kind, conversion None, webhook port 443, the storage version stored."""
    spec = fill.ensure(obj, "spec")
    names = fill.ensure(spec, "names")
    kind = names.get("kind")
    if kind:
        fill.if_zero(names, "singular", kind.lower())
        fill.if_zero(names, "listKind", kind + "List")
    fill.if_nil(spec, "conversion", {"strategy": "None"})
    webhook = fill.child(fill.child(spec, "conversion"), "webhook")
    service = fill.child(fill.child(webhook, "clientConfig"), "service")
    if service is not None:
        fill.if_nil(service, "port", WEBHOOK_PORT)
    status = fill.ensure(obj, "status")
    if not status.get("storedVersions"):
        stored = [v.get("name") for v in fill.dicts(spec, "versions") if v.get("storage")][:1]
        if stored:
            status["storedVersions"] = stored


DEFAULTERS: dict[str, Callable[[dict], None]] = {
    "CustomResourceDefinition": custom_resource_definition,
}
