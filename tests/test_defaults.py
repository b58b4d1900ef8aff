"""Defaulting matches kube-apiserver v1.32: the exact objects it reads back for what clients send."""

from __future__ import annotations

import copy

import pytest

from timoneiro.api import defaults
from timoneiro.api.defaults import image, quantity

# what `kubectl create deployment nginx --image=nginx` (v1.32) sends
KUBECTL_DEPLOYMENT = {
    "kind": "Deployment",
    "apiVersion": "apps/v1",
    "metadata": {"name": "nginx", "creationTimestamp": None, "labels": {"app": "nginx"}},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"creationTimestamp": None, "labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]},
        },
        "strategy": {},
    },
    "status": {},
}


def defaulted(group: str, kind: str, obj: dict) -> dict:
    out = copy.deepcopy(obj)
    defaults.apply(group, kind, out)
    return out


def pod_spec(containers: list[dict], **extra: object) -> dict:
    """A PodSpec with the defaults every template gets, around the given (defaulted) containers."""
    return {
        "containers": containers,
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
        **extra,
    }


def container(name: str, image_name: str, pull: str = "Always", **extra: object) -> dict:
    return {
        "name": name,
        "image": image_name,
        "imagePullPolicy": pull,
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        **extra,
    }


def test_kubectl_create_deployment():
    assert defaulted("apps", "Deployment", KUBECTL_DEPLOYMENT) == {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {"name": "nginx", "creationTimestamp": None, "labels": {"app": "nginx"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"creationTimestamp": None, "labels": {"app": "nginx"}},
                "spec": pod_spec([container("nginx", "nginx")]),
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": {},
    }


def test_defaulting_is_idempotent():
    once = defaulted("apps", "Deployment", KUBECTL_DEPLOYMENT)
    assert defaulted("apps", "Deployment", once) == once


def test_deployment_keeps_what_the_user_set():
    obj = copy.deepcopy(KUBECTL_DEPLOYMENT)
    obj["spec"].update(replicas=0, strategy={"type": "Recreate"}, revisionHistoryLimit=0)
    out = defaulted("apps", "Deployment", obj)
    assert out["spec"]["replicas"] == 0
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert out["spec"]["revisionHistoryLimit"] == 0


def test_bare_service():
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP",
                                                                       "targetPort": "dns"}]}}
    assert defaulted("", "Service", svc)["spec"] == {
        "selector": {"app": "web"},
        "ports": [
            {"port": 80, "protocol": "TCP", "targetPort": 80},
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"},
        ],
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "internalTrafficPolicy": "Cluster",
    }


