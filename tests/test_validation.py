"""Validation of built-in kinds: upstream's field paths and message bodies for invalid objects, and
no errors at all for typical valid ones. Objects are in their defaulted v1 wire form."""

import copy

import pytest

from timoneiro.api import validation
from timoneiro.api.builtin import builtin_registry
from timoneiro.api.kinds import Kind

REGISTRY = builtin_registry()

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    r"validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex "
    "used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
QUALIFIED_NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
    "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)


def kind(group: str, plural: str, version: str = "v1") -> Kind:
    k = REGISTRY.get(group, version, plural)
    assert k is not None
    return k


def errors(k: Kind, obj: dict) -> list[str]:
    return [str(e) for e in validation.validate(k, obj)]


def update_errors(k: Kind, new: dict, old: dict) -> list[str]:
    return [str(e) for e in validation.validate_update(k, new, old)]


def metadata(name: str = "web", namespace: str | None = "default", **extra) -> dict:
    m = {
        "name": name,
        "uid": "6b7c2a1e-0000-4000-8000-000000000001",
        "creationTimestamp": "2024-05-01T10:00:00Z",
        "resourceVersion": "7",
        **extra,
    }
    if namespace:
        m["namespace"] = namespace
    return m


def container(name: str = "nginx", image: str = "nginx:1.27") -> dict:
    return {
        "name": name,
        "image": image,
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }


def pod_spec(**extra) -> dict:
    return {
        "containers": [container()],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "enableServiceLinks": True,
        **extra,
    }


def pod(**spec_extra) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata("web-0", labels={"app": "web"}),
        "spec": pod_spec(**spec_extra),
    }


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(generation=1),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec()},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
    }


def service() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("web"),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": "web"},
            "sessionAffinity": "None",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
    }


POD = kind("", "pods")
DEPLOYMENT = kind("apps", "deployments")
SERVICE = kind("", "services")


# --- ObjectMeta


def test_valid_typical_objects_have_no_errors():
    assert errors(POD, pod()) == []
    assert errors(DEPLOYMENT, deployment()) == []
    assert errors(SERVICE, service()) == []


def test_name_is_required_unless_generated():
    obj = deployment()
    del obj["metadata"]["name"]
    assert errors(DEPLOYMENT, obj) == ["metadata.name: Required value: name or generateName is required"]


def test_name_formats_per_kind():
    obj = deployment()
    obj["metadata"]["name"] = "Web_1"
    assert errors(DEPLOYMENT, obj) == [f'metadata.name: Invalid value: "Web_1": {SUBDOMAIN_MSG}']
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata("team.a", None)}
    assert errors(kind("", "namespaces"), ns) == [
        'metadata.name: Invalid value: "team.a": must not contain dots'
    ]
    svc = service()
    svc["metadata"]["name"] = "1web"
    assert errors(SERVICE, svc) == [f'metadata.name: Invalid value: "1web": {DNS1035_MSG}']
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata("a/b"),
        "rules": [],
    }
    assert errors(kind("rbac.authorization.k8s.io", "roles"), role) == [
        "metadata.name: Invalid value: \"a/b\": may not contain '/'"
    ]


def test_name_too_long():
    obj = deployment()
    obj["metadata"]["name"] = "a" * 254
    assert errors(DEPLOYMENT, obj) == [
        f'metadata.name: Invalid value: "{"a" * 254}": must be no more than 253 characters'
    ]


def test_generate_name_may_end_with_a_dash():
    obj = deployment()
    obj["metadata"]["generateName"] = "web-"
    assert errors(DEPLOYMENT, obj) == []
    obj["metadata"]["generateName"] = "Web-"
    assert errors(DEPLOYMENT, obj)[0].startswith(
        'metadata.generateName: Invalid value: "Web-": a lowercase RFC 1123'
    )


def test_namespace_required_or_forbidden():
    obj = deployment()
    del obj["metadata"]["namespace"]
    assert errors(DEPLOYMENT, obj) == ["metadata.namespace: Required value"]
    node = {"apiVersion": "v1", "kind": "Node", "metadata": metadata("n1", "default")}
    assert errors(kind("", "nodes"), node) == ["metadata.namespace: Forbidden: not allowed on this type"]


def test_labels_and_annotations():
    obj = deployment()
    obj["metadata"]["labels"] = {"app_": "ok", "tier": "front end", "example.com/": "x"}
    obj["metadata"]["annotations"] = {"Example.com/Owner": "me", "bad key": "x"}
    assert errors(DEPLOYMENT, obj) == [
        f'metadata.labels: Invalid value: "app_": {QUALIFIED_NAME_PART}',
        f'metadata.labels: Invalid value: "front end": {LABEL_VALUE_MSG}',
        'metadata.labels: Invalid value: "example.com/": name part must be non-empty',
        f'metadata.labels: Invalid value: "example.com/": {QUALIFIED_NAME_PART}',
        f'metadata.annotations: Invalid value: "bad key": {QUALIFIED_NAME_PART}',
    ]


def test_label_value_too_long_and_annotation_size():
    obj = deployment()
    obj["metadata"]["labels"] = {"app": "x" * 64}
    assert errors(DEPLOYMENT, obj) == [
        f'metadata.labels: Invalid value: "{"x" * 64}": must be no more than 63 characters'
    ]
    obj = deployment()
    obj["metadata"]["annotations"] = {"big": "x" * (256 * 1024)}
    assert errors(DEPLOYMENT, obj) == ["metadata.annotations: Too long: may not be more than 262144 bytes"]


def test_finalizers_and_owner_references():
    obj = deployment()
    obj["metadata"]["finalizers"] = ["orphan", "foregroundDeletion", "cleanup"]
    obj["metadata"]["ownerReferences"] = [
        {"apiVersion": "", "kind": "Thing", "name": "a", "uid": "1"},
        {"apiVersion": "v1", "kind": "Pod", "name": "b", "uid": "2", "controller": True},
        {"apiVersion": "v1", "kind": "Pod", "name": "c", "uid": "3", "controller": True},
    ]
    errs = errors(DEPLOYMENT, obj)
    assert errs[0] == 'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty'
    assert errs[1].startswith("metadata.ownerReferences: Invalid value: ")
    assert errs[1].endswith(
        ': Only one reference can have Controller set to true. Found "true" in references for Pod/b and Pod/c'
    )
    assert errs[2:] == [
        'metadata.finalizers: Invalid value: []string{"orphan", "foregroundDeletion", "cleanup"}: '
        "finalizer orphan and foregroundDeletion cannot be both set",
        'metadata.finalizers[2]: Invalid value: "cleanup": name is neither a standard finalizer name nor is it '
        "fully qualified",
    ]


