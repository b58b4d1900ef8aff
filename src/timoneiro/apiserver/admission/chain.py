"""The admission plugins in kube-apiserver's order (its recommended --enable-admission-plugins order:
NamespaceLifecycle, LimitRanger, ServiceAccount, NodeRestriction, Priority, DefaultTolerationSeconds,
PodSecurity, DefaultStorageClass, ..., ResourceQuota last), registered on the server's generic store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.apiserver.admission.namespace import NamespaceLifecycle

if TYPE_CHECKING:
    from timoneiro.apiserver.app import APIServer


def install(api: APIServer) -> None:
    """Register every plugin's hooks on api.generic, in order. Service address allocation is not
    admission upstream (it is the Service registry's) but runs here, before the CRD mutation."""
    generic = api.generic
    generic.mutators += [NamespaceLifecycle(api.cache), api.service_addresses, api.crds.mutate]