def test_load_balancer_and_client_ip_service():
    svc = {"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 443, "targetPort": 0}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}, {"hostname": "lb.example"}]}}}
    assert defaulted("", "Service", svc) == {
        "spec": {
            "type": "LoadBalancer",
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
            "ports": [{"port": 443, "targetPort": 443, "protocol": "TCP"}],
            "externalTrafficPolicy": "Cluster",
            "internalTrafficPolicy": "Cluster",
            "allocateLoadBalancerNodePorts": True,
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.9", "ipMode": "VIP"}, {"hostname": "lb.example"}]}},
    }


def test_external_name_service_gets_no_traffic_policies():
    spec = defaulted("", "Service", {"spec": {"type": "ExternalName", "externalName": "db.example"}})["spec"]
    assert spec == {"type": "ExternalName", "externalName": "db.example", "sessionAffinity": "None"}


def test_kubectl_create_job():
    job = {"kind": "Job", "apiVersion": "batch/v1", "metadata": {"name": "pi", "creationTimestamp": None},
           "spec": {"template": {"metadata": {"creationTimestamp": None},
                                 "spec": {"containers": [{"name": "pi", "image": "perl:5.34.0", "resources": {}}],
                                          "restartPolicy": "Never"}}},
           "status": {}}
    assert defaulted("batch", "Job", job) == {
        "kind": "Job",
        "apiVersion": "batch/v1",
        "metadata": {"name": "pi", "creationTimestamp": None},
        "spec": {
            "template": {
                "metadata": {"creationTimestamp": None},
                "spec": pod_spec([container("pi", "perl:5.34.0", "IfNotPresent")], restartPolicy="Never"),
            },
            "completions": 1,
            "parallelism": 1,
            "backoffLimit": 6,
            "completionMode": "NonIndexed",
            "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
            "manualSelector": False,
        },
        "status": {},
    }


def test_job_variants():
    job = {"metadata": {}, "spec": {
        "parallelism": 3, "backoffLimitPerIndex": 1, "completionMode": "Indexed",
        "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]},
        "template": {"metadata": {"labels": {"app": "batch"}}, "spec": {"containers": []}}}}
    out = defaulted("batch", "Job", job)
    spec = out["spec"]
    assert "completions" not in spec and spec["parallelism"] == 3
    assert spec["backoffLimit"] == 2**31 - 1
    assert spec["podReplacementPolicy"] == "Failed"
    assert spec["podFailurePolicy"]["rules"][0]["onPodConditions"] == [{"type": "DisruptionTarget", "status": "True"}]
    assert out["metadata"]["labels"] == {"app": "batch"}


def test_kubectl_create_cronjob():
    cron = {"kind": "CronJob", "apiVersion": "batch/v1", "metadata": {"name": "hello", "creationTimestamp": None},
            "spec": {"schedule": "*/1 * * * *", "jobTemplate": {
                "metadata": {"name": "hello", "creationTimestamp": None},
                "spec": {"template": {"metadata": {"creationTimestamp": None}, "spec": {
                    "containers": [{"name": "hello", "image": "busybox", "resources": {}}],
                    "restartPolicy": "OnFailure"}}}}},
            "status": {}}
    assert defaulted("batch", "CronJob", cron) == {
        "kind": "CronJob",
        "apiVersion": "batch/v1",
        "metadata": {"name": "hello", "creationTimestamp": None},
        "spec": {
            "schedule": "*/1 * * * *",
            "concurrencyPolicy": "Allow",
            "suspend": False,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {"name": "hello", "creationTimestamp": None},
                # the job template gets no Job defaults: SetDefaults_Job is for Job objects only
                "spec": {"template": {
                    "metadata": {"creationTimestamp": None},
                    "spec": pod_spec([container("hello", "busybox")], restartPolicy="OnFailure"),
                }},
            },
        },
        "status": {},
    }


def test_statefulset():
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"}, "spec": {
        "serviceName": "web",
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "registry.k8s.io/nginx-slim:0.8",
                                              "ports": [{"containerPort": 80, "name": "web"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}
    assert defaulted("apps", "StatefulSet", sts)["spec"] == {
        "serviceName": "web",
        "selector": {"matchLabels": {"app": "web"}},
        "replicas": 1,
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "revisionHistoryLimit": 10,
        "template": {
            "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
            "spec": pod_spec([container("web", "registry.k8s.io/nginx-slim:0.8", "IfNotPresent",
                                        ports=[{"containerPort": 80, "name": "web", "protocol": "TCP"}])]),
        },
        "volumeClaimTemplates": [{
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "www", "creationTimestamp": None},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                     "volumeMode": "Filesystem"},
            "status": {"phase": "Pending"},
        }],
    }


def test_statefulset_on_delete_strategy_has_no_partition():
    spec = defaulted("apps", "StatefulSet", {"spec": {"updateStrategy": {"type": "OnDelete"}}})["spec"]
    assert spec["updateStrategy"] == {"type": "OnDelete"}


