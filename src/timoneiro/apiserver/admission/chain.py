"""The admission plugins in kube-apiserver's order (its recommended --enable-admission-plugins order:
NamespaceLifecycle, LimitRanger, ServiceAccount, NodeRestriction, Priority, DefaultTolerationSeconds,
PodSecurity, DefaultStorageClass, ..., ResourceQuota last), registered on the server's generic store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.apiserver.admission import certificates
from timoneiro.apiserver.admission.defaulttolerationseconds import DefaultTolerationSeconds
from timoneiro.apiserver.admission.limitranger import LimitRanger
from timoneiro.apiserver.admission.namespace import NamespaceLifecycle
from timoneiro.apiserver.admission.noderestriction import NodeRestriction
from timoneiro.apiserver.admission.podsecurity import PodSecurity
from timoneiro.apiserver.admission.priority import Priority
from timoneiro.apiserver.admission.resourcequota import ResourceQuotaAdmission
from timoneiro.apiserver.admission.serviceaccount import ServiceAccountAdmission
from timoneiro.apiserver.admission.storageclass import DefaultStorageClass
from timoneiro.apiserver.admission.validatingpolicy import ValidatingAdmissionPolicy

if TYPE_CHECKING:
    from timoneiro.apiserver.app import APIServer


def install(api: APIServer) -> None:
    """Register every plugin's hooks on api.generic, in order. Service address allocation is not
    admission upstream (it is the Service registry's) but runs here, before the CRD mutation."""
    generic = api.generic
    generic.mutators.append(NamespaceLifecycle(api.cache))
    limit_ranger = LimitRanger(api.cache)
    generic.mutators.append(limit_ranger.default)
    generic.validators.append(limit_ranger.validate)
    ServiceAccountAdmission(api.cache).install(generic)
    kinds = api.registry.get
    node_restriction = NodeRestriction(api.cache, kinds("", "v1", "nodes"), kinds("", "v1", "pods"))
    generic.mutators.append(node_restriction)
    generic.delete_validators.append(node_restriction.delete)
    priority = Priority(api.cache, kinds("scheduling.k8s.io", "v1", "priorityclasses"))
    generic.mutators += [priority.admit, DefaultTolerationSeconds()]
    generic.validators += [priority.validate,
                           PodSecurity(api.cache, kinds("", "v1", "pods"), kinds("", "v1", "namespaces"))]
    generic.mutators.append(DefaultStorageClass(api.cache))
    certificates.install(api)  # CertificateApproval, CertificateSigning, CertificateSubjectRestriction
    generic.mutators += [api.service_addresses, api.crds.mutate]
    ValidatingAdmissionPolicy(api).install()  # after the other validating plugins, as upstream orders it
    generic.async_validators.append(ResourceQuotaAdmission(api))  # last