def test_events_may_not_own_objects():
    obj = deployment()
    obj["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "1"}]
    assert errors(DEPLOYMENT, obj)[0].endswith(": /v1, Kind=Event is disallowed from being an owner")


def test_update_keeps_identity_fields():
    old = deployment()
    new = copy.deepcopy(old)
    new["metadata"]["uid"] = "other"
    new["metadata"]["creationTimestamp"] = "2024-06-01T00:00:00Z"
    new["metadata"]["generation"] = 0
    assert update_errors(DEPLOYMENT, new, old) == [
        "metadata.generation: Invalid value: 0: must not be decremented",
        'metadata.uid: Invalid value: "other": field is immutable',
        "metadata.creationTimestamp: Invalid value: 2024-06-01 00:00:00 +0000 UTC: field is immutable",
    ]


def test_no_new_finalizers_while_deleting():
    old = deployment()
    old["metadata"]["deletionTimestamp"] = "2024-05-02T00:00:00Z"
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = ["example.com/hold"]
    assert update_errors(DEPLOYMENT, new, old) == [
        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, "
        'found new finalizers []string{"example.com/hold"}'
    ]


def test_custom_resources_get_only_metadata_checks():
    crd_kind = Kind("example.com", "v1", "Widget", "widgets", crd={"spec": {}})
    assert errors(crd_kind, {"metadata": metadata("w1"), "spec": {"anything": True}}) == []
    assert errors(crd_kind, {"metadata": metadata("W1")}) == [
        f'metadata.name: Invalid value: "W1": {SUBDOMAIN_MSG}'
    ]
    assert errors(crd_kind, {"metadata": metadata("w1", finalizers=["cleanup"])}) == []


# --- Pods


def test_pod_requires_containers_and_images():
    obj = pod()
    obj["spec"]["containers"] = []
    assert errors(POD, obj) == ["spec.containers: Required value"]
    obj = pod()
    obj["spec"]["containers"][0]["image"] = ""
    assert errors(POD, obj) == ["spec.containers[0].image: Required value"]


def test_container_names_are_unique_dns_labels():
    obj = pod()
    obj["spec"]["containers"] = [container("app"), container("app"), container("App")]
    obj["spec"]["containers"][1]["ports"] = []
    obj["spec"]["containers"][2]["ports"] = []
    assert errors(POD, obj) == [
        'spec.containers[1].name: Duplicate value: "app"',
        f'spec.containers[2].name: Invalid value: "App": {LABEL_MSG}',
    ]


def test_container_ports():
    obj = pod()
    obj["spec"]["containers"][0]["ports"] = [
        {"containerPort": 0, "protocol": "TCP"},
        {"name": "HTTP", "containerPort": 70000, "protocol": "ICMP"},
        {"containerPort": 80, "hostPort": 8080, "protocol": "TCP"},
        {"containerPort": 81, "hostPort": 8080, "protocol": "TCP"},
    ]
    assert errors(POD, obj) == [
        "spec.containers[0].ports[0].containerPort: Required value",
        'spec.containers[0].ports[1].name: Invalid value: "HTTP": must contain only alpha-numeric characters '
        "(a-z, 0-9), and hyphens (-)",
        'spec.containers[0].ports[1].name: Invalid value: "HTTP": must contain at least one letter (a-z)',
        "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        'spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        'spec.containers[0].ports[3].hostPort: Duplicate value: "TCP//8080"',
    ]


def test_env_names_and_sources():
    obj = pod()
    obj["spec"]["containers"][0]["env"] = [
        {"name": ""},
        {"name": "A=B", "value": "x"},
        {"name": "FROM", "valueFrom": {}},
        {"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "bad key"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeNames"}}},
    ]
    assert errors(POD, obj) == [
        "spec.containers[0].env[0].name: Required value",
        'spec.containers[0].env[1].name: Invalid value: "A=B": a valid environment variable name must consist only '
        "of printable ASCII characters other than '='",
        'spec.containers[0].env[2].valueFrom: Invalid value: "": must specify one of: `fieldRef`, '
        "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        f'spec.containers[0].env[3].valueFrom.configMapKeyRef.key: Invalid value: "bad key": {CONFIG_KEY_MSG}',
        'spec.containers[0].env[4].valueFrom.fieldRef.fieldPath: Invalid value: "spec.nodeNames": error converting '
        "fieldPath: field label not supported: spec.nodeNames",
    ]


def test_resources_requests_within_limits():
    obj = pod()
    obj["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "500m", "memory": "128Mi"},
        "requests": {"cpu": "1", "memory": "-1"},
    }
    assert errors(POD, obj) == [
        'spec.containers[0].resources.requests: Invalid value: "1": must be less than or equal to cpu limit of 500m',
        'spec.containers[0].resources.requests[memory]: Invalid value: "-1": must be greater than or equal to 0',
    ]


def test_resource_names():
    obj = pod()
    obj["spec"]["containers"][0]["resources"] = {"limits": {"gpu": "1", "example.com/dongle": "1.5"}}
    assert errors(POD, obj) == [
        'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource type or fully '
        "qualified",
        'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for containers',
        "spec.containers[0].resources.limits[example.com/dongle]: Invalid value: resource.Quantity{i:resource."
        'int64Amount{value:15, scale:-1}, d:resource.infDecAmount{Dec:(*inf.Dec)(nil)}, s:"", Format:"DecimalSI"}: '
        "must be an integer",
    ]