def test_daemonset_and_replicaset():
    ds = defaulted("apps", "DaemonSet", {"spec": {"template": {"spec": {"containers": []}}}})["spec"]
    assert ds["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert ds["revisionHistoryLimit"] == 10
    rs = defaulted("apps", "ReplicaSet", {"spec": {"template": {"spec": {"containers": []}}}})["spec"]
    assert rs["replicas"] == 1 and rs["template"]["spec"]["restartPolicy"] == "Always"


def test_replication_controller_selector_and_labels_from_template():
    rc = {"metadata": {"name": "rc"}, "spec": {"template": {"metadata": {"labels": {"app": "a"}},
                                                            "spec": {"containers": []}}}}
    out = defaulted("", "ReplicationController", rc)
    assert out["metadata"]["labels"] == {"app": "a"}
    assert out["spec"]["selector"] == {"app": "a"} and out["spec"]["replicas"] == 1


def test_pod_only_defaults_and_nested_fields():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "hostNetwork": True,
        "containers": [{
            "name": "app", "image": "nginx:1.27",
            "ports": [{"containerPort": 8080}],
            "resources": {"limits": {"cpu": "0.5", "memory": "1.5Gi"}, "requests": {"cpu": "100m"}},
            "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "livenessProbe": {"httpGet": {"port": 8080}},
            "readinessProbe": {"grpc": {"port": 9000}, "periodSeconds": 5},
            "lifecycle": {"preStop": {"httpGet": {"port": 8080, "path": "/stop"}}},
        }],
        "volumes": [
            {"name": "scratch"},
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "host", "hostPath": {"path": "/var/log"}},
            {"name": "token", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token"}},
                {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
            ]}},
        ],
    }}
    spec = defaulted("", "Pod", pod)["spec"]
    assert spec["enableServiceLinks"] is True
    assert spec["containers"] == [{
        "name": "app", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m", "memory": "1536Mi"},
                      "requests": {"cpu": "100m", "memory": "1536Mi"}},
        "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName", "apiVersion": "v1"}}}],
        "livenessProbe": {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                          "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
        "readinessProbe": {"grpc": {"port": 9000, "service": ""}, "timeoutSeconds": 1, "periodSeconds": 5,
                           "successThreshold": 1, "failureThreshold": 3},
        "lifecycle": {"preStop": {"httpGet": {"port": 8080, "path": "/stop", "scheme": "HTTP"}}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }]
    assert spec["volumes"] == [
        {"name": "scratch", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
        {"name": "token", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
            {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace",
                                                                    "apiVersion": "v1"}}]}},
        ]}},
    ]


def test_templates_do_not_get_pod_only_defaults():
    obj = copy.deepcopy(KUBECTL_DEPLOYMENT)
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}}
    spec = defaulted("apps", "Deployment", obj)["spec"]["template"]["spec"]
    assert "enableServiceLinks" not in spec
    assert spec["containers"][0]["resources"] == {"limits": {"cpu": "1"}}


def test_namespace():
    ns = defaulted("", "Namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert ns["status"] == {"phase": "Active"}
    assert "spec" not in ns  # spec.finalizers is the namespace strategy's, on create only


def test_secret_pv_pvc_endpoints():
    assert defaulted("", "Secret", {"data": {}})["type"] == "Opaque"
    pv = defaulted("", "PersistentVolume", {"spec": {"capacity": {"storage": "1000Mi"}, "hostPath": {"path": "/d"}}})
    assert pv == {"spec": {"capacity": {"storage": "1000Mi"}, "hostPath": {"path": "/d", "type": ""},
                           "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"},
                  "status": {"phase": "Pending"}}
    pvc = defaulted("", "PersistentVolumeClaim", {"spec": {"resources": {"requests": {"storage": "0.5Gi"}}}})
    assert pvc == {"spec": {"resources": {"requests": {"storage": "512Mi"}}, "volumeMode": "Filesystem"},
                   "status": {"phase": "Pending"}}
    ep = defaulted("", "Endpoints", {"subsets": [{"ports": [{"port": 80}]}]})
    assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]


def test_limit_range_fills_container_defaults():
    lr = {"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}}]}}
    assert defaulted("", "LimitRange", lr)["spec"]["limits"][0] == {
        "type": "Container",
        "max": {"cpu": "2"},
        "min": {"memory": "64Mi"},
        "default": {"cpu": "2"},
        "defaultRequest": {"cpu": "2", "memory": "64Mi"},
    }


def test_node_allocatable_from_capacity():
    node = defaulted("", "Node", {"status": {"capacity": {"cpu": "4", "memory": "8Gi"}}})
    assert node["status"]["allocatable"] == {"cpu": "4", "memory": "8Gi"}


def test_hpa_v1_and_v2():
    v1 = defaulted("autoscaling", "HorizontalPodAutoscaler",
                   {"apiVersion": "autoscaling/v1", "spec": {"maxReplicas": 3}})
    assert v1["spec"] == {"maxReplicas": 3, "minReplicas": 1}
    v2 = defaulted("autoscaling", "HorizontalPodAutoscaler", {
        "apiVersion": "autoscaling/v2",
        "spec": {"maxReplicas": 3, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}})
    assert v2["spec"] == {
        "maxReplicas": 3,
        "minReplicas": 1,
        "metrics": [{"type": "Resource",
                     "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}],
        "behavior": {
            "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}]},
            "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": 15}]},
        },
    }
    bare = defaulted("autoscaling", "HorizontalPodAutoscaler", {"apiVersion": "autoscaling/v2", "spec": {}})
    assert "behavior" not in bare["spec"]


