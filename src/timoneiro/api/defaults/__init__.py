"""Upstream's defaulting (SetDefaults_*) for built-in kinds, as kube-apiserver v1.32 applies it.

Upstream defaults an object every time it decodes one: from a request body and from storage. So
every defaulter here is idempotent and may run again after a strategy has changed the object (a
Job's generated labels, a status reset on create) to get what upstream reads back.
One module per API group; PodSpec defaulting, shared by every workload, lives in podspec.
"""

from __future__ import annotations

from collections.abc import Callable

from timoneiro.api.defaults import (
    admissionregistration,
    apiextensions,
    apps,
    autoscaling,
    batch,
    core,
    discovery,
    networking,
    rbac,
    scheduling,
    storage,
)

_BY_GROUP: dict[str, dict[str, Callable[[dict], None]]] = {
    "": core.DEFAULTERS,
    "admissionregistration.k8s.io": admissionregistration.DEFAULTERS,
    "apiextensions.k8s.io": apiextensions.DEFAULTERS,
    "apps": apps.DEFAULTERS,
    "autoscaling": autoscaling.DEFAULTERS,
    "batch": batch.DEFAULTERS,
    "discovery.k8s.io": discovery.DEFAULTERS,
    "networking.k8s.io": networking.DEFAULTERS,
    "rbac.authorization.k8s.io": rbac.DEFAULTERS,
    "scheduling.k8s.io": scheduling.DEFAULTERS,
    "storage.k8s.io": storage.DEFAULTERS,
}


def apply(group: str, kind: str, obj: dict) -> None:
    """Fill in the defaults kube-apiserver sets for an object of this kind, in place."""
    defaulter = _BY_GROUP.get(group, {}).get(kind)
    if defaulter is not None:
        defaulter(obj)