def test_volumes_and_mounts():
    obj = pod(
        volumes=[
            {"name": "data", "emptyDir": {}},
            {"name": "data", "emptyDir": {}},
            {"name": "nothing"},
            {"name": "cfg", "configMap": {"name": "", "items": [{"key": "a", "path": "/abs"}]}},
        ]
    )
    obj["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/data"},
        {"name": "missing", "mountPath": "/data"},
        {"name": "data", "mountPath": "/sub", "subPath": "../up"},
    ]
    assert errors(POD, obj) == [
        'spec.volumes[1].name: Duplicate value: "data"',
        "spec.volumes[2]: Required value: must specify a volume type",
        "spec.volumes[3].configMap.name: Required value",
        'spec.volumes[3].configMap.items[0].path: Invalid value: "/abs": must be a relative path',
        'spec.containers[0].volumeMounts[1].name: Not found: "missing"',
        'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique',
        "spec.containers[0].volumeMounts.subPath: Invalid value: \"../up\": must not contain '..'",
    ]


def test_pod_policies_and_probes():
    obj = pod(restartPolicy="Sometimes", dnsPolicy="")
    obj["spec"]["containers"][0]["livenessProbe"] = {
        "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
        "successThreshold": 2,
        "periodSeconds": -1,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
    }
    obj["spec"]["containers"][0]["readinessProbe"] = {
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert errors(POD, obj) == [
        "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
        "spec.containers[0].readinessProbe: Required value: must specify a handler type",
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
        "spec.dnsPolicy: Required value",
    ]


def test_node_selector_tolerations_and_affinity():
    obj = pod(
        nodeSelector={"disk": "fast ssd"},
        tolerations=[
            {"key": "", "operator": "Equal", "value": "x"},
            {"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5},
        ],
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Near"}]}]
                }
            }
        },
    )
    assert errors(POD, obj) == [
        f'spec.nodeSelector: Invalid value: "fast ssd": {LABEL_VALUE_MSG}',
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]."
        'matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator',
        'spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which '
        'means "match all values and all keys"',
        "spec.tolerations[1].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when "
        "`tolerationSeconds` is set",
    ]



def test_node_selectors_also_take_gt_and_lt_but_label_selectors_do_not():
    terms = [
        {
            "matchExpressions": [
                {"key": "cores", "operator": "Gt", "values": ["4", "8"]},
                {"key": "cores", "operator": "Lt", "values": ["16"]},
            ]
        }
    ]
    obj = pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}})
    assert errors(POD, obj) == [
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]."
        "matchExpressions[0].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"
    ]
    obj = deployment()
    obj["spec"]["selector"]["matchExpressions"] = [{"key": "tier", "operator": "Gt", "values": ["1"]}]
    assert errors(DEPLOYMENT, obj)[0] == (
        'spec.selector.matchExpressions[0].operator: Invalid value: "Gt": not a valid selector operator'
    )

def test_security_context_basics():
    obj = pod(
        securityContext={"runAsUser": -1, "sysctls": [{"name": "net.core.somaxconn", "value": "1"}]},
        hostNetwork=True,
    )
    obj["spec"]["containers"][0]["ports"][0]["hostPort"] = 80
    obj["spec"]["containers"][0]["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "privileged": True,
        "seccompProfile": {"type": "Localhost"},
    }
    errs = errors(POD, obj)
    assert errs[0] == (
        "spec.containers[0].securityContext.seccompProfile.localhostProfile: Required value: must be "
        "set when seccomp type is Localhost"
    )
    assert errs[1].startswith("spec.containers[0].securityContext: Invalid value: ")
    assert errs[1].endswith(": cannot set `allowPrivilegeEscalation` to false and `privileged` to true")
    assert errs[2:] == [
        "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 4294967295, inclusive",
        'spec.securityContext.sysctls[0].name: Invalid value: "net.core.somaxconn": may not be specified when '
        "'hostNetwork' is true",
    ]


def test_pod_update_may_change_only_some_fields():
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.28"
    new["spec"]["activeDeadlineSeconds"] = 60
    assert update_errors(POD, new, old) == []
    new["spec"]["restartPolicy"] = "Never"
    errs = update_errors(POD, new, old)
    assert len(errs) == 1
    assert errs[0].startswith(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
        "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
    )
    assert "-" in errs[0] and '"Always"' in errs[0] and '"Never"' in errs[0]


def test_pod_binding_may_assign_a_node_once():
    old = pod()
    bound = copy.deepcopy(old)
    bound["spec"]["nodeName"] = "node-1"
    assert update_errors(POD, bound, old) == []
    moved = copy.deepcopy(bound)
    moved["spec"]["nodeName"] = "node-2"
    assert update_errors(POD, moved, bound)[0].startswith(
        "spec: Forbidden: pod updates may not change fields other"
    )


def test_pod_update_container_list_and_deadline():
    old = pod(activeDeadlineSeconds=30)
    new = copy.deepcopy(old)
    new["spec"]["activeDeadlineSeconds"] = 60
    assert update_errors(POD, new, old) == [
        "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"
    ]
    new = copy.deepcopy(old)
    new["spec"]["containers"].append(container("sidecar"))
    new["spec"]["containers"][1]["ports"] = []
    assert update_errors(POD, new, old) == [
        "spec.containers: Forbidden: pod updates may not add or remove containers"
    ]


def test_pod_templates_in_workloads():
    obj = deployment()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Sometimes"
    assert errors(DEPLOYMENT, obj) == [
        'spec.template.spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: '
        '"Always", "IfNotPresent", "Never"',
        'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
    ]


# --- Services


def test_service_ports_and_type():
    svc = service()
    svc["spec"]["ports"] = [
        {"port": 0, "targetPort": 8080, "protocol": "TCP"},
        {"name": "http", "port": 80, "targetPort": "web server", "protocol": "HTTP"},
    ]
    svc["spec"]["type"] = "Internal"
    assert errors(SERVICE, svc) == [
        "spec.ports[0].name: Required value",
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        'spec.ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        'spec.ports[1].targetPort: Invalid value: "web server": must contain only alpha-numeric characters '
        "(a-z, 0-9), and hyphens (-)",
        'spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
        '"NodePort"',
    ]


def test_service_ports_required_unless_headless():
    svc = service()
    svc["spec"]["ports"] = []
    assert errors(SERVICE, svc) == ["spec.ports: Required value"]
    svc["spec"]["clusterIP"] = "None"
    svc["spec"]["clusterIPs"] = ["None"]
    assert errors(SERVICE, svc) == []


