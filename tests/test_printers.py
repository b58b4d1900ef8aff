"""Server-side printing: Table columns and cells as kube-apiserver v1.32 prints them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, tzinfo

import pytest

from timoneiro.api import printers
from timoneiro.api.kinds import Kind
from timoneiro.api.printers import jsonpath, to_table
from timoneiro.api.printers.age import human_duration
from timoneiro.api.printers.quantity import quantity

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)


class FrozenClock(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:
        return NOW


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(printers, "datetime", FrozenClock)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def kind(group: str, kind_name: str, version: str = "v1", crd: dict | None = None) -> Kind:
    return Kind(group, version, kind_name, kind_name.lower() + "s", crd=crd)


def table(group: str, kind_name: str, *objects: dict, version: str = "v1") -> dict:
    return to_table(kind(group, kind_name, version), list(objects))


def cells(group: str, kind_name: str, obj: dict, version: str = "v1") -> list:
    return table(group, kind_name, obj, version=version)["rows"][0]["cells"]


def columns(group: str, kind_name: str) -> list[tuple]:
    return [(c["name"], c["type"], c["format"], c["priority"]) for c in table(group, kind_name)["columnDefinitions"]]


def meta(name: str = "x", age: dict | None = None, **extra: object) -> dict:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(**(age or {"minutes": 5})), **extra}


# --- ages ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=-5), "<invalid>"),
        (timedelta(seconds=-1), "0s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=5), "5s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(seconds=120), "2m"),
        (timedelta(seconds=200), "3m20s"),
        (timedelta(minutes=10, seconds=30), "10m"),
        (timedelta(minutes=179), "179m"),
        (timedelta(hours=3), "3h"),
        (timedelta(hours=3, minutes=30), "3h30m"),
        (timedelta(hours=8, minutes=30), "8h"),
        (timedelta(hours=47), "47h"),
        (timedelta(days=2, hours=3), "2d3h"),
        (timedelta(days=7), "7d"),
        (timedelta(days=8, hours=5), "8d"),
        (timedelta(days=400), "400d"),
        (timedelta(days=730), "2y"),
        (timedelta(days=800), "2y70d"),
        (timedelta(days=365 * 9), "9y"),
    ],
)
def test_human_duration(delta: timedelta, text: str) -> None:
    assert human_duration(delta) == text


def test_ages_use_the_time_of_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    created = (datetime.now(UTC) - timedelta(seconds=200.4)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    row = cells("", "Namespace", {"metadata": {"name": "a", "creationTimestamp": created}})
    assert row[2] == "3m20s"


def test_missing_creation_timestamp_is_unknown() -> None:
    assert cells("", "Namespace", {"metadata": {"name": "a"}, "status": {"phase": "Active"}}) == [
        "a", "Active", "<unknown>",
    ]


# --- table envelope ------------------------------------------------------------------------------------


def test_table_envelope_and_row_objects() -> None:
    a = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("a"), "data": {"k": "v"}}
    b = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("b")}
    cm = kind("", "ConfigMap")
    out = to_table(cm, [b, a], list_meta={"resourceVersion": "7"})
    assert out["kind"] == "Table" and out["apiVersion"] == "meta.k8s.io/v1"
    assert out["metadata"] == {"resourceVersion": "7"}
    assert [r["cells"][0] for r in out["rows"]] == ["b", "a"]
    assert out["rows"][1]["object"] == {
        "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": a["metadata"],
    }
    assert to_table(cm, [a], "Object")["rows"][0]["object"] is a
    assert to_table(cm, [a], "None")["rows"][0]["object"] is None
    assert to_table(cm, [])["metadata"] == {} and to_table(cm, [])["rows"] == []


@pytest.mark.parametrize(
    ("group", "kind_name"),
    [("", "LimitRange"), ("rbac.authorization.k8s.io", "Role"), ("rbac.authorization.k8s.io", "ClusterRole"),
     ("apiextensions.k8s.io", "CustomResourceDefinition")],
)
def test_default_table(group: str, kind_name: str) -> None:
    obj = {"metadata": {"name": "thing", "creationTimestamp": "2024-01-02T03:04:05Z"}}
    out = table(group, kind_name, obj)
    assert [(c["name"], c["type"], c["format"]) for c in out["columnDefinitions"]] == [
        ("Name", "string", "name"), ("Created At", "date", ""),
    ]
    assert out["rows"][0]["cells"] == ["thing", "2024-01-02T03:04:05Z"]


def test_default_table_renders_creation_time_in_utc() -> None:
    obj = {"metadata": {"name": "r", "creationTimestamp": "2024-01-02T05:04:05.123+02:00"}}
    assert cells("", "LimitRange", obj) == ["r", "2024-01-02T03:04:05Z"]


# --- pods ----------------------------------------------------------------------------------------------


def running(name: str, ready: bool = True, restarts: int = 0, finished: str | None = None) -> dict:
    status = {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ago(hours=1)}}}
    if finished:
        status["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": finished}}
    return status


def pod(containers: list[dict], statuses: list[dict], phase: str = "Running", **extra: object) -> dict:
    metadata = meta("web-1", age={"hours": 5})
    metadata.update(extra.pop("metadata", {}))
    spec = {"containers": containers, **extra.pop("spec", {})}
    return {"metadata": metadata, "spec": spec, "status": {"phase": phase, "containerStatuses": statuses, **extra}}


def test_pod_columns() -> None:
    assert columns("", "Pod") == [
        ("Name", "string", "name", 0), ("Ready", "string", "", 0), ("Status", "string", "", 0),
        ("Restarts", "string", "", 0), ("Age", "string", "", 0), ("IP", "string", "", 1),
        ("Node", "string", "", 1), ("Nominated Node", "string", "", 1), ("Readiness Gates", "string", "", 1),
    ]


def test_running_pod_with_restarts_and_wide_cells() -> None:
    obj = pod(
        [{"name": "app"}, {"name": "sidecar"}],
        [running("app", restarts=3, finished=ago(minutes=5)), running("sidecar", ready=False)],
        podIPs=[{"ip": "10.1.2.3"}], podIP="10.1.2.3", conditions=[{"type": "Ready", "status": "False"}],
        spec={"nodeName": "node-1"},
    )
    assert cells("", "Pod", obj) == [
        "web-1", "1/2", "Running", "3 (5m ago)", "5h", "10.1.2.3", "node-1", "<none>", "<none>",
    ]


def test_pending_pod_has_no_ip_or_node() -> None:
    obj = {"metadata": meta("p", age={"seconds": 5}), "spec": {"containers": [{"name": "a"}]},
           "status": {"phase": "Pending"}}
    assert cells("", "Pod", obj) == ["p", "0/1", "Pending", "0", "5s", "<none>", "<none>", "<none>", "<none>"]


def test_pod_ip_falls_back_to_pod_ip() -> None:
    obj = pod([{"name": "a"}], [running("a")], podIP="10.0.0.9")
    assert cells("", "Pod", obj)[5] == "10.0.0.9"


def test_crash_loop_back_off() -> None:
    waiting = {"name": "app", "ready": False, "restartCount": 7,
               "state": {"waiting": {"reason": "CrashLoopBackOff"}},
               "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(seconds=40)}}}
    assert cells("", "Pod", pod([{"name": "app"}], [waiting]))[1:4] == ["0/1", "CrashLoopBackOff", "7 (40s ago)"]


def test_completed_pod_carries_the_completed_row_condition() -> None:
    done = {"name": "job", "ready": False, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    out = table("", "Pod", pod([{"name": "job"}], [done], phase="Succeeded"))
    assert out["rows"][0]["cells"][1:4] == ["0/1", "Completed", "0"]
    assert out["rows"][0]["conditions"] == [
        {"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}
    ]
    running_pod = table("", "Pod", pod([{"name": "a"}], [running("a")]))
    assert "conditions" not in running_pod["rows"][0]


def test_failed_pod_exit_code_and_signal() -> None:
    exit_code = {"name": "a", "state": {"terminated": {"exitCode": 2}}}
    signal = {"name": "b", "state": {"terminated": {"exitCode": 137, "signal": 9}}}
    assert cells("", "Pod", pod([{"name": "a"}], [exit_code], phase="Failed"))[2] == "ExitCode:2"
    assert cells("", "Pod", pod([{"name": "b"}], [signal], phase="Failed"))[2] == "Signal:9"
    out = table("", "Pod", pod([{"name": "a"}], [exit_code], phase="Failed"))
    assert out["rows"][0]["conditions"][0]["reason"] == "Failed"


def test_completed_container_beside_a_running_one() -> None:
    done = {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    obj = pod([{"name": "a"}, {"name": "b"}], [done, running("b")], conditions=[{"type": "Ready", "status": "True"}])
    assert cells("", "Pod", obj)[1:3] == ["1/2", "Running"]
    obj["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    assert cells("", "Pod", obj)[2] == "NotReady"


def test_terminating_and_node_lost_pods() -> None:
    obj = pod([{"name": "a"}], [running("a")], metadata={"deletionTimestamp": ago(seconds=3)})
    assert cells("", "Pod", obj)[2] == "Terminating"
    obj["status"]["reason"] = "NodeLost"
    assert cells("", "Pod", obj)[2] == "Unknown"
    finished = pod([{"name": "a"}], [], phase="Succeeded", metadata={"deletionTimestamp": ago(seconds=3)})
    assert cells("", "Pod", finished)[2] == "Succeeded"


def test_init_containers() -> None:
    spec = {"initContainers": [{"name": "init-a"}, {"name": "init-b"}]}
    first_running = {"name": "init-a", "state": {"running": {}}}
    obj = pod([{"name": "app"}], [], phase="Pending", spec=spec, initContainerStatuses=[first_running])
    assert cells("", "Pod", obj)[1:4] == ["0/1", "Init:0/2", "0"]

    done = {"name": "init-a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    crashing = {"name": "init-b", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=1)}}}
    obj["status"]["initContainerStatuses"] = [done, crashing]
    assert cells("", "Pod", obj)[1:4] == ["0/1", "Init:CrashLoopBackOff", "4 (60s ago)"]

    failed = {"name": "init-b", "state": {"terminated": {"exitCode": 3}}}
    obj["status"]["initContainerStatuses"] = [done, failed]
    assert cells("", "Pod", obj)[2] == "Init:ExitCode:3"
    failed["state"]["terminated"]["reason"] = "Error"
    assert cells("", "Pod", obj)[2] == "Init:Error"


def test_sidecar_init_containers_count_as_containers() -> None:
    spec = {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}]}
    sidecar = {"name": "proxy", "started": True, "ready": True, "restartCount": 2, "state": {"running": {}},
               "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=30)}}}
    obj = pod([{"name": "app"}], [running("app")], spec=spec, initContainerStatuses=[sidecar],
              conditions=[{"type": "Initialized", "status": "True"}])
    assert cells("", "Pod", obj)[1:4] == ["2/2", "Running", "2 (30m ago)"]


def test_scheduling_gated_pod_and_readiness_gates() -> None:
    obj = pod([{"name": "a"}], [], phase="Pending",
              conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}])
    assert cells("", "Pod", obj)[2] == "SchedulingGated"
    gates = pod([{"name": "a"}], [running("a")], spec={"readinessGates": [{"conditionType": "a/x"}, {"conditionType": "b/y"}]},
                conditions=[{"type": "a/x", "status": "True"}, {"type": "b/y", "status": "False"}],
                nominatedNodeName="node-9")
    assert cells("", "Pod", gates)[7:] == ["node-9", "1/2"]


def test_pod_template() -> None:
    obj = {"metadata": meta("t"), "template": {"metadata": {"labels": {"b": "2", "a": "1"}},
                                               "spec": {"containers": [{"name": "c1", "image": "i1"},
                                                                       {"name": "c2", "image": "i2"}]}}}
    assert columns("", "PodTemplate")[1:] == [("Containers", "string", "", 0), ("Images", "string", "", 0),
                                               ("Pod Labels", "string", "", 0)]
    assert cells("", "PodTemplate", obj) == ["t", "c1,c2", "i1,i2", "a=1,b=2"]


# --- workloads -----------------------------------------------------------------------------------------

TEMPLATE = {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}]}}


def test_deployment() -> None:
    obj = {"metadata": meta("web", age={"days": 2, "hours": 3}),
           "spec": {"replicas": 3, "selector": {"matchLabels": {"tier": "fe"},
                                                "matchExpressions": [{"key": "app", "operator": "In",
                                                                      "values": ["b", "a"]}]},
                    "template": TEMPLATE},
           "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2}}
    assert columns("apps", "Deployment") == [
        ("Name", "string", "name", 0), ("Ready", "string", "", 0), ("Up-to-date", "string", "", 0),
        ("Available", "string", "", 0), ("Age", "string", "", 0), ("Containers", "string", "", 1),
        ("Images", "string", "", 1), ("Selector", "string", "", 1),
    ]
    assert cells("apps", "Deployment", obj) == [
        "web", "2/3", 3, 2, "2d3h", "nginx,log", "nginx:1.25,busybox", "app in (a,b),tier=fe",
    ]


def test_deployment_without_status_or_selector() -> None:
    obj = {"metadata": meta("web"), "spec": {"replicas": 1, "template": TEMPLATE}}
    assert cells("apps", "Deployment", obj)[1:4] == ["0/1", 0, 0]
    assert cells("apps", "Deployment", obj)[-1] == ""
    obj["spec"]["selector"] = {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}
    assert cells("apps", "Deployment", obj)[-1] == "<invalid>"


def test_replica_set_and_replication_controller() -> None:
    rs = {"metadata": meta("web-abc"), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                                                "template": TEMPLATE},
          "status": {"replicas": 3, "readyReplicas": 1}}
    assert columns("apps", "ReplicaSet")[1:4] == [("Desired", "integer", "", 0), ("Current", "integer", "", 0),
                                                  ("Ready", "integer", "", 0)]
    assert cells("apps", "ReplicaSet", rs) == ["web-abc", 3, 3, 1, "5m", "nginx,log", "nginx:1.25,busybox", "app=web"]
    rs["spec"]["selector"] = {"matchExpressions": [{"key": "b", "operator": "NotIn", "values": ["y", "x"]},
                                                   {"key": "a", "operator": "DoesNotExist"}]}
    assert cells("apps", "ReplicaSet", rs)[-1] == "!a,b notin (x,y)"
    rs["spec"]["selector"] = {"matchExpressions": [{"key": "b", "operator": "Near"}]}
    assert cells("apps", "ReplicaSet", rs)[-1] == "<error>"
    rc = {"metadata": meta("old"), "spec": {"replicas": 2, "selector": {"app": "old", "a": "b"}}}
    assert cells("", "ReplicationController", rc) == ["old", 2, 0, 0, "5m", "", "", "a=b,app=old"]


def test_daemon_set() -> None:
    obj = {"metadata": meta("agent"), "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": TEMPLATE},
           "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                      "updatedNumberScheduled": 3, "numberAvailable": 2}}
    assert cells("apps", "DaemonSet", obj) == [
        "agent", 3, 3, 2, 3, 2, "<none>", "5m", "nginx,log", "nginx:1.25,busybox", "app=agent",
    ]
    obj["spec"]["template"] = {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": []}}
    assert cells("apps", "DaemonSet", obj)[6] == "kubernetes.io/os=linux"


def test_stateful_set() -> None:
    obj = {"metadata": meta("db"), "spec": {"replicas": 3, "template": TEMPLATE}, "status": {"readyReplicas": 1}}
    assert columns("apps", "StatefulSet") == [
        ("Name", "string", "name", 0), ("Ready", "string", "", 0), ("Age", "string", "", 0),
        ("Containers", "string", "", 1), ("Images", "string", "", 1),
    ]
    assert cells("apps", "StatefulSet", obj) == ["db", "1/3", "5m", "nginx,log", "nginx:1.25,busybox"]


def test_controller_revision() -> None:
    owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": True}
    obj = {"metadata": meta("agent-7f", ownerReferences=[owner]), "revision": 3}
    assert cells("apps", "ControllerRevision", obj) == ["agent-7f", "daemonset.apps/agent", 3, "5m"]
    core_owner = {"apiVersion": "v1", "kind": "Pod", "name": "p", "controller": True}
    assert cells("apps", "ControllerRevision", {"metadata": meta("r", ownerReferences=[core_owner])})[1] == "pod/p"
    assert cells("apps", "ControllerRevision", {"metadata": meta("r")})[1:3] == ["<none>", 0]


def test_pod_disruption_budget() -> None:
    obj = {"metadata": meta("pdb"), "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}}
    assert columns("policy", "PodDisruptionBudget")[3] == ("Allowed Disruptions", "integer", "", 0)
    assert cells("policy", "PodDisruptionBudget", obj) == ["pdb", "2", "N/A", 1, "5m"]
    obj["spec"] = {"maxUnavailable": "25%"}
    assert cells("policy", "PodDisruptionBudget", obj)[1:3] == ["N/A", "25%"]


# --- batch ---------------------------------------------------------------------------------------------


def job(status: dict, spec: dict | None = None, **metadata: object) -> dict:
    return {"metadata": meta("pi", age={"minutes": 12}, **metadata),
            "spec": {"completions": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
                     "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}, **(spec or {})},
            "status": status}


def test_job_columns_and_complete_job() -> None:
    assert columns("batch", "Job")[:5] == [
        ("Name", "string", "name", 0), ("Status", "string", "", 0), ("Completions", "string", "", 0),
        ("Duration", "string", "", 0), ("Age", "string", "", 0),
    ]
    obj = job({"succeeded": 1, "startTime": ago(minutes=10), "completionTime": ago(minutes=5),
               "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                              {"type": "Complete", "status": "True"}]})
    assert cells("batch", "Job", obj) == [
        "pi", "Complete", "1/1", "5m", "12m", "pi", "perl", "batch.kubernetes.io/controller-uid=u1",
    ]


def test_job_status_values() -> None:
    assert cells("batch", "Job", job({"startTime": ago(seconds=30), "active": 1}))[1:4] == ["Running", "0/1", "30s"]
    assert cells("batch", "Job", job({}))[1:4] == ["Running", "0/1", ""]
    failed = job({"conditions": [{"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]})
    assert cells("batch", "Job", failed)[1] == "Failed"
    target = job({"conditions": [{"type": "FailureTarget", "status": "True"}]})
    assert cells("batch", "Job", target)[1] == "FailureTarget"
    suspended = job({"conditions": [{"type": "Suspended", "status": "True"}]})
    assert cells("batch", "Job", suspended)[1] == "Suspended"
    assert cells("batch", "Job", job({}, deletionTimestamp=ago(seconds=1)))[1] == "Terminating"
    not_complete = job({"conditions": [{"type": "Complete", "status": "False"}]})
    assert cells("batch", "Job", not_complete)[1] == "Running"


def test_job_completions_without_a_count() -> None:
    parallel = job({"succeeded": 2}, {"completions": None, "parallelism": 3})
    assert cells("batch", "Job", parallel)[2] == "2/1 of 3"
    single = job({}, {"completions": None, "parallelism": 1})
    assert cells("batch", "Job", single)[2] == "0/1"


def test_cron_job() -> None:
    obj = {"metadata": meta("nightly", age={"days": 3}),
           "spec": {"schedule": "0 3 * * *", "suspend": False,
                    "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}},
           "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(minutes=2)}}
    assert columns("batch", "CronJob")[1:6] == [
        ("Schedule", "string", "", 0), ("Timezone", "string", "", 0), ("Suspend", "boolean", "", 0),
        ("Active", "integer", "", 0), ("Last Schedule", "string", "", 0),
    ]
    assert cells("batch", "CronJob", obj) == ["nightly", "0 3 * * *", "<none>", "False", 1, "2m", "3d", "c", "i", "<none>"]
    obj["spec"].update(timeZone="Etc/UTC", suspend=True)
    obj["status"] = {}
    assert cells("batch", "CronJob", obj)[2:6] == ["Etc/UTC", "True", 0, "<none>"]


# --- networking ----------------------------------------------------------------------------------------


def service(svc_type: str, spec: dict | None = None, status: dict | None = None) -> dict:
    return {"metadata": meta("svc"), "spec": {"type": svc_type, **(spec or {})}, "status": status or {}}


def test_cluster_ip_service() -> None:
    obj = service("ClusterIP", {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "selector": {"app": "web"},
                                "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]})
    assert columns("", "Service") == [
        ("Name", "string", "name", 0), ("Type", "string", "", 0), ("Cluster-IP", "string", "", 0),
        ("External-IP", "string", "", 0), ("Port(s)", "string", "", 0), ("Age", "string", "", 0),
        ("Selector", "string", "", 1),
    ]
    assert cells("", "Service", obj) == ["svc", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,443/TCP", "5m", "app=web"]


def test_service_external_ips() -> None:
    node_port = service("NodePort", {"clusterIPs": ["10.0.0.1"],
                                     "ports": [{"port": 80, "nodePort": 30001, "protocol": "TCP"},
                                               {"port": 53, "protocol": "UDP"}]})
    assert cells("", "Service", node_port)[2:5] == ["10.0.0.1", "<none>", "80:30001/TCP,53/UDP"]
    pending = service("LoadBalancer", {"clusterIPs": ["10.0.0.2"], "ports": [{"port": 443, "nodePort": 31000,
                                                                            "protocol": "TCP"}]})
    assert cells("", "Service", pending)[3] == "<pending>"
    balanced = service("LoadBalancer", {"externalIPs": ["1.1.1.1"]},
                       {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"},
                                                     {"ip": "203.0.113.9"}]}})
    assert cells("", "Service", balanced)[3] == "203.0.113.9,lb.example.com,1.1.1.1"
    external = service("ExternalName", {"externalName": "db.example.com"})
    assert cells("", "Service", external)[2:5] == ["<none>", "db.example.com", "<none>"]
    headless = service("ClusterIP", {"clusterIP": "None", "externalIPs": ["5.6.7.8"]})
    assert cells("", "Service", headless)[2:4] == ["None", "5.6.7.8"]
    assert cells("", "Service", service("ClusterIP"))[6] == "<none>"


def test_endpoints() -> None:
    subsets = [{"addresses": [{"ip": f"10.0.0.{i}"} for i in (1, 2)], "ports": [{"port": 80}, {"port": 443}]}]
    obj = {"metadata": meta("web"), "subsets": subsets}
    assert cells("", "Endpoints", obj) == ["web", "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...", "5m"]
    headless = {"metadata": meta("h"), "subsets": [{"addresses": [{"ip": "fd00::1"}]}]}
    assert cells("", "Endpoints", headless)[1] == "fd00::1"
    v6 = {"metadata": meta("h"), "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 53}]}]}
    assert cells("", "Endpoints", v6)[1] == "[fd00::1]:53"
    assert cells("", "Endpoints", {"metadata": meta("e")})[1] == "<none>"
    only_not_ready = {"metadata": meta("n"), "subsets": [{"notReadyAddresses": [{"ip": "10.0.0.5"}],
                                                         "ports": [{"port": 80}]}]}
    assert cells("", "Endpoints", only_not_ready)[1] == ""


def test_endpoint_slice() -> None:
    obj = {"metadata": meta("web-x1"), "addressType": "IPv4",
           "ports": [{"port": 80}, {"name": "metrics"}, {}, {"port": 9090}],
           "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]}
    assert columns("discovery.k8s.io", "EndpointSlice")[1:4] == [
        ("AddressType", "string", "", 0), ("Ports", "string", "", 0), ("Endpoints", "string", "", 0),
    ]
    assert cells("discovery.k8s.io", "EndpointSlice", obj) == [
        "web-x1", "IPv4", "80,metrics,* + 1 more...", "10.0.0.1,10.0.0.2", "5m",
    ]
    empty = {"metadata": meta("e"), "addressType": "IPv6"}
    assert cells("discovery.k8s.io", "EndpointSlice", empty)[2:4] == ["<unset>", "<unset>"]


def test_ingress() -> None:
    rules = [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "c.example.com"}, {"host": "d"}]
    obj = {"metadata": meta("ing"), "spec": {"ingressClassName": "nginx", "rules": rules, "tls": [{"hosts": ["a"]}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}, {"ip": "192.0.2.1"}]}}}
    assert columns("networking.k8s.io", "Ingress")[1:5] == [
        ("Class", "string", "", 0), ("Hosts", "string", "", 0), ("Address", "string", "", 0), ("Ports", "string", "", 0),
    ]
    assert cells("networking.k8s.io", "Ingress", obj) == [
        "ing", "nginx", "a.example.com,b.example.com,c.example.com + 2 more...", "192.0.2.1,192.0.2.10", "80, 443", "5m",
    ]
    bare = {"metadata": meta("bare"), "spec": {"rules": [{}, {"host": "x"}, {"host": "y"}, {"host": "z"}]}}
    assert cells("networking.k8s.io", "Ingress", bare)[1:5] == ["<none>", "x,y,z", "", "80"]
    assert cells("networking.k8s.io", "Ingress", {"metadata": meta("d"), "spec": {}})[2] == "*"


def test_ingress_class_and_network_policy() -> None:
    params = {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}
    obj = {"metadata": meta("external"), "spec": {"controller": "example.com/ingress", "parameters": params}}
    assert cells("networking.k8s.io", "IngressClass", obj) == [
        "external", "example.com/ingress", "IngressParameters.k8s.example.com/external-lb", "5m",
    ]
    obj["spec"] = {"controller": "c"}
    assert cells("networking.k8s.io", "IngressClass", obj)[2] == "<none>"
    policy = {"metadata": meta("db"), "spec": {"podSelector": {"matchLabels": {"role": "db"}}}}
    assert cells("networking.k8s.io", "NetworkPolicy", policy) == ["db", "role=db", "5m"]
    policy["spec"]["podSelector"] = {}
    assert cells("networking.k8s.io", "NetworkPolicy", policy)[1] == "<none>"


# --- cluster -------------------------------------------------------------------------------------------


def node(conditions: list, labels: dict | None = None, **spec: object) -> dict:
    return {"metadata": {"name": "node-1", "creationTimestamp": ago(days=10), "labels": labels or {}},
            "spec": spec,
            "status": {"conditions": conditions,
                       "addresses": [{"type": "Hostname", "address": "node-1"},
                                     {"type": "InternalIP", "address": "192.168.1.10"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                    "kernelVersion": "6.1.0", "containerRuntimeVersion": ""}}}


def test_node() -> None:
    labels = {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "",
              "kubernetes.io/role": "infra", "node-role.kubernetes.io/": "x"}
    obj = node([{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}], labels,
               unschedulable=True)
    assert columns("", "Node") == [
        ("Name", "string", "name", 0), ("Status", "string", "", 0), ("Roles", "string", "", 0),
        ("Age", "string", "", 0), ("Version", "string", "", 0), ("Internal-IP", "string", "", 1),
        ("External-IP", "string", "", 1), ("OS-Image", "string", "", 1), ("Kernel-Version", "string", "", 1),
        ("Container-Runtime", "string", "", 1),
    ]
    assert cells("", "Node", obj) == [
        "node-1", "Ready,SchedulingDisabled", "control-plane,infra,worker", "10d", "v1.32.0",
        "192.168.1.10", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0", "<unknown>",
    ]
    assert cells("", "Node", node([{"type": "Ready", "status": "Unknown"}]))[1:3] == ["NotReady", "<none>"]
    assert cells("", "Node", node([]))[1] == "Unknown"


def test_namespace_lease_priority_class() -> None:
    ns = {"metadata": {"name": "dev", "creationTimestamp": ago(hours=50)}, "status": {"phase": "Terminating"}}
    assert cells("", "Namespace", ns) == ["dev", "Terminating", "2d2h"]
    lease = {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "node-1_abc"}}
    assert cells("coordination.k8s.io", "Lease", lease) == ["kube-scheduler", "node-1_abc", "5m"]
    assert cells("coordination.k8s.io", "Lease", {"metadata": meta("l"), "spec": {}})[1] == ""
    pc = {"metadata": {"name": "high", "creationTimestamp": ago(seconds=90)}, "value": 1000000,
          "preemptionPolicy": "PreemptLowerPriority"}
    assert columns("scheduling.k8s.io", "PriorityClass") == [
        ("Name", "string", "name", 0), ("Value", "integer", "", 0), ("Global-Default", "boolean", "", 0),
        ("Age", "string", "", 0), ("PreemptionPolicy", "string", "", 0),
    ]
    assert cells("scheduling.k8s.io", "PriorityClass", pc) == ["high", 1000000, False, "90s", "PreemptLowerPriority"]


def test_config_maps_secrets_service_accounts() -> None:
    cm = {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert cells("", "ConfigMap", cm) == ["cfg", 3, "5m"]
    assert cells("", "ConfigMap", {"metadata": meta("empty")}) == ["empty", 0, "5m"]
    secret = {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}
    assert columns("", "Secret")[1:3] == [("Type", "string", "", 0), ("Data", "string", "", 0)]
    assert cells("", "Secret", secret) == ["tls", "kubernetes.io/tls", 2, "5m"]
    sa = {"metadata": meta("default"), "secrets": [{"name": "t"}]}
    assert cells("", "ServiceAccount", sa) == ["default", 1, "5m"]
    assert cells("", "ServiceAccount", {"metadata": meta("bare")}) == ["bare", 0, "5m"]


def test_resource_quota() -> None:
    obj = {"metadata": meta("quota"),
           "status": {"hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "1Gi", "requests.memory": "1024Mi",
                               "limits.cpu": "2000m"},
                      "used": {"pods": "1", "requests.cpu": "500m", "limits.memory": "536870912"}}}
    assert cells("", "ResourceQuota", obj) == [
        "quota", "pods: 1/10, requests.cpu: 500m/1, requests.memory: 0/1Gi",
        "limits.cpu: 0/2, limits.memory: 536870912/1Gi", "5m",
    ]


# --- events --------------------------------------------------------------------------------------------


def test_core_event() -> None:
    obj = {"metadata": meta("web-1.17a"), "type": "Warning", "reason": "BackOff",
           "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
           "source": {"component": "kubelet", "host": "node-1"}, "message": "  Back-off restarting  \n",
           "firstTimestamp": ago(minutes=30), "lastTimestamp": ago(seconds=45), "count": 12}
    assert columns("", "Event") == [
        ("Last Seen", "string", "", 0), ("Type", "string", "", 0), ("Reason", "string", "", 0),
        ("Object", "string", "", 0), ("Subobject", "string", "", 1), ("Source", "string", "", 1),
        ("Message", "string", "", 0), ("First Seen", "string", "", 1), ("Count", "string", "", 1),
        ("Name", "string", "name", 1),
    ]
    assert cells("", "Event", obj) == [
        "45s", "Warning", "BackOff", "pod/web-1", "spec.containers{app}", "kubelet, node-1", "Back-off restarting",
        "30m", 12, "web-1.17a",
    ]


def test_event_with_only_event_time() -> None:
    obj = {"metadata": meta("e"), "type": "Normal", "reason": "Scheduled", "eventTime": "2024-06-01T11:59:00.000000Z",
           "reportingComponent": "default-scheduler", "involvedObject": {"kind": "Node"}, "message": "ok"}
    assert cells("", "Event", obj) == ["60s", "Normal", "Scheduled", "node", "", "default-scheduler", "ok", "60s", 1, "e"]


def test_events_k8s_io_event() -> None:
    obj = {"apiVersion": "events.k8s.io/v1", "metadata": meta("e2"), "type": "Normal", "reason": "Pulled",
           "regarding": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
           "note": "Pulled image", "eventTime": ago(minutes=20), "reportingController": "kubelet",
           "reportingInstance": "node-2", "series": {"count": 4, "lastObservedTime": ago(minutes=3)}}
    assert cells("events.k8s.io", "Event", obj) == [
        "3m", "Normal", "Pulled", "pod/web-1", "spec.containers{app}", "kubelet, node-2", "Pulled image", "20m", 4,
        "e2",
    ]


# --- storage -------------------------------------------------------------------------------------------


def test_persistent_volume() -> None:
    obj = {"metadata": meta("pv-1"),
           "spec": {"capacity": {"storage": "1536Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "default", "name": "data"},
                    "storageClassName": "standard", "volumeMode": "Filesystem"},
           "status": {"phase": "Bound"}}
    assert [c[0] for c in columns("", "PersistentVolume")] == [
        "Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass",
        "VolumeAttributesClass", "Reason", "Age", "VolumeMode",
    ]
    assert columns("", "PersistentVolume")[-1] == ("VolumeMode", "string", "", 1)
    assert cells("", "PersistentVolume", obj) == [
        "pv-1", "1536Mi", "RWO,RWX", "Retain", "Bound", "default/data", "standard", "<unset>", "", "5m", "Filesystem",
    ]
    obj["metadata"].update(deletionTimestamp=ago(seconds=1), annotations={"volume.beta.kubernetes.io/storage-class": "old"})
    del obj["spec"]["claimRef"], obj["spec"]["capacity"], obj["spec"]["volumeMode"]
    assert cells("", "PersistentVolume", obj)[1:] == [
        "0", "RWO,RWX", "Retain", "Terminating", "", "old", "<unset>", "", "5m", "<unset>",
    ]


def test_persistent_volume_claim() -> None:
    bound = {"metadata": meta("data"),
             "spec": {"volumeName": "pv-1", "storageClassName": "standard", "volumeMode": "Block",
                      "resources": {"requests": {"storage": "1Gi"}}},
             "status": {"phase": "Bound", "capacity": {"storage": "2048Mi"}, "accessModes": ["ReadWriteOncePod"]}}
    assert [c[0] for c in columns("", "PersistentVolumeClaim")] == [
        "Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeAttributesClass", "Age",
        "VolumeMode",
    ]
    assert cells("", "PersistentVolumeClaim", bound) == [
        "data", "Bound", "pv-1", "2Gi", "RWOP", "standard", "<unset>", "5m", "Block",
    ]
    pending = {"metadata": meta("new"), "spec": {"resources": {"requests": {"storage": "1Gi"}},
                                                 "volumeAttributesClassName": "gold"},
               "status": {"phase": "Pending"}}
    assert cells("", "PersistentVolumeClaim", pending) == ["new", "Pending", "", "", "", "", "gold", "5m", "<unset>"]


def test_storage_class() -> None:
    obj = {"metadata": {"name": "standard", "creationTimestamp": ago(days=1),
                        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
           "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}
    assert cells("storage.k8s.io", "StorageClass", obj) == [
        "standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", False, "24h",
    ]
    obj["metadata"]["annotations"] = {}
    obj.update(reclaimPolicy="Retain", allowVolumeExpansion=True, volumeBindingMode=None)
    assert cells("storage.k8s.io", "StorageClass", obj)[:5] == ["standard", "rancher.io/local-path", "Retain",
                                                                "Immediate", True]


def test_csi_objects_and_volume_attachment() -> None:
    driver = {"metadata": meta("csi.example.com"), "spec": {"podInfoOnMount": True, "volumeLifecycleModes":
                                                            ["Persistent", "Ephemeral"]}}
    assert [c[:2] for c in columns("storage.k8s.io", "CSIDriver")] == [
        ("Name", "string"), ("AttachRequired", "boolean"), ("PodInfoOnMount", "boolean"),
        ("StorageCapacity", "boolean"), ("TokenRequests", "string"), ("RequiresRepublish", "boolean"),
        ("Modes", "string"), ("Age", "string"),
    ]
    assert cells("storage.k8s.io", "CSIDriver", driver) == [
        "csi.example.com", True, True, False, "<unset>", False, "Persistent,Ephemeral", "5m",
    ]
    driver["spec"] = {"attachRequired": False, "tokenRequests": [{"audience": "a"}, {"audience": "b"}]}
    assert cells("storage.k8s.io", "CSIDriver", driver)[1:7] == [False, False, False, "a,b", False, "<none>"]
    csinode = {"metadata": meta("node-1"), "spec": {"drivers": [{"name": "a"}, {"name": "b"}]}}
    assert cells("storage.k8s.io", "CSINode", csinode) == ["node-1", 2, "5m"]
    va = {"metadata": meta("csi-123"), "spec": {"attacher": "csi.example.com", "nodeName": "node-1",
                                                "source": {"persistentVolumeName": "pv-1"}},
          "status": {"attached": True}}
    assert columns("storage.k8s.io", "VolumeAttachment")[1] == ("Attacher", "string", "name", 0)
    assert cells("storage.k8s.io", "VolumeAttachment", va) == ["csi-123", "csi.example.com", "pv-1", "node-1", True, "5m"]


# --- rbac and autoscaling ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind_name", ["RoleBinding", "ClusterRoleBinding"])
def test_bindings(kind_name: str) -> None:
    obj = {"metadata": meta("viewers"), "roleRef": {"kind": "ClusterRole", "name": "view"},
           "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                        {"kind": "Group", "name": "devs"},
                        {"kind": "ServiceAccount", "namespace": "ci", "name": "builder"}]}
    assert columns("rbac.authorization.k8s.io", kind_name)[3:] == [
        ("Users", "string", "", 1), ("Groups", "string", "", 1), ("ServiceAccounts", "string", "", 1),
    ]
    assert cells("rbac.authorization.k8s.io", kind_name, obj) == [
        "viewers", "ClusterRole/view", "5m", "alice, bob", "devs", "ci/builder",
    ]


def hpa(spec: dict, status: dict, api_version: str = "autoscaling/v2", annotations: dict | None = None) -> dict:
    return {"apiVersion": api_version, "metadata": meta("web", annotations=annotations or {}),
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 10, **spec},
            "status": status}


def test_hpa_v2() -> None:
    metrics = [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}},
        {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
    ]
    current = [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45,
                                                                            "averageValue": "120m"}}}]
    obj = hpa({"minReplicas": 1, "metrics": metrics}, {"currentReplicas": 3, "currentMetrics": current})
    assert [c[0] for c in columns("autoscaling", "HorizontalPodAutoscaler")] == [
        "Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age",
    ]
    assert cells("autoscaling", "HorizontalPodAutoscaler", obj, version="v2") == [
        "web", "Deployment/web", "cpu: 45%/80%, memory: <unknown>/1Gi + 1 more...", "1", 10, 3, "5m",
    ]


def test_hpa_v2_metric_kinds() -> None:
    metrics = [
        {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}}},
        {"type": "Object", "object": {"metric": {"name": "rps"},
                                      "target": {"type": "AverageValue", "averageValue": "500m"}}},
    ]
    current = [{"type": "External", "external": {"current": {"value": "12"}}},
               {"type": "Object", "object": {"current": {"value": "3"}}}]
    obj = hpa({"metrics": metrics}, {"currentMetrics": current})
    assert cells("autoscaling", "HorizontalPodAutoscaler", obj, version="v2")[2:6] == [
        "12/30, <unknown>/500m (avg)", "<unset>", 10, 0,
    ]
    assert cells("autoscaling", "HorizontalPodAutoscaler", hpa({"metrics": []}, {}), version="v2")[2] == "<none>"
    auto = [{"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
                                                                 "target": {"type": "Utilization"}}}]
    assert cells("autoscaling", "HorizontalPodAutoscaler", hpa({"metrics": auto}, {}), version="v2")[2] == \
        "cpu: <unknown>/<auto>"


def test_hpa_v1() -> None:
    obj = hpa({"minReplicas": 2, "targetCPUUtilizationPercentage": 50},
              {"currentReplicas": 2, "currentCPUUtilizationPercentage": 20}, api_version="autoscaling/v1")
    assert cells("autoscaling", "HorizontalPodAutoscaler", obj) == ["web", "Deployment/web", "cpu: 20%/50%", "2", 10, 2, "5m"]
    default = hpa({}, {}, api_version="autoscaling/v1")
    assert cells("autoscaling", "HorizontalPodAutoscaler", default)[2] == "cpu: <unknown>/80%"


def test_hpa_v1_annotated_metrics() -> None:
    other = [{"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "100"}}]
    current = [{"type": "Pods", "pods": {"metricName": "qps", "currentAverageValue": "2500m"}},
               {"type": "Resource", "resource": {"name": "cpu", "currentAverageUtilization": 70,
                                                 "currentAverageValue": "300m"}}]
    annotations = {"autoscaling.alpha.kubernetes.io/metrics": json.dumps(other),
                   "autoscaling.alpha.kubernetes.io/current-metrics": json.dumps(current)}
    obj = hpa({"targetCPUUtilizationPercentage": 60}, {"currentCPUUtilizationPercentage": 1},
              api_version="autoscaling/v1", annotations=annotations)
    assert cells("autoscaling", "HorizontalPodAutoscaler", obj)[2] == "2500m/100, cpu: 70%/60%"


# --- custom resources ----------------------------------------------------------------------------------


def crd(columns: list[dict] | None, version: str = "v1") -> dict:
    served = {"name": version, "served": True, "storage": True}
    if columns is not None:
        served["additionalPrinterColumns"] = columns
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"},
                     "versions": [{"name": "v1alpha1", "served": True, "storage": False,
                                   "additionalPrinterColumns": [{"name": "Old", "type": "string",
                                                                 "jsonPath": ".spec.old"}]},
                                  served]}}


WIDGET = {
    "apiVersion": "example.com/v1", "kind": "Widget",
    "metadata": {"name": "w1", "creationTimestamp": ago(minutes=3, seconds=20), "labels": {"app": "shop"}},
    "spec": {"replicas": 3, "ratio": 0.75, "enabled": True, "size": "1.5", "tags": ["blue", "green"],
             "config": {"b": 1, "a": [1.0, "x<y"]}},
    "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True",
                                                                      "lastTransitionTime": ago(hours=3)}]},
}


def widget_table(columns: list[dict] | None, *objects: dict) -> dict:
    return to_table(kind("example.com", "Widget", crd=crd(columns)), list(objects or [WIDGET]))


def test_crd_columns() -> None:
    out = widget_table([
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "description": "desired"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Since", "type": "date", "jsonPath": '.status.conditions[?(@.type=="Ready")].lastTransitionTime'},
        {"name": "App", "type": "string", "jsonPath": ".metadata.labels.app", "priority": 1},
        {"name": "Ratio", "type": "number", "format": "float", "jsonPath": ".spec.ratio"},
        {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"},
        {"name": "First Tag", "type": "string", "jsonPath": ".spec.tags[0]"},
        {"name": "Missing", "type": "string", "jsonPath": ".spec.nothing.here"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ])
    assert out["columnDefinitions"][:3] == [
        {"name": "Name", "type": "string", "format": "name",
         "description": out["columnDefinitions"][0]["description"], "priority": 0},
        {"name": "Replicas", "type": "integer", "format": "", "description": "desired", "priority": 0},
        {"name": "Ready", "type": "string", "format": "",
         "description": 'Custom resource definition column (in JSONPath format): '
                        '.status.conditions[?(@.type=="Ready")].status',
         "priority": 0},
    ]
    assert [(c["name"], c["priority"], c["format"]) for c in out["columnDefinitions"][4:6]] == [
        ("App", 1, ""), ("Ratio", 0, "float"),
    ]
    assert out["rows"][0]["cells"] == ["w1", 3, "True", "3h", "shop", 0.75, True, "blue", None, "3m20s"]


def test_crd_cell_types_follow_the_column_type() -> None:
    out = widget_table([
        {"name": "A", "type": "string", "jsonPath": ".spec.replicas"},
        {"name": "B", "type": "integer", "jsonPath": ".spec.ratio"},
        {"name": "C", "type": "integer", "jsonPath": ".spec.size"},
        {"name": "D", "type": "string", "jsonPath": ".spec.enabled"},
        {"name": "E", "type": "string", "jsonPath": ".spec.config"},
        {"name": "F", "type": "string", "jsonPath": ".spec.tags"},
        {"name": "G", "type": "number", "jsonPath": ".spec.replicas"},
        {"name": "H", "type": "boolean", "jsonPath": ".spec.replicas"},
        {"name": "I", "type": "date", "jsonPath": ".spec.size"},
        {"name": "J", "type": "string", "jsonPath": ".spec.ratio"},
    ])
    assert out["rows"][0]["cells"][1:] == [
        "3", 0, None, "true", '{"a":[1,"x\\u003cy"],"b":1}', '["blue","green"]', 3.0, None, "<invalid>", "0.75",
    ]


def test_crd_without_columns_shows_age() -> None:
    out = widget_table(None)
    assert [(c["name"], c["type"], c["format"]) for c in out["columnDefinitions"]] == [
        ("Name", "string", "name"), ("Age", "date", ""),
    ]
    assert out["rows"][0]["cells"] == ["w1", "3m20s"]
    fresh = {"metadata": {"name": "w2"}}
    assert widget_table([], fresh)["rows"][0]["cells"] == ["w2", None]


def test_crd_uses_the_requested_versions_columns() -> None:
    out = to_table(kind("example.com", "Widget", version="v1alpha1", crd=crd(None)),
                   [{"metadata": {"name": "w"}, "spec": {"old": "yes"}}])
    assert [c["name"] for c in out["columnDefinitions"]] == ["Name", "Old"]
    assert out["rows"][0]["cells"] == ["w", "yes"]


def test_crd_column_with_a_bad_path_ends_the_columns() -> None:
    out = widget_table([
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Bad", "type": "string", "jsonPath": ".spec[unclosed"},
        {"name": "After", "type": "string", "jsonPath": ".spec.size"},
    ])
    assert [c["name"] for c in out["columnDefinitions"]] == ["Name", "Replicas"]
    assert out["rows"][0]["cells"] == ["w1", 3]



@pytest.mark.parametrize(("value", "text"), [
    (0.75, "0.75"), (100.0, "100"), (1234567.0, "1.234567e+06"), (999999.0, "999999"), (0.0001, "0.0001"),
    (0.00001, "1e-05"), (-2.5e-7, "-2.5e-07"), (1e21, "1e+21"), (-0.0, "-0"), (float("inf"), "+Inf"),
])
def test_crd_string_cells_print_floats_as_go_does(value: float, text: str) -> None:
    out = widget_table([{"name": "R", "type": "string", "jsonPath": ".spec.ratio"}],
                       {"metadata": {"name": "w"}, "spec": {"ratio": value}})
    assert out["rows"][0]["cells"] == ["w", text]

# --- jsonpath and quantities ---------------------------------------------------------------------------

DOC = {
    "metadata": {"labels": {"app.kubernetes.io/name": "shop", "tier": "web"}},
    "spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80}]},
                            {"name": "b", "ports": [{"containerPort": 9090}, {"containerPort": 9091}]}]},
    "status": {"replicas": 2, "conditions": [{"type": "Ready", "status": "True", "count": 3}]},
}


@pytest.mark.parametrize(
    ("path", "found"),
    [
        (".status.replicas", [2]),
        ("$.status.replicas", [2]),
        (".spec.containers[1].name", ["b"]),
        (".spec.containers[-1].name", ["b"]),
        (".spec.containers[*].name", ["a", "b"]),
        (".spec.containers[0:1].name", ["a"]),
        (".spec.containers[5].name", "error"),
        (".spec.containers[2:2]", []),
        (".spec.containers.name", []),
        (".spec.nothing[0]", []),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type=='Gone')].status", []),
        (".status.conditions[?(@.count>2)].type", ["Ready"]),
        ('.status.conditions[?(@.count=="3")].type', "error"),
        (".status.conditions[?(@.count)].type", ["Ready"]),
        ("..containerPort", [80, 9090, 9091]),
        (".metadata.labels.app\\.kubernetes\\.io/name", ["shop"]),
        (".metadata.labels['app.kubernetes.io/name']", ["shop"]),
        (".metadata.labels['tier','app.kubernetes.io/name']", ["web", "shop"]),
        (".spec.containers[0,1].name", ["a", "b"]),
        (".status[0]", "error"),
    ],
)
def test_jsonpath(path: str, found: object) -> None:
    steps = jsonpath.parse(path)
    if found == "error":
        with pytest.raises(jsonpath.JSONPathError):
            jsonpath.find(steps, DOC)
    else:
        assert jsonpath.find(steps, DOC) == found


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("10Gi", "10Gi"), ("1024Mi", "1Gi"), ("1.5Gi", "1536Mi"), ("0.5Ki", "512"), ("1.1Ki", "1126400m"),
     ("1000m", "1"), ("1500m", "1500m"), ("0.5", "500m"), ("1000", "1k"), ("1e3", "1e3"), ("12e2", "1200"),
     ("0.0000000001", "1n"), ("-2048Ki", "-2Mi"), (None, "0"), (3, "3"), ("0Gi", "0")],
)
def test_quantity_canonical_form(given: object, canonical: str) -> None:
    assert quantity(given) == canonical


# --- every served kind ---------------------------------------------------------------------------------


def test_every_builtin_kind_prints_a_bare_object() -> None:
    from timoneiro.api.builtin import builtin_kinds

    printed = set()
    for served in builtin_kinds():
        out = to_table(served, [{"metadata": {"name": "bare"}}])
        assert len(out["rows"][0]["cells"]) == len(out["columnDefinitions"]), served.kind
        if [c["name"] for c in out["columnDefinitions"]] != ["Name", "Created At"]:
            printed.add((served.group, served.kind))
    assert printed == set(printers.BUILTIN)
