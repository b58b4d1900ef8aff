"""The built-in kinds kube-apiserver v1.32 serves, with their discovery names and subresources."""

from __future__ import annotations

from timoneiro.api import conversion
from timoneiro.api.kinds import Kind, Registry, ScalePaths

ALL = ("all",)
READ_CREATE = ("create", "get", "list", "watch")
WORKLOAD_SCALE = ScalePaths(".spec.replicas", ".status.replicas", ".status.selector")
EVENT_FIELDS = (
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
    "reason", "reportingComponent", "source", "type",
)
POD_FIELDS = (
    "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
    "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
)


def builtin_kinds() -> list[Kind]:
    core = [
        Kind("", "v1", "Binding", "bindings", verbs=("create",)),
        Kind("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
        Kind("", "v1", "Endpoints", "endpoints", short_names=("ep",)),
        Kind("", "v1", "Event", "events", short_names=("ev",), selectable_fields=EVENT_FIELDS),
        Kind("", "v1", "LimitRange", "limitranges", short_names=("limits",)),
        Kind("", "v1", "Namespace", "namespaces", namespaced=False, short_names=("ns",),
             subresources=("status", "finalize"), selectable_fields=("status.phase",)),
        Kind("", "v1", "Node", "nodes", namespaced=False, short_names=("no",),
             subresources=("status", "proxy"), selectable_fields=("spec.unschedulable",)),
        Kind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short_names=("pvc",),
             subresources=("status",)),
        Kind("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short_names=("pv",),
             subresources=("status",)),
        Kind("", "v1", "Pod", "pods", short_names=("po",), categories=ALL,
             subresources=("status", "binding", "eviction", "log", "exec", "attach", "portforward",
                           "proxy", "ephemeralcontainers"),
             selectable_fields=POD_FIELDS),
        Kind("", "v1", "PodTemplate", "podtemplates"),
        Kind("", "v1", "ReplicationController", "replicationcontrollers", short_names=("rc",),
             categories=ALL, subresources=("status", "scale"), selectable_fields=("status.replicas",),
             scale=ScalePaths(".spec.replicas", ".status.replicas", ".status.selector"), generation=True),
        Kind("", "v1", "ResourceQuota", "resourcequotas", short_names=("quota",), subresources=("status",)),
        Kind("", "v1", "Secret", "secrets", selectable_fields=("type",)),
        Kind("", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",), subresources=("token",)),
        Kind("", "v1", "Service", "services", short_names=("svc",), categories=ALL,
             subresources=("status", "proxy")),
    ]
    apps = [
        Kind("apps", "v1", "ControllerRevision", "controllerrevisions"),
        Kind("apps", "v1", "DaemonSet", "daemonsets", short_names=("ds",), categories=ALL,
             subresources=("status",), generation=True),
        Kind("apps", "v1", "Deployment", "deployments", short_names=("deploy",), categories=ALL,
             subresources=("status", "scale"), scale=WORKLOAD_SCALE, generation=True),
        Kind("apps", "v1", "ReplicaSet", "replicasets", short_names=("rs",), categories=ALL,
             subresources=("status", "scale"), scale=WORKLOAD_SCALE, generation=True,
             selectable_fields=("status.replicas",)),
        Kind("apps", "v1", "StatefulSet", "statefulsets", short_names=("sts",), categories=ALL,
             subresources=("status", "scale"), scale=WORKLOAD_SCALE, generation=True),
    ]
    batch = [
        Kind("batch", "v1", "CronJob", "cronjobs", short_names=("cj",), categories=ALL,
             subresources=("status",), generation=True),
        Kind("batch", "v1", "Job", "jobs", categories=ALL, subresources=("status",), generation=True,
             selectable_fields=("status.successful",)),
    ]
    networking = [
        Kind("networking.k8s.io", "v1", "Ingress", "ingresses", short_names=("ing",),
             subresources=("status",), generation=True),
        Kind("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False, generation=True),
        Kind("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=("netpol",),
             generation=True),
    ]
    others = [
        Kind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
        Kind("coordination.k8s.io", "v1", "Lease", "leases"),
        Kind("events.k8s.io", "v1", "Event", "events", short_names=("ev",), storage_resource="core/events",
             storage_version="core/v1", selectable_fields=EVENT_FIELDS,
             to_storage=conversion.event_events_to_core, from_storage=conversion.event_core_to_events),
        Kind("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False, short_names=("sc",)),
        Kind("storage.k8s.io", "v1", "CSIDriver", "csidrivers", namespaced=False),
        Kind("storage.k8s.io", "v1", "CSINode", "csinodes", namespaced=False),
        Kind("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", namespaced=False,
             subresources=("status",)),
        Kind("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
        Kind("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
        Kind("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
        Kind("rbac.authorization.k8s.io", "v1", "Role", "roles"),
        Kind("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", namespaced=False, verbs=("create",)),
        Kind("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", namespaced=False,
             verbs=("create",)),
        Kind("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", namespaced=False,
             verbs=("create",)),
        Kind("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", namespaced=False,
             verbs=("create",)),
        Kind("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews",
             verbs=("create",)),
        Kind("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", namespaced=False,
             verbs=("create",)),
        Kind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short_names=("pdb",),
             subresources=("status",), generation=True),
        Kind("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short_names=("hpa",),
             categories=ALL, subresources=("status",), generation=True),
        Kind("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short_names=("hpa",),
             categories=ALL, subresources=("status",), generation=True, storage_version="autoscaling/v2"),
        Kind("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", namespaced=False, short_names=("pc",)),
        Kind("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests",
             namespaced=False, short_names=("csr",), subresources=("status", "approval"),
             selectable_fields=("spec.signerName",)),
        Kind("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies",
             namespaced=False, categories=("api-extensions",), subresources=("status",), generation=True),
        Kind("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
             "validatingadmissionpolicybindings", namespaced=False, categories=("api-extensions",), generation=True),
        Kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
             namespaced=False, short_names=("crd", "crds"), categories=("api-extensions",),
             subresources=("status",), generation=True),
        Kind("apiregistration.k8s.io", "v1", "APIService", "apiservices", namespaced=False,
             categories=("api-extensions",), subresources=("status",)),
    ]
    return core + apps + batch + networking + others


def builtin_registry() -> Registry:
    from timoneiro.api.strategies import with_strategies

    return Registry(with_strategies(builtin_kinds()))