def test_external_name_and_node_port_rules():
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata("ext"),
        "spec": {"type": "ExternalName", "externalName": "Bad_Host", "sessionAffinity": "None"},
    }
    assert errors(SERVICE, svc) == [f'spec.externalName: Invalid value: "Bad_Host": {SUBDOMAIN_MSG}']
    svc = service()
    svc["spec"]["ports"][0]["nodePort"] = 30080
    assert errors(SERVICE, svc) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    ]


def test_load_balancer_services():
    svc = service()
    svc["spec"].update(type="LoadBalancer", externalTrafficPolicy="Local", allocateLoadBalancerNodePorts=True)
    svc["spec"]["ports"][0]["nodePort"] = 30080
    assert errors(SERVICE, svc) == []
    svc["spec"]["clusterIP"] = "None"
    svc["spec"]["clusterIPs"] = ["None"]
    del svc["spec"]["allocateLoadBalancerNodePorts"]
    svc["spec"]["externalTrafficPolicy"] = "Nearest"
    assert errors(SERVICE, svc) == [
        "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for LoadBalancer services",
        "allocateLoadBalancerNodePorts: Required value",
        'spec.externalTrafficPolicy: Unsupported value: "Nearest": supported values: "Cluster", "Local"',
    ]
    plain = service()
    plain["spec"]["externalTrafficPolicy"] = "Cluster"
    assert errors(SERVICE, plain) == [
        'spec.externalTrafficPolicy: Invalid value: "Cluster": may only be set for externally-accessible services']


def test_null_fields_read_as_unset():
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = None
    obj["metadata"]["labels"] = None
    obj["spec"]["template"]["spec"]["volumes"] = None
    assert errors(DEPLOYMENT, obj) == []


def test_service_cluster_ip_is_immutable():
    old = service()
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.11"
    new["spec"]["clusterIPs"] = ["10.96.0.11"]
    assert update_errors(SERVICE, new, old) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set'
    ]


def test_endpoints():
    ep = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": metadata("web"),
        "subsets": [
            {
                "addresses": [{"ip": "127.0.0.1"}, {"ip": "10.0.0.300"}],
                "ports": [{"port": 80, "protocol": "TCP"}],
            }
        ],
    }
    assert errors(kind("", "endpoints"), ep) == [
        'subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
        'subsets[0].addresses[1].ip: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or '
        "2001:db8::ffff)",
        'subsets[0].addresses[1].ip: Invalid value: "10.0.0.300": must be a valid IP address',
    ]


# --- Namespaces, ConfigMaps, Secrets, ServiceAccounts


def config_map(**extra) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata("settings"), **extra}


def secret(**extra) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata("creds"), "type": "Opaque", **extra}


def test_config_map_keys_and_size():
    k = kind("", "configmaps")
    assert errors(k, config_map(data={"app.conf": "x"})) == []
    assert errors(k, config_map(data={"bad key": "x", "dup": "1"}, binaryData={"dup": "AA=="})) == [
        f'data[bad key]: Invalid value: "bad key": {CONFIG_KEY_MSG}',
        'data[dup]: Invalid value: "dup": duplicate of key present in binaryData',
    ]
    assert errors(k, config_map(data={"big": "x" * (1024 * 1024 + 1)})) == [
        ": Too long: may not be more than 1048576 bytes"
    ]


def test_immutable_config_map_and_secret():
    k = kind("", "configmaps")
    old = config_map(data={"a": "1"}, immutable=True)
    new = copy.deepcopy(old)
    new["data"]["a"] = "2"
    assert update_errors(k, new, old) == ["data: Forbidden: field is immutable when `immutable` is set"]
    k = kind("", "secrets")
    old = secret(data={"a": "MQ=="}, immutable=True)
    new = copy.deepcopy(old)
    new["immutable"] = False
    new["type"] = "kubernetes.io/tls"
    assert update_errors(k, new, old) == [
        'type: Invalid value: "kubernetes.io/tls": field is immutable',
        "immutable: Forbidden: field is immutable when `immutable` is set",
        "data[tls.crt]: Required value",
        "data[tls.key]: Required value",
    ]


def test_secret_types_need_their_keys():
    k = kind("", "secrets")
    assert errors(k, secret(type="kubernetes.io/tls", data={"tls.crt": "Y2VydA=="})) == [
        "data[tls.key]: Required value"
    ]
    assert errors(k, secret(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": "QEBA"})) == [
        "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character '@' looking for "
        "beginning of value"
    ]
    for raw, found in (("WzFd", "array"), ("InMi", "string"), ("dHJ1ZQ==", "bool"), ("MS41", "number")):
        assert errors(k, secret(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": raw})) == [
            "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": json: cannot unmarshal "
            f"{found} into Go value of type map[string]interface {{}}"
        ]
    assert errors(k, secret(type="kubernetes.io/service-account-token")) == [
        "metadata.annotations[kubernetes.io/service-account.name]: Required value"
    ]
    assert errors(k, secret(stringData={"bad key": "x"})) == [
        f'data[bad key]: Invalid value: "bad key": {CONFIG_KEY_MSG}'
    ]


def test_namespace_finalizers_and_service_account():
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata("team-a", None),
        "spec": {"finalizers": ["kubernetes", "cleanup"]},
    }
    assert errors(kind("", "namespaces"), ns) == [
        'spec.finalizers: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified'
    ]
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata("builder")}
    assert errors(kind("", "serviceaccounts"), sa) == []


# --- Nodes, Events, volumes, RCs, LimitRanges, quotas


def test_node_taints():
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": metadata("node-1", None),
        "spec": {
            "taints": [
                {"key": "dedicated", "value": "gpu", "effect": "NoRun"},
                {"key": "dedicated", "value": "x", "effect": "NoSchedule"},
                {"key": "dedicated", "value": "y", "effect": "NoSchedule"},
            ]
        },
    }
    errs = errors(kind("", "nodes"), node)
    assert errs[0] == (
        'metadata.taints[0].effect: Unsupported value: "NoRun": supported values: "NoSchedule", '
        '"PreferNoSchedule", "NoExecute"'
    )
    assert errs[1].startswith("metadata.taints[2]: Duplicate value: ")
    assert errs[1].endswith(": taints must be unique by key and effect pair")


