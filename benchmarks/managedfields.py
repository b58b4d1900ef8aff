"""managedFields tracking benchmark: microseconds per `update_managed_fields` / `apply` call.

    python benchmarks/managedfields.py [--calls 3000] [--only NAME] [--check] [--wall]
    TIMONEIRO_SRC=/other/checkout/src python benchmarks/managedfields.py   # time another version

Cases: the create of a Deployment-made pod (defaulted, about 2.5 KB of JSON), a no-op update of it, a
status-only update through the status subresource (the kubelet's first, then one changing fields it
already owns), a label change, and server-side apply of a Deployment (create, and a re-apply that
changes the replica count). Prints the median of many timed calls, in CPU time of this process by
default (the same as wall time on an idle machine, but steadier on a busy one). `--check` also prints
a digest of each case's resulting object, managedFields included, to compare versions by.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import statistics
import sys
import time

import orjson

sys.path.insert(0, os.environ.get("TIMONEIRO_SRC") or os.path.join(os.path.dirname(__file__), "..", "src"))
from timoneiro.api import schema as sch  # noqa: E402
from timoneiro.apiserver.managedfields import apply, update_managed_fields  # noqa: E402

POD = sch.for_kind("", "v1", "Pod")
DEPLOYMENT = sch.for_kind("apps", "v1", "Deployment")
T0, T1 = "2024-05-01T10:00:00Z", "2024-05-01T10:05:00Z"


def pod() -> dict:
    """A pod as a ReplicaSet creates it, once the API server has defaulted it."""
    container = {
        "name": "app", "image": "registry.example/bench/app:1.2.3", "command": ["/bin/app", "--serve"],
        "args": ["--port=8080", "--log-level=info"],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
        "env": [{"name": "MODE", "value": "bench"}, {"name": "LEVEL", "value": "info"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": True},
                         {"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                          "readOnly": True}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 5,
                           "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 10, "periodSeconds": 10,
                          "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
    }
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": "web-7c5ddbdf54-", "name": "web-7c5ddbdf54-abcde", "namespace": "default",
            "labels": {"app": "web", "pod-template-hash": "7c5ddbdf54"},
            "annotations": {"bench/annotation": "x" * 64},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7c5ddbdf54",
                                 "uid": "0b3f8b4e-5b7a-4c1e-9a53-3f7f1b0d2c11", "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": {
            "containers": [container],
            "volumes": [{"name": "config", "configMap": {"name": "web-config", "defaultMode": 420}},
                        {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
                            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                                "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "securityContext": {},
            "schedulerName": "default-scheduler", "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300},
                            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300}],
        },
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    }


def pod_status() -> dict:
    return {
        "phase": "Running", "qosClass": "Burstable", "hostIP": "10.0.0.12", "hostIPs": [{"ip": "10.0.0.12"}],
        "podIP": "10.244.1.17", "podIPs": [{"ip": "10.244.1.17"}], "startTime": T1,
        "conditions": [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": T1}
                       for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                 "PodScheduled")],
        "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "started": True,
                               "image": "registry.example/bench/app:1.2.3",
                               "imageID": "registry.example/bench/app@sha256:" + "ab" * 32,
                               "containerID": "containerd://" + "cd" * 32,
                               "state": {"running": {"startedAt": T1}}, "lastState": {}}],
    }


def deployment_config(replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [pod()["spec"]["containers"][0] | {
                                      "ports": [{"containerPort": 8080}]}]}}}}


def fresh(obj: dict) -> dict:
    """A copy that update_managed_fields may change (it only replaces metadata.managedFields)."""
    return {**obj, "metadata": dict(obj["metadata"])}


def timed(calls: int, prepare, run, clock=time.process_time_ns) -> tuple[float, object]:
    samples = []
    result = None
    for _ in range(calls):
        args = prepare()
        start = clock()
        result = run(*args)
        samples.append(clock() - start)
    return statistics.median(samples) / 1000, result


def cases() -> dict:
    created = pod()
    update_managed_fields(created, None, "kube-controller-manager", "v1", POD, now=T0, reset_fields=[("status",)])
    live = copy.deepcopy(created)
    live["metadata"].update(uid="5d7c8e2a-1f0b-4c3d-8e9f-a1b2c3d4e5f6", resourceVersion="1234",
                            creationTimestamp=T0)
    status = copy.deepcopy(live)
    status["status"] = pod_status()
    restatused = copy.deepcopy(status)  # the kubelet reports again: its fields, new values
    update_managed_fields(restatused, live, "kubelet", "v1", POD, subresource="status", now=T1,
                          reset_fields=[("spec",), ("metadata", "labels"), ("metadata", "annotations")])
    restatused["metadata"]["resourceVersion"] = "1235"
    restatus = copy.deepcopy(restatused)
    restatus["status"]["containerStatuses"][0].update(restartCount=1, lastState={"terminated": {
        "exitCode": 1, "reason": "Error", "startedAt": T0, "finishedAt": T1}})
    restatus["status"]["conditions"][2]["lastTransitionTime"] = "2024-05-01T10:06:00Z"
    relabelled = copy.deepcopy(live)
    relabelled["metadata"]["labels"]["tier"] = "front"
    applied = apply(None, deployment_config(2), "kubectl", "apps/v1", DEPLOYMENT, False, now=T0)
    applied["metadata"]["uid"] = "u"
    template = pod()

    def create(obj):
        update_managed_fields(obj, None, "kube-controller-manager", "v1", POD, now=T0, reset_fields=[("status",)])
        return obj

    def update(obj, old, manager, sub, reset):
        update_managed_fields(obj, old, manager, "v1", POD, subresource=sub, now=T1, reset_fields=reset)
        return obj

    return {
        "create pod": (lambda: (orjson.loads(orjson.dumps(template)),), create),
        "no-op update": (lambda: (fresh(live), live, "kubectl", "", [("status",)]), update),
        "status update (subresource)": (
            lambda: (fresh(status), live, "kubelet", "status",
                     [("spec",), ("metadata", "labels"), ("metadata", "annotations")]), update),
        "status update again": (
            lambda: (fresh(restatus), restatused, "kubelet", "status",
                     [("spec",), ("metadata", "labels"), ("metadata", "annotations")]), update),
        "label change": (lambda: (fresh(relabelled), live, "kubectl-label", "", [("status",)]), update),
        "apply deployment (create)": (
            lambda: (None, deployment_config(2)),
            lambda lv, cfg: apply(lv, cfg, "kubectl", "apps/v1", DEPLOYMENT, False, now=T0)),
        "apply deployment (replicas)": (
            lambda: (applied, deployment_config(3)),
            lambda lv, cfg: apply(lv, cfg, "kubectl", "apps/v1", DEPLOYMENT, False, now=T1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--check", action="store_true", help="print a digest of each case's result")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    parser.add_argument("--wall", action="store_true", help="time wall-clock time rather than the CPU time "
                        "of this process (which other processes on a busy machine do not inflate)")
    args = parser.parse_args()
    clock = time.perf_counter_ns if args.wall else time.process_time_ns
    print(f"pod JSON: {len(orjson.dumps(pod()))} bytes")
    for name, (prepare, run) in cases().items():
        if args.only not in name:
            continue
        timed(max(args.calls // 10, 10), prepare, run, clock)  # warm up
        us, result = timed(args.calls, prepare, run, clock)
        line = f"{name:<30} {us:9.1f} µs/call"
        if args.check:
            digest = hashlib.sha256(orjson.dumps(result, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
            line += f"   {digest}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