def test_networking_rbac_discovery_scheduling_storage():
    np = defaulted("networking.k8s.io", "NetworkPolicy", {"spec": {"podSelector": {}, "egress": [{"ports": [
        {"port": 53}]}]}})
    assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert np["spec"]["egress"][0]["ports"] == [{"port": 53, "protocol": "TCP"}]
    assert defaulted("networking.k8s.io", "NetworkPolicy", {"spec": {}})["spec"]["policyTypes"] == ["Ingress"]
    ic = defaulted("networking.k8s.io", "IngressClass", {"spec": {"parameters": {"kind": "P", "name": "p"}}})
    assert ic["spec"]["parameters"]["scope"] == "Cluster"

    rb = defaulted("rbac.authorization.k8s.io", "RoleBinding", {
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s", "namespace": "n"}]})
    assert rb == {"roleRef": {"kind": "Role", "name": "r", "apiGroup": "rbac.authorization.k8s.io"},
                  "subjects": [{"kind": "User", "name": "u", "apiGroup": "rbac.authorization.k8s.io"},
                               {"kind": "ServiceAccount", "name": "s", "namespace": "n"}]}

    eps = defaulted("discovery.k8s.io", "EndpointSlice", {"addressType": "IPv4", "ports": [{"port": 80}]})
    assert eps["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    assert defaulted("scheduling.k8s.io", "PriorityClass", {"value": 10})["preemptionPolicy"] == "PreemptLowerPriority"
    sc = defaulted("storage.k8s.io", "StorageClass", {"provisioner": "x"})
    assert sc == {"provisioner": "x", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}
    assert defaulted("storage.k8s.io", "CSIDriver", {"spec": {}})["spec"] == {
        "attachRequired": True, "podInfoOnMount": False, "storageCapacity": False,
        "fsGroupPolicy": "ReadWriteOnceWithFSType", "volumeLifecycleModes": ["Persistent"],
        "requiresRepublish": False, "seLinuxMount": False}


def test_custom_resource_definition():
    crd = {"spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}, "scope": "Namespaced",
                    "versions": [{"name": "v1", "served": True, "storage": True}]}}
    out = defaulted("apiextensions.k8s.io", "CustomResourceDefinition", crd)
    assert out["spec"]["names"] == {"kind": "Widget", "plural": "widgets", "singular": "widget",
                                    "listKind": "WidgetList"}
    assert out["spec"]["conversion"] == {"strategy": "None"}
    assert out["status"] == {"storedVersions": ["v1"]}
    hooked = copy.deepcopy(crd)
    hooked["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {"clientConfig": {"service": {"name": "s"}}}}
    out = defaulted("apiextensions.k8s.io", "CustomResourceDefinition", hooked)
    assert out["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["port"] == 443


def test_unknown_kinds_are_left_alone():
    obj = {"spec": {"x": 1}}
    assert defaulted("example.com", "Widget", obj) == obj
    assert defaulted("", "ConfigMap", {"data": {}}) == {"data": {}}


@pytest.mark.parametrize(("given", "expected"), [
    ("0.5", "500m"), ("1000", "1k"), ("1.5Gi", "1536Mi"), ("2048Mi", "2Gi"), ("0.5Ki", "512"), ("1e3", "1e3"),
    ("1000m", "1"), ("0.0001", "1m"), ("100Mi", "100Mi"), (2, "2"), (0.25, "250m"), ("not-a-quantity", "not-a-quantity"),
])
def test_resource_quantities_are_canonical(given, expected):
    assert quantity.canonical(given, milli=True) == expected


@pytest.mark.parametrize(("reference", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
    ("docker.io/library/nginx", "Always"), ("localhost:5000/app", "Always"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"), ("Nginx", "IfNotPresent"), ("", "IfNotPresent"),
])
def test_image_pull_policy(reference, policy):
    assert image.pull_policy(reference) == policy