def test_core_events_use_legacy_rules():
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata("web.17a"),
        "involvedObject": {"kind": "Pod", "namespace": "other", "name": "web"},
        "reason": "Started",
    }
    assert errors(kind("", "events"), event) == [
        'involvedObject.namespace: Invalid value: "other": does not match event.namespace'
    ]
    event["involvedObject"]["namespace"] = "default"
    assert errors(kind("", "events"), event) == []


def test_events_api_is_strict():
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": metadata("web.17a"),
        "regarding": {"kind": "Pod", "namespace": "default", "name": "web"},
        "eventTime": "2024-05-01T10:00:00.000000Z",
        "reason": "Started",
        "action": "Start",
        "reportingController": "kubelet",
        "reportingInstance": "node-1",
        "type": "Normal",
        "note": "ok",
    }
    events_kind = kind("events.k8s.io", "events")
    assert errors(events_kind, event) == []
    event["type"] = "Info"
    event["deprecatedCount"] = 2
    del event["action"]
    assert errors(events_kind, event) == [
        "action: Required value",
        'type: Invalid value: "": has invalid value: Info',
        'count: Invalid value: "": needs to be unset',
    ]


def test_persistent_volume_claims():
    k = kind("", "persistentvolumeclaims")
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata("data"),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
            "volumeMode": "Filesystem",
        },
    }
    assert errors(k, pvc) == []
    bad = copy.deepcopy(pvc)
    bad["spec"]["accessModes"] = ["ReadWriteSometimes"]
    bad["spec"]["resources"] = {}
    assert errors(k, bad) == [
        'spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", '
        '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"',
        "spec.resources[storage]: Required value",
    ]
    bound = copy.deepcopy(pvc)
    bound["spec"]["volumeName"] = "pv-1"
    bound["status"] = {"phase": "Bound", "capacity": {"storage": "1Gi"}}
    grown = copy.deepcopy(bound)
    grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert update_errors(k, grown, bound) == []
    changed = copy.deepcopy(bound)
    changed["spec"]["accessModes"] = ["ReadWriteMany"]
    errs = update_errors(k, changed, bound)
    assert len(errs) == 1
    assert errs[0].startswith(
        "spec: Forbidden: spec is immutable after creation except resources.requests and "
        "volumeAttributesClassName for bound claims\n"
    )


def test_persistent_volume():
    k = kind("", "persistentvolumes")
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": metadata("pv-1", None),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "capacity": {"storage": "10Gi"},
            "persistentVolumeReclaimPolicy": "Retain",
            "volumeMode": "Filesystem",
            "hostPath": {"path": "/data", "type": ""},
        },
    }
    assert errors(k, pv) == []
    bad = copy.deepcopy(pv)
    bad["spec"]["nfs"] = {"server": "nfs", "path": "/x"}
    bad["spec"]["capacity"] = {"storage": "0"}
    assert errors(k, bad) == [
        'spec.capacity[storage]: Invalid value: "0": must be greater than zero',
        "spec.nfs: Forbidden: may not specify more than 1 volume type",
    ]


def test_replication_controller():
    rc = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": metadata("web"),
        "spec": {
            "replicas": -1,
            "selector": {"app": "web"},
            "template": {"metadata": {"labels": {"app": "other"}}, "spec": pod_spec()},
        },
    }
    assert errors(kind("", "replicationcontrollers"), rc) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not '
        "match template `labels`",
    ]


def test_limit_range_and_quota():
    lr = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": metadata("limits"),
        "spec": {
            "limits": [
                {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}},
                {"type": "Pod", "default": {"cpu": "1"}},
            ]
        },
    }
    errs = errors(kind("", "limitranges"), lr)
    assert errs[0].startswith("spec.limits[0].min[cpu]: Invalid value: resource.Quantity{")
    assert errs[0].endswith(": min value 2 is greater than max value 1")
    assert errs[1] == "spec.limits[1].default: Forbidden: may not be specified when `type` is 'Pod'"
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": metadata("quota"),
        "spec": {"hard": {"pods": "10", "count/deployments.apps": "5", "gpus": "1"}},
    }
    assert errors(kind("", "resourcequotas"), quota) == [
        'spec.hard[gpus]: Invalid value: "gpus": must be a standard resource type or fully qualified',
        'spec.hard[gpus]: Invalid value: "gpus": must be a standard resource for quota',
    ]


# --- apps/v1


def test_deployment_selector_must_match_template():
    obj = deployment()
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "x"}
    assert errors(DEPLOYMENT, obj) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: `selector` does not match '
        "template `labels`"
    ]


def test_deployment_selector_required_and_not_empty():
    obj = deployment()
    del obj["spec"]["selector"]
    assert errors(DEPLOYMENT, obj) == [
        "spec.selector: Required value",
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match '
        "template `labels`",
    ]
    obj = deployment()
    obj["spec"]["selector"] = {}
    assert errors(DEPLOYMENT, obj) == [
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
    ]


def test_deployment_selector_is_immutable():
    old = deployment()
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "front"}}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    assert update_errors(DEPLOYMENT, new, old) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"front"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    ]


def test_deployment_replicas_strategy_and_deadline():
    obj = deployment()
    obj["spec"]["replicas"] = -1
    obj["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"},
    }
    obj["spec"]["minReadySeconds"] = 700
    assert errors(DEPLOYMENT, obj) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: '
        "may not be 0 when `maxSurge` is 0",
        "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds",
    ]
    obj = deployment()
    obj["spec"]["strategy"] = {"type": "Recreate", "rollingUpdate": {"maxUnavailable": "150%", "maxSurge": 1}}
    assert errors(DEPLOYMENT, obj) == [
        "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
    ]


def test_replica_set_and_daemon_set():
    rs = deployment()
    rs["kind"] = "ReplicaSet"
    for name in ("strategy", "revisionHistoryLimit", "progressDeadlineSeconds"):
        del rs["spec"][name]
    assert errors(kind("apps", "replicasets"), rs) == []
    ds = copy.deepcopy(rs)
    ds["kind"] = "DaemonSet"
    del ds["spec"]["replicas"]
    ds["spec"]["updateStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1},
    }
    assert errors(kind("apps", "daemonsets"), ds) == [
        'spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:0, IntVal:1, StrVal:""}: '
        "may not be set when maxUnavailable is non-zero"
    ]


def stateful_set() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata("db"),
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "podManagementPolicy": "OrderedReady",
            "selector": {"matchLabels": {"app": "db"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": pod_spec()},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
            "revisionHistoryLimit": 10,
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        },
    }


def test_stateful_set_rules_and_updates():
    k = kind("apps", "statefulsets")
    assert errors(k, stateful_set()) == []
    bad = stateful_set()
    bad["spec"]["podManagementPolicy"] = "Random"
    bad["metadata"]["name"] = "db.main"
    assert errors(k, bad) == [
        'metadata.name: Invalid value: "db.main": must not contain dots',
        "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
    ]
    old = stateful_set()
    new = stateful_set()
    new["spec"]["replicas"] = 5
    assert update_errors(k, new, old) == []
    new["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert update_errors(k, new, old) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
    ]



def test_daemon_and_stateful_set_pods_always_restart():
    ds = deployment()
    ds["kind"] = "DaemonSet"
    for name in ("strategy", "revisionHistoryLimit", "progressDeadlineSeconds", "replicas"):
        del ds["spec"][name]
    ds["spec"]["updateStrategy"] = {"type": "OnDelete"}
    ds["spec"]["template"]["spec"].update(restartPolicy="OnFailure", activeDeadlineSeconds=30)
    assert errors(kind("apps", "daemonsets"), ds) == [
        'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported",
    ]
    ss = stateful_set()
    ss["spec"]["template"]["spec"].update(restartPolicy="Never", activeDeadlineSeconds=30)
    assert errors(kind("apps", "statefulsets"), ss) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
        "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in StatefulSet is not Supported",
    ]


def test_stateful_set_selector_must_be_valid_and_not_empty():
    k = kind("apps", "statefulsets")
    ss = stateful_set()
    ss["spec"]["selector"] = {"matchLabels": {}}
    assert errors(k, ss) == [
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for statefulset"
    ]
    ss["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "Near"}]}
    assert errors(k, ss) == [
        'spec.selector.matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator',
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        'MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"app", Operator:"Near", '
        "Values:[]string(nil)}}}",
    ]

def test_controller_revision():
    k = kind("apps", "controllerrevisions")
    assert errors(
        k,
        {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": metadata("web-1"),
            "revision": -1,
        },
    ) == [
        "data: Required value: data is mandatory",
        "revision: Invalid value: -1: must be greater than or equal to 0",
    ]


# --- batch/v1


def job(**spec_extra) -> dict:
    uid = "6b7c2a1e-0000-4000-8000-000000000001"
    labels = {
        "controller-uid": uid,
        "job-name": "pi",
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": "pi",
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata("pi", generation=1),
        "spec": {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": 6,
            "completionMode": "NonIndexed",
            "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec(restartPolicy="Never")},
            **spec_extra,
        },
    }


JOB = kind("batch", "jobs")
CRONJOB = kind("batch", "cronjobs")


def test_job_restart_policy_and_counts():
    assert errors(JOB, job()) == []
    obj = job(parallelism=-1)
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert errors(JOB, obj) == [
        "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
        'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"',
    ]


def test_indexed_job():
    obj = job(completionMode="Indexed", completions=None)
    del obj["spec"]["completions"]
    assert errors(JOB, obj) == ["spec.completions: Required value: when completion mode is Indexed"]
    obj = job(backoffLimitPerIndex=1)
    assert errors(JOB, obj) == [
        "spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode"
    ]


def test_job_selector_and_template_are_immutable():
    old = job()
    new = job()
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5.40"
    errs = update_errors(JOB, new, old)
    assert len(errs) == 1
    assert errs[0].startswith("spec.template: Invalid value: ") and errs[0].endswith(": field is immutable")
    new = job()
    new["spec"]["selector"] = {"matchLabels": {"job-name": "pi"}}
    assert update_errors(JOB, new, old) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"job-name":"pi"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    ]


def test_job_generated_selector_labels():
    obj = job()
    del obj["spec"]["template"]["metadata"]["labels"]["job-name"]
    assert errors(JOB, obj) == ["spec.template.metadata.labels[job-name]: Required value: must be 'pi'"]


def cron_job(**spec_extra) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata("nightly"),
        "spec": {
            "schedule": "*/5 * * * *",
            "concurrencyPolicy": "Allow",
            "suspend": False,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "spec": {"backoffLimit": 6, "template": {"spec": pod_spec(restartPolicy="OnFailure")}}
            },
            **spec_extra,
        },
    }


@pytest.mark.parametrize(
    "schedule, message",
    [
        ("*/5 * * *", "expected exactly 5 fields, found 4: [*/5 * * *]"),
        ("61 * * * *", "end of range (61) above maximum (59): 61"),
        ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("0 0 * * mon-7", "end of range (7) above maximum (6): mon-7"),
        ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
        ("@sometimes", "unrecognized descriptor: @sometimes"),
        (
            "@every 1 day",
            'failed to parse duration @every 1 day: time: unknown unit " day" in duration "1 day"',
        ),
        ("@every day", 'failed to parse duration @every day: time: invalid duration "day"'),
    ],
)
def test_cron_schedule_errors(schedule, message):
    assert errors(CRONJOB, cron_job(schedule=schedule)) == [
        f"spec.schedule: Invalid value: {schedule!r}: {message}".replace(f"{schedule!r}", f'"{schedule}"')
    ]


@pytest.mark.parametrize(
    "schedule", ["0 3 * * 1-5", "@daily", "@every 1h30m", "0 0 1 jan,JUL *", "*/15 9-17 * * *"]
)
def test_cron_valid_schedules(schedule):
    assert errors(CRONJOB, cron_job(schedule=schedule)) == []


def test_cron_job_time_zone_policy_and_name():
    assert errors(CRONJOB, cron_job(timeZone="Europe/Lisbon")) == []
    assert errors(CRONJOB, cron_job(timeZone="Mars/Olympus", concurrencyPolicy="Sometimes")) == [
        'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus',
        'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"',
    ]
    assert errors(CRONJOB, cron_job(schedule="TZ=UTC 0 * * * *")) == [
        'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field '
        "instead"
    ]
    obj = cron_job()
    obj["metadata"]["name"] = "n" * 53
    assert errors(CRONJOB, obj) == [
        f'metadata.name: Invalid value: "{"n" * 53}": must be no more than 52 characters'
    ]


def test_cron_job_template_selector_is_generated():
    obj = cron_job()
    obj["spec"]["jobTemplate"]["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert errors(CRONJOB, obj) == [
        'spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"',
        'spec.jobTemplate.spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"a":"b"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` will be auto-generated",
    ]


# --- networking.k8s.io/v1


def ingress(**spec) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata("web"),
        "spec": spec,
    }


def backend(name: str = "web", number: int = 80) -> dict:
    return {"service": {"name": name, "port": {"number": number}}}


def test_ingress_rules_and_backends():
    k = kind("networking.k8s.io", "ingresses")
    rule = {
        "host": "example.com",
        "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend()}]},
    }
    assert errors(k, ingress(ingressClassName="nginx", rules=[rule])) == []
    assert errors(k, ingress()) == [
        "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"
    ]
    bad = {
        "host": "10.0.0.1",
        "http": {
            "paths": [
                {"path": "api", "pathType": "Exact", "backend": backend("Web", 0)},
                {"path": "/a//b", "pathType": "Prefix", "backend": {}},
                {"path": "/", "backend": backend()},
            ]
        },
    }
    assert errors(k, ingress(rules=[bad])) == [
        'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address',
        'spec.rules[0].http.paths[0].path: Invalid value: "api": must be an absolute path',
        f'spec.rules[0].http.paths[0].backend.service.name: Invalid value: "Web": {DNS1035_MSG}',
        "spec.rules[0].http.paths[0].backend: Required value: port name or number is required",
        "spec.rules[0].http.paths[1].path: Invalid value: \"/a//b\": must not contain '//'",
        'spec.rules[0].http.paths[1].backend: Invalid value: "": resource or service backend is required',
        "spec.rules[0].http.paths[2].pathType: Required value: pathType must be specified",
    ]


def test_ingress_class_controller_is_immutable():
    k = kind("networking.k8s.io", "ingressclasses")
    old = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": metadata("nginx", None),
        "spec": {"controller": "k8s.io/ingress-nginx"},
    }
    assert errors(k, old) == []
    new = copy.deepcopy(old)
    new["spec"]["controller"] = "example.com/other"
    assert update_errors(k, new, old) == [
        'spec.controller: Invalid value: "example.com/other": field is immutable'
    ]
    new["spec"]["controller"] = "nginx"
    assert errors(k, new) == [
        'spec.controller: Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")'
    ]


def test_network_policy():
    k = kind("networking.k8s.io", "networkpolicies")
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata("deny"),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Sideways"],
            "ingress": [
                {
                    "from": [
                        {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}, "podSelector": {}},
                        {},
                    ],
                    "ports": [{"protocol": "TCP", "port": "http", "endPort": 90}],
                }
            ],
        },
    }
    assert errors(k, policy) == [
        "spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is non-numeric",
        'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must be a strict subset of `cidr`',
        "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer",
        "spec.ingress[0].from[1]: Required value: must specify a peer",
        'spec.policyTypes[1]: Unsupported value: "Sideways": supported values: "Ingress", "Egress"',
    ]


# --- discovery, coordination, events, storage


def test_endpoint_slice():
    k = kind("discovery.k8s.io", "endpointslices")
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": metadata("web-abc"),
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.5"]}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }
    assert errors(k, slice_) == []
    bad = copy.deepcopy(slice_)
    bad["endpoints"] = [{"addresses": []}, {"addresses": ["fe80::1"]}]
    assert errors(k, bad) == [
        "endpoints[0].addresses: Required value: must contain at least 1 address",
        'endpoints[1].addresses[0]: Invalid value: "fe80::1": must be a valid IPv4 address',
        'endpoints[1].addresses[0]: Invalid value: "fe80::1": may not be in the link-local range (169.254.0.0/16, '
        "fe80::/10)",
    ]
    new = copy.deepcopy(slice_)
    new["addressType"] = "IPv6"
    new["endpoints"] = [{"addresses": ["2001:db8::5"]}]
    assert update_errors(k, new, slice_) == ['addressType: Invalid value: "IPv6": field is immutable']


def test_lease():
    k = kind("coordination.k8s.io", "leases")
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata("leader"),
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 0, "leaseTransitions": -1},
    }
    assert errors(k, lease) == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
    ]


def test_storage_class():
    k = kind("storage.k8s.io", "storageclasses")
    sc = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": metadata("fast", None),
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "gp3"},
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    assert errors(k, sc) == []
    new = copy.deepcopy(sc)
    new["parameters"]["type"] = "io2"
    new["volumeBindingMode"] = "Immediate"
    assert update_errors(k, new, sc) == [
        "parameters: Forbidden: updates to parameters are forbidden.",
        'volumeBindingMode: Invalid value: "Immediate": field is immutable',
    ]
    bad = copy.deepcopy(sc)
    bad["provisioner"] = ""
    bad["reclaimPolicy"] = "Recycle"
    assert errors(k, bad) == [
        "provisioner: Required value",
        'reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain"',
    ]


def test_csi_driver_node_and_volume_attachment():
    driver = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": metadata("ebs.csi.aws.com", None),
        "spec": {
            "attachRequired": True,
            "podInfoOnMount": False,
            "storageCapacity": False,
            "fsGroupPolicy": "Sometimes",
            "volumeLifecycleModes": ["Persistent"],
        },
    }
    assert errors(kind("storage.k8s.io", "csidrivers"), driver) == [
        'spec.fsGroupPolicy: Unsupported value: "Sometimes": supported values: "File", "None", '
        '"ReadWriteOnceWithFSType"'
    ]
    node = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSINode",
        "metadata": metadata("node-1", None),
        "spec": {"drivers": [{"name": "ebs.csi.aws.com", "nodeID": ""}]},
    }
    assert errors(kind("storage.k8s.io", "csinodes"), node) == ["spec.drivers[0].nodeID: Required value"]
    attachment = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "VolumeAttachment",
        "metadata": metadata("va-1", None),
        "spec": {"attacher": "ebs.csi.aws.com", "nodeName": "node-1", "source": {}},
    }
    assert errors(kind("storage.k8s.io", "volumeattachments"), attachment) == [
        "spec.source: Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName"
    ]


# --- rbac, policy, autoscaling, scheduling


def test_rbac_rules_and_bindings():
    k = kind("rbac.authorization.k8s.io", "clusterroles")
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata("system:view", None),
        "rules": [
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": [], "apiGroups": [""]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"], "resources": ["pods"]},
        ],
    }
    assert errors(k, role) == [
        "rules[1].verbs: Required value: verbs must contain at least one value",
        "rules[1].resources: Required value: resource rules must supply at least one resource",
        'rules[2].nonResourceURLs: Invalid value: []string{"/healthz"}: rules cannot apply to both regular '
        "resources and non-resource URLs",
    ]
    k = kind("rbac.authorization.k8s.io", "clusterrolebindings")
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata("b", None),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "default"}, {"kind": "Robot", "name": "r2"}],
    }
    assert errors(k, binding) == [
        'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"',
        "subjects[0].namespace: Required value",
        'subjects[1].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"',
    ]


def test_role_ref_is_immutable():
    k = kind("rbac.authorization.k8s.io", "rolebindings")
    old = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata("b"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    assert errors(k, old) == []
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "admin"
    assert update_errors(k, new, old) == [
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", '
        'Name:"admin"}: cannot change roleRef'
    ]


def test_pod_disruption_budget():
    k = kind("policy", "poddisruptionbudgets")
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata("pdb"),
        "spec": {"maxUnavailable": "150%", "selector": {"matchLabels": {"app": "web"}}},
    }
    assert errors(k, pdb) == [
        'spec.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: must not be '
        "greater than 100%"
    ]
    pdb["spec"]["maxUnavailable"] = 1
    pdb["metadata"]["name"] = "a%b"
    assert errors(k, pdb) == ["metadata.name: Invalid value: \"a%b\": may not contain '%'"]


def hpa(**spec) -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata("web"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 5,
            **spec,
        },
    }


def test_horizontal_pod_autoscaler():
    k = kind("autoscaling", "horizontalpodautoscalers", "v2")
    cpu = {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
    }
    assert errors(k, hpa(metrics=[cpu])) == []
    bad_metric = {
        "type": "Pods",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}},
    }
    assert errors(
        k,
        hpa(
            minReplicas=0,
            maxReplicas=0,
            metrics=[bad_metric],
            behavior={"scaleDown": {"policies": [], "stabilizationWindowSeconds": 4000}},
        ),
    ) == [
        "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
        "spec.maxReplicas: Invalid value: 0: must be greater than 0",
        "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
        "spec.metrics[0].pods: Required value: must populate information for the given metric source",
        "spec.behavior.scaleDown.stabilizationWindowSeconds: Invalid value: 4000: must be less than or equal to 3600",
        "spec.behavior.scaleDown.policies: Required value: must specify at least one Policy",
    ]


def test_priority_class():
    k = kind("scheduling.k8s.io", "priorityclasses")
    pc = {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": metadata("high", None),
        "value": 1000,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    assert errors(k, pc) == []
    new = copy.deepcopy(pc)
    new["value"] = 2000
    assert update_errors(k, new, pc) == ["value: Forbidden: may not be changed in an update."]
    system = copy.deepcopy(pc)
    system["metadata"]["name"] = "system-high"
    assert errors(k, system) == [
        "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. "
        "error: system-high is not a known system priority class"
    ]
    pc["value"] = 2_000_000_000
    assert errors(k, pc) == [
        "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
    ]


# --- apiextensions.k8s.io/v1


def crd() -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata("crontabs.stable.example.com", None),
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {
                "plural": "crontabs",
                "singular": "crontab",
                "kind": "CronTab",
                "listKind": "CronTabList",
                "shortNames": ["ct"],
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "cronSpec": {"type": "string"},
                                        "replicas": {"type": "integer"},
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


CRD = kind("apiextensions.k8s.io", "customresourcedefinitions")


def test_crd_valid_and_name_must_match():
    assert errors(CRD, crd()) == []
    obj = crd()
    obj["metadata"]["name"] = "crontab.stable.example.com"
    assert errors(CRD, obj) == [
        'metadata.name: Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group'
    ]


def test_crd_versions_scope_and_schema():
    obj = crd()
    obj["spec"]["scope"] = "Global"
    obj["spec"]["group"] = "example"
    obj["metadata"]["name"] = "crontabs.example"
    obj["spec"]["versions"].append({"name": "V2", "served": True, "storage": True})
    obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["tags"] = {
        "type": "array"
    }
    obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"] = {"properties": {}}
    errs = errors(CRD, obj)
    assert errs[:6] == [
        'spec.group: Invalid value: "example": should be a domain with at least one dot',
        'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"',
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[tags].items: Required value: must be "
        "specified",
        "spec.versions[0].schema.openAPIV3Schema.properties[status].type: Required value: must not be empty for "
        "specified object fields",
        f'spec.versions[1].name: Invalid value: "V2": {DNS1035_MSG}',
        "spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required",
    ]
    assert errs[6].startswith("spec.versions: Invalid value: ")
    assert errs[6].endswith(": must have exactly one version marked as storage version")


def test_crd_group_and_plural_are_immutable():
    old = crd()
    old["status"] = {"conditions": [{"type": "Established", "status": "True"}], "storedVersions": ["v1"]}
    new = copy.deepcopy(old)
    new["spec"]["scope"] = "Cluster"
    new["spec"]["names"]["plural"] = "crontabz"
    assert update_errors(CRD, new, old) == [
        'spec.scope: Invalid value: "Cluster": field is immutable',
        'spec.names.plural: Invalid value: "crontabz": field is immutable',
    ]
