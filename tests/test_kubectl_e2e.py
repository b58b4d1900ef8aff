"""The real kubectl 1.32 end to end against a started server: what it prints must be what it prints against
kube-apiserver 1.32 for the same objects (watch, describe, diff, server-side apply, explain, the create
generators, namespace deletion, tables, CRDs, selectors and paging).

The server runs the controllers of kube-controller-manager but no scheduler and no kubelet, so what is
expected here is what that control plane alone shows: a Deployment gets its ReplicaSet and pods, the pods
stay Pending on no node, and nothing ever becomes available."""

from __future__ import annotations

import base64
import json
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from controller_testing import assert_rolled_out_unavailable, eventually

MANIFESTS = Path(__file__).parent / "manifests"
SEED = str(MANIFESTS / "seed000.yaml")
AGE = "<age>"  # stands for the AGE cell of a row: every object here is seconds old
# pod-template-hash: the decimal digits of a 32-bit FNV hash, each mapped by rand.SafeEncodeString
HASH = r"[4-9bcdf]{1,10}"
# the five random characters generateName appends (rand.String's alphabet)
SUFFIX = r"[bcdfghjklmnpqrstvwxz2456789]{5}"


class Watch:
    """`kubectl get -w` as a child process whose stdout lines arrive on a queue."""

    def __init__(self, kubectl, *args: str) -> None:
        self.proc = subprocess.Popen([shutil.which("kubectl"), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=kubectl.env, cwd=kubectl.home)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def next(self, timeout: float = 10) -> list[str]:
        """The next printed row, split into its cells."""
        try:
            return self.lines.get(timeout=timeout).split()
        except queue.Empty:
            self.proc.kill()
            raise AssertionError(f"kubectl printed nothing more; stderr: {self.proc.stderr.read()}") from None

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def watch(kubectl) -> Iterator:
    started: list[Watch] = []

    def start(*args: str) -> Watch:
        started.append(Watch(kubectl, *args))
        return started[-1]

    yield start
    for w in started:
        w.close()


def apply(kubectl, *docs: dict, ns: str | None = None) -> str:
    args = ["apply", "-f", "-"] + (["-n", ns] if ns else [])
    return kubectl(*args, input=yaml.safe_dump_all(docs))


def configmap(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def pod(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def deployment(name: str, replicas: int, *containers: tuple[str, str], labels: dict | None = None) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": n, "image": i} for n, i in containers]}}}}


def namespace(kubectl, name: str, **labels: str) -> None:
    """Create a namespace and wait for the serviceaccounts controller to give it its "default" ServiceAccount:
    kube-apiserver's ServiceAccount admission refuses pods in a namespace until that exists."""
    apply(kubectl, {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": name, **({"labels": labels} if labels else {})}})
    eventually(lambda: kubectl("get", "serviceaccounts", "-n", name, "-o", "name") == "serviceaccount/default\n")


@dataclass
class Rollout:
    """A Deployment as the deployment and replicaset controllers leave it with no kubelet about."""

    deployment: dict
    replicaset: str  # the name of its one ReplicaSet
    pods: list[str]  # the names of that ReplicaSet's pods, in the order the server lists them


def rolled_out(kubectl, name: str, ns: str = "default") -> Rollout:
    """Wait until the controllers are done with a new Deployment: its ReplicaSet exists and has created every
    pod, the pods are Pending (nothing schedules or runs them), and the Deployment's status counts them all
    updated and unavailable. Their last write made, nothing changes these objects any more."""

    def done() -> Rollout:
        items = kubectl.json("get", "deployments,replicasets,pods", "-n", ns)["items"]

        def owned_by(owner: dict, kind: str) -> list[dict]:
            return [i for i in items if i["kind"] == kind and any(
                ref["uid"] == owner["metadata"]["uid"] for ref in i["metadata"].get("ownerReferences", []))]

        d = next(i for i in items if i["kind"] == "Deployment" and i["metadata"]["name"] == name)
        assert_rolled_out_unavailable(d)
        want = d["spec"]["replicas"]
        rss = owned_by(d, "ReplicaSet")
        assert len(rss) == 1, rss
        rs = rss[0]
        assert rs["status"].get("observedGeneration") == rs["metadata"]["generation"], rs["status"]
        assert rs["status"]["replicas"] == want, rs["status"]
        pods = owned_by(rs, "Pod")
        assert len(pods) == want and all(p["status"]["phase"] == "Pending" for p in pods), pods
        return Rollout(d, rs["metadata"]["name"], [p["metadata"]["name"] for p in pods])

    rollout = eventually(done, timeout=20)
    assert re.fullmatch(rf"{re.escape(name)}-{HASH}", rollout.replicaset), rollout.replicaset
    for p in rollout.pods:
        assert re.fullmatch(rf"{re.escape(rollout.replicaset)}-{SUFFIX}", p), p
    return rollout


def subset(want: object, got: object) -> bool:
    """`got` has every key of `want` with the same value: the server adds defaults we do not pin here."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and subset(v, got[k]) for k, v in want.items())
    return want == got


def rows(table: str) -> list[list[str]]:
    """A printed table's lines split into cells (no cell printed here holds a space)."""
    return [line.split() for line in table.splitlines()]


def check_row(row: list[str], *expected: str) -> None:
    """Cells equal `expected`, with AGE standing for any age in seconds."""
    assert len(row) == len(expected), row
    for cell, want in zip(row, expected, strict=True):
        assert re.fullmatch(r"\d+s", cell) if want is AGE else cell == want, row


# --- kubectl get -w ---------------------------------------------------------------------------------------

def test_get_watch_prints_added_modified_deleted(kubectl, watch):
    apply(kubectl, configmap("w0", a="1"))
    mine = "--field-selector=metadata.name!=kube-root-ca.crt"  # not the controller manager's
    events = watch("get", "configmaps", "-w", "--output-watch-events", mine)
    plain = watch("get", "configmaps", "-w", mine)
    assert events.next() == ["EVENT", "NAME", "DATA", "AGE"]
    check_row(events.next(), "ADDED", "w0", "1", AGE)
    assert plain.next() == ["NAME", "DATA", "AGE"]
    check_row(plain.next(), "w0", "1", AGE)
    apply(kubectl, configmap("w1", a="1", b="2"))
    check_row(events.next(), "ADDED", "w1", "2", AGE)
    check_row(plain.next(), "w1", "2", AGE)
    kubectl("patch", "configmap", "w1", "--type", "merge", "-p", '{"data":{"c":"3"}}')
    check_row(events.next(), "MODIFIED", "w1", "3", AGE)
    check_row(plain.next(), "w1", "3", AGE)
    kubectl("delete", "configmap", "w0")
    check_row(events.next(), "DELETED", "w0", "1", AGE)
    check_row(plain.next(), "w0", "1", AGE)
    assert events.proc.poll() is None and plain.proc.poll() is None  # still watching


def test_get_watch_single_object_and_label_selector(kubectl, watch):
    apply(kubectl, configmap("one", a="1"), configmap("two", a="1"))
    kubectl("label", "configmap", "two", "team=b")
    one = watch("get", "configmap", "one", "-w", "--output-watch-events")
    team = watch("get", "configmaps", "-l", "team=b", "-w")
    assert one.next() == ["EVENT", "NAME", "DATA", "AGE"]
    check_row(one.next(), "ADDED", "one", "1", AGE)
    assert team.next() == ["NAME", "DATA", "AGE"]
    check_row(team.next(), "two", "1", AGE)
    kubectl("patch", "configmap", "two", "--type", "merge", "-p", '{"data":{"b":"2"}}')
    kubectl("patch", "configmap", "one", "--type", "merge", "-p", '{"data":{"b":"2"}}')
    check_row(team.next(), "two", "2", AGE)
    check_row(one.next(), "MODIFIED", "one", "2", AGE)


# --- kubectl describe -------------------------------------------------------------------------------------

def described(out: str) -> str:
    """describe's output with its one time-dependent line made fixed."""
    assert re.search(r"^CreationTimestamp: +\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [-+]\d{4}$", out, re.M), out
    return re.sub(r"^(CreationTimestamp: +).*$", r"\1<time>", out, flags=re.M)


def test_describe_deployment(kubectl):
    kubectl("apply", "-f", SEED)
    rs = rolled_out(kubectl, "helloworld").replicaset

    def with_events() -> str:  # the event recorder writes its events on its own time
        out = kubectl("describe", "deployment", "helloworld")
        assert "\nEvents:\n" in out, out
        return out

    out = eventually(with_events)
    events = out.index("Events:")
    assert described(out[:events]) == f"""\
Name:                   helloworld
Namespace:              default
CreationTimestamp:      <time>
Labels:                 <none>
Annotations:            deployment.kubernetes.io/revision: 1
Selector:               run=helloworld-backend
Replicas:               2 desired | 2 updated | 2 total | 0 available | 2 unavailable
StrategyType:           RollingUpdate
MinReadySeconds:        0
RollingUpdateStrategy:  25% max unavailable, 25% max surge
Pod Template:
  Labels:  run=helloworld-backend
  Containers:
   helloworld:
    Image:         public.ecr.aws/nginx/nginx:1.21-perl
    Port:          80/TCP
    Host Port:     0/TCP
    Environment:   <none>
    Mounts:        <none>
  Volumes:         <none>
  Node-Selectors:  <none>
  Tolerations:     <none>
Conditions:
  Type           Status  Reason
  ----           ------  ------
  Available      False   MinimumReplicasUnavailable
  Progressing    True    ReplicaSetUpdated
OldReplicaSets:  <none>
NewReplicaSet:   {rs} (2/2 replicas created)
"""
    # the replica set was created at its full size: no "from 0" (only resizing an existing set says "from")
    assert re.fullmatch(rf"""Events:
  Type    Reason             Age   From                   Message
  ----    ------             ----  ----                   -------
  Normal  ScalingReplicaSet  \d+s +deployment-controller  Scaled up replica set {rs} to 2
""", out[events:]), out[events:]
    # what describe summarises, as stored: zero counts are left out (omitempty), as kube-apiserver encodes them
    status = kubectl.json("get", "deployment", "helloworld")["status"]
    conditions = [(c["type"], c["status"], c["reason"], c["message"]) for c in status.pop("conditions")]
    assert status == {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "unavailableReplicas": 2}
    assert conditions == [
        ("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
        ("Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs}" is progressing.')]


def test_describe_service(kubectl):
    kubectl("apply", "-f", SEED)
    ip = kubectl("get", "service", "helloworld-backend", "-o", "jsonpath={.spec.clusterIP}")
    # kubectl describes a Service's endpoints from its EndpointSlices. The endpointslice controller gives it
    # one with no endpoints and no ports (Pending pods have no IP), which kubectl prints as an empty value.
    rolled_out(kubectl, "helloworld")
    slices = "-l", "kubernetes.io/service-name=helloworld-backend"
    eventually(lambda: kubectl("get", "endpointslices", *slices, "-o", "name"))
    assert kubectl("describe", "service", "helloworld-backend") == f"""\
Name:                     helloworld-backend
Namespace:                default
Labels:                   <none>
Annotations:              <none>
Selector:                 run=helloworld-backend
Type:                     LoadBalancer
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       {ip}
IPs:                      {ip}
Port:                     <unset>  80/TCP
TargetPort:               80/TCP
NodePort:                 <unset>  31479/TCP
Endpoints:{" " * 16}
Session Affinity:         None
External Traffic Policy:  Cluster
Internal Traffic Policy:  Cluster
Events:                   <none>
"""


def test_describe_configmap(kubectl):
    cm = configmap("settings", color="blue")
    cm["metadata"]["labels"] = {"app": "shop"}
    apply(kubectl, cm)
    assert kubectl("describe", "configmap", "settings") == """\
Name:         settings
Namespace:    default
Labels:       app=shop
Annotations:  <none>

Data
====
color:
----
blue


BinaryData
====

Events:  <none>
"""


@pytest.mark.parametrize("name", ["team", "default"])
def test_describe_namespace(kubectl, name):
    if name == "team":
        apply(kubectl, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": {"owner": "me"}}})
    extra = "\n              owner=me" if name == "team" else ""
    assert kubectl("describe", "namespace", name) == f"""\
Name:         {name}
Labels:       kubernetes.io/metadata.name={name}{extra}
Annotations:  <none>
Status:       Active

No resource quota.

No LimitRange resource.
"""


# --- kubectl diff -----------------------------------------------------------------------------------------

def test_diff_shows_changes_and_exits_1(kubectl):
    kubectl("apply", "-f", SEED)
    # diff reads the live object, then has the server dry-run the change: a status the controllers write in
    # between would show as a change, so they finish their rollout first
    rolled_out(kubectl, "helloworld")
    same = kubectl.run("diff", "-f", SEED, check=False)
    assert (same.returncode, same.stdout, same.stderr) == (0, "", "")
    changed = kubectl.home / "changed.yaml"
    changed.write_text(Path(SEED).read_text().replace("replicas: 2", "replicas: 3")
                       + "---\n" + yaml.safe_dump(configmap("extra", a="1")))
    proc = kubectl.run("diff", "-f", str(changed), check=False)
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert re.search(r"^diff -u -N \S+/LIVE-\d+/apps\.v1\.Deployment\.default\.helloworld "
                     r"\S+/MERGED-\d+/apps\.v1\.Deployment\.default\.helloworld$", out, re.M), out
    assert re.search(r"^--- \S+/LIVE-\d+/apps\.v1\.Deployment\.default\.helloworld\t", out, re.M)
    assert re.search(r"^\+\+\+ \S+/MERGED-\d+/apps\.v1\.Deployment\.default\.helloworld\t", out, re.M)
    changes = [line for line in out.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changes[:4] == ["-  generation: 1", "+  generation: 2", "-  replicas: 2", "+  replicas: 3"]
    # a new object is diffed against nothing
    assert re.search(r"^diff -u -N \S+/LIVE-\d+/v1\.ConfigMap\.default\.extra \S+/MERGED-\d+/v1\.ConfigMap\.default\.extra$",
                     out, re.M), out
    assert changes[4:9] == ["+apiVersion: v1", "+data:", '+  a: "1"', "+kind: ConfigMap", "+metadata:"]
    assert re.fullmatch(r'\+  creationTimestamp: "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"', changes[9]), changes
    assert changes[10:12] == ["+  name: extra", "+  namespace: default"]
    assert re.fullmatch(r"\+  uid: [0-9a-f-]{36}", changes[12]) and len(changes) == 13, changes
    # diff is a dry run: nothing changed
    assert kubectl.json("get", "deployment", "helloworld")["spec"]["replicas"] == 2
    assert kubectl.run("get", "configmap", "extra", check=False).returncode == 1


# --- server-side apply ------------------------------------------------------------------------------------

def test_server_side_apply_conflicts_and_managed_fields(kubectl):
    manifest = kubectl.home / "cm.yaml"
    manifest.write_text(yaml.safe_dump(configmap("ssa", a="1")))
    assert kubectl("apply", "--server-side", "-f", str(manifest)) == "configmap/ssa serverside-applied\n"
    rv = kubectl.json("get", "configmap", "ssa")["metadata"]["resourceVersion"]
    assert kubectl("apply", "--server-side", "-f", str(manifest)) == "configmap/ssa serverside-applied\n"
    assert kubectl.json("get", "configmap", "ssa")["metadata"]["resourceVersion"] == rv  # a no-op
    kubectl("patch", "configmap", "ssa", "--type", "merge", "-p", '{"data":{"a":"2","b":"x"}}',
            "--field-manager", "other")
    proc = kubectl.run("apply", "--server-side", "-f", str(manifest), check=False)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == """\
error: Apply failed with 1 conflict: conflict with "other" using v1: .data.a
Please review the fields above--they currently have other managers. Here
are the ways you can resolve this warning:
* If you intend to manage all of these fields, please re-run the apply
  command with the `--force-conflicts` flag.
* If you do not intend to manage all of the fields, please edit your
  manifest to remove references to the fields that should keep their
  current managers.
* You may co-own fields by updating your manifest to match the existing
  value; in this case, you'll become the manager if the other manager(s)
  stop managing the field (remove it from their configuration).
See https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts
"""
    assert kubectl.json("get", "configmap", "ssa")["data"] == {"a": "2", "b": "x"}
    out = kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    assert out == "configmap/ssa serverside-applied\n"
    assert "managedFields" not in kubectl("get", "configmap", "ssa", "-o", "yaml")
    live = yaml.safe_load(kubectl("get", "configmap", "ssa", "-o", "yaml", "--show-managed-fields"))
    assert live["data"] == {"a": "1", "b": "x"}
    managed = {(m["manager"], m["operation"]): m for m in live["metadata"]["managedFields"]}
    assert set(managed) == {("kubectl", "Apply"), ("other", "Update")}
    assert managed["kubectl", "Apply"]["fieldsV1"] == {"f:data": {"f:a": {}}}
    assert managed["other", "Update"]["fieldsV1"] == {"f:data": {"f:b": {}}}
    for m in managed.values():
        assert (m["apiVersion"], m["fieldsType"]) == ("v1", "FieldsV1") and m["time"]


def test_server_side_apply_takes_over_from_client_side_apply(kubectl):
    kubectl("apply", "-f", SEED)
    changed = kubectl.home / "seed.yaml"
    changed.write_text(Path(SEED).read_text().replace("replicas: 2", "replicas: 5"))
    # another manager conflicts on what client-side apply set
    proc = kubectl.run("apply", "--server-side", "--field-manager", "deployer", "-f", str(changed), check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" "
                                  "using apps/v1: .spec.replicas\n"), proc.stderr
    assert proc.stdout == "service/helloworld-backend serverside-applied\n"
    # kubectl itself may take over the fields its last-applied-configuration names
    out = kubectl("apply", "--server-side", "-f", str(changed))
    assert out == "deployment.apps/helloworld serverside-applied\nservice/helloworld-backend serverside-applied\n"
    assert kubectl.json("get", "deployment", "helloworld")["spec"]["replicas"] == 5


# --- kubectl explain --------------------------------------------------------------------------------------

def test_explain_field(kubectl):
    assert kubectl("explain", "deployment.spec.replicas").split("\n") == [
        "GROUP:      apps",
        "KIND:       Deployment",
        "VERSION:    v1",
        "",
        "FIELD: replicas <integer>",
        "",
        "",
        "DESCRIPTION:",
        "    Number of desired pods. This is a pointer to distinguish between explicit",
        "    zero and not specified. Defaults to 1.",
        "    ",
        "",
        "",
    ]


def test_explain_recursive(kubectl):
    head = kubectl("explain", "pods", "--recursive").splitlines()[:27]
    assert head == [
        "KIND:       Pod",
        "VERSION:    v1",
        "",
        "DESCRIPTION:",
        "    Pod is a collection of containers that can run on a host. This resource is",
        "    created by clients and scheduled onto hosts.",
        "    ",
        "FIELDS:",
        "  apiVersion\t<string>",
        "  kind\t<string>",
        "  metadata\t<ObjectMeta>",
        "    annotations\t<map[string]string>",
        "    creationTimestamp\t<string>",
        "    deletionGracePeriodSeconds\t<integer>",
        "    deletionTimestamp\t<string>",
        "    finalizers\t<[]string>",
        "    generateName\t<string>",
        "    generation\t<integer>",
        "    labels\t<map[string]string>",
        "    managedFields\t<[]ManagedFieldsEntry>",
        "      apiVersion\t<string>",
        "      fieldsType\t<string>",
        "      fieldsV1\t<FieldsV1>",
        "      manager\t<string>",
        "      operation\t<string>",
        "      subresource\t<string>",
        "      time\t<string>",
    ]


def test_explain_unknown_field(kubectl):
    proc = kubectl.run("explain", "deployment.spec.nope", check=False)
    assert proc.returncode == 1
    assert proc.stderr == 'error: field "nope" does not exist\n'


# --- the create generators (they send protobuf) -----------------------------------------------------------

@pytest.mark.parametrize(("args", "printed", "get", "want"), [
    (["create", "deployment", "nginx", "--image=nginx", "--replicas", "3"], "deployment.apps/nginx created",
     ["deployment", "nginx"],
     {"metadata": {"labels": {"app": "nginx"}},
      "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
               "template": {"metadata": {"labels": {"app": "nginx"}}}}}),
    (["create", "configmap", "c", "--from-literal=a=b"], "configmap/c created", ["configmap", "c"],
     {"data": {"a": "b"}}),
    (["create", "secret", "generic", "s", "--from-literal=k=v"], "secret/s created", ["secret", "s"],
     {"type": "Opaque", "data": {"k": base64.b64encode(b"v").decode()}}),
    (["create", "namespace", "x"], "namespace/x created", ["namespace", "x"],
     {"metadata": {"labels": {"kubernetes.io/metadata.name": "x"}}, "spec": {"finalizers": ["kubernetes"]},
      "status": {"phase": "Active"}}),
    (["create", "service", "clusterip", "my-svc", "--tcp=5678:8080"], "service/my-svc created",
     ["service", "my-svc"],
     {"metadata": {"labels": {"app": "my-svc"}},
      "spec": {"type": "ClusterIP", "selector": {"app": "my-svc"},
               "ports": [{"name": "5678-8080", "port": 5678, "protocol": "TCP", "targetPort": 8080}]}}),
    (["run", "web", "--image=nginx", "--labels=tier=front"], "pod/web created", ["pod", "web"],
     {"metadata": {"labels": {"tier": "front"}}, "status": {"phase": "Pending"}}),
])
def test_create_generators(kubectl, args, printed, get, want):
    assert kubectl(*args) == printed + "\n"
    obj = kubectl.json("get", *get)
    assert subset(want, obj), json.dumps(obj, indent=1)


def test_create_generators_fill_the_templates(kubectl):
    kubectl("create", "deployment", "nginx", "--image=nginx", "--replicas", "3")
    kubectl("run", "web", "--image=nginx")
    container = kubectl.json("get", "deployment", "nginx")["spec"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"]) == ("nginx", "nginx")
    pod_obj = kubectl.json("get", "pod", "web")
    assert pod_obj["metadata"]["labels"] == {"run": "web"}
    assert [(c["name"], c["image"]) for c in pod_obj["spec"]["containers"]] == [("web", "nginx")]


# --- deleting a namespace ---------------------------------------------------------------------------------

def test_delete_namespace_removes_everything_inside(kubectl):
    namespace(kubectl, "doomed")
    apply(kubectl, configmap("settings", a="1"), pod("p1", app="x"), deployment("api", 2, ("api", "nginx")),
          {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"k": "v"}},
          ns="doomed")
    api = rolled_out(kubectl, "api", "doomed")
    inside = ["configmap/kube-root-ca.crt", "configmap/settings", *(f"pod/{p}" for p in api.pods), "pod/p1",
              "deployment.apps/api", f"replicaset.apps/{api.replicaset}", "secret/creds"]
    eventually(lambda: kubectl("get", "cm,pods,deploy,rs,secrets", "-n", "doomed", "-o", "name").split() == inside)
    assert kubectl("delete", "namespace", "doomed", "--timeout=30s") == 'namespace "doomed" deleted\n'
    proc = kubectl.run("get", "namespace", "doomed", check=False)
    assert proc.returncode == 1
    assert proc.stderr == 'Error from server (NotFound): namespaces "doomed" not found\n'
    proc = kubectl.run("get", "cm,pods,deploy,rs,secrets", "-n", "doomed")
    assert (proc.stdout, proc.stderr) == ("", "No resources found in doomed namespace.\n")


# --- tables -----------------------------------------------------------------------------------------------

def test_get_wide_tables(kubectl):
    namespace(kubectl, "shop", demo="t")
    kubectl("apply", "-n", "shop", "-f", SEED)
    kubectl("label", "-n", "shop", "deployment/helloworld", "service/helloworld-backend", "demo=t")
    apply(kubectl,
          {**configmap("settings", color="blue", size="L"), "metadata": {"name": "settings", "labels": {"demo": "t"}}},
          {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "labels": {"demo": "t"}},
           "data": {"password": base64.b64encode(b"hunter2").decode()}},
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"demo": "t"}},
           "spec": {"selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "https", "port": 443}]}},
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "headless", "labels": {"demo": "t"}},
           "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}},
          deployment("web", 3, ("web", "nginx:1.27"), ("log", "busybox"), labels={"demo": "t"}),
          ns="shop")
    rolled_out(kubectl, "helloworld", "shop")
    rolled_out(kubectl, "web", "shop")
    ips = {s["metadata"]["name"]: s["spec"]["clusterIP"] for s in kubectl.json("get", "svc", "-n", "shop")["items"]}
    out = kubectl("get", "deploy,svc,cm,secret,ns", "-n", "shop", "-l", "demo=t", "-o", "wide")
    blocks = [rows(b) for b in out.split("\n\n")]
    assert len(blocks) == 5, out
    deploys, services, configmaps, secrets, namespaces = blocks
    assert deploys[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    check_row(deploys[1], "deployment.apps/helloworld", "0/2", "2", "0", AGE, "helloworld",
              "public.ecr.aws/nginx/nginx:1.21-perl", "run=helloworld-backend")
    check_row(deploys[2], "deployment.apps/web", "0/3", "3", "0", AGE, "web,log", "nginx:1.27,busybox", "app=web")
    assert len(deploys) == 3
    assert services[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    check_row(services[1], "service/headless", "ClusterIP", "None", "<none>", "5432/TCP", AGE, "<none>")
    check_row(services[2], "service/helloworld-backend", "LoadBalancer", ips["helloworld-backend"], "<pending>",
              "80:31479/TCP", AGE, "run=helloworld-backend")
    check_row(services[3], "service/web", "ClusterIP", ips["web"], "<none>", "80/TCP,443/TCP", AGE, "app=web")
    assert len(services) == 4
    assert configmaps[0] == ["NAME", "DATA", "AGE"]
    check_row(configmaps[1], "configmap/settings", "2", AGE)
    assert secrets[0] == ["NAME", "TYPE", "DATA", "AGE"]
    check_row(secrets[1], "secret/creds", "Opaque", "1", AGE)
    assert namespaces[0] == ["NAME", "STATUS", "AGE"]
    check_row(namespaces[1], "namespace/shop", "Active", AGE)
    assert len(configmaps) == len(secrets) == len(namespaces) == 2
    # one kind alone prints no kind prefix; every namespace the API server makes itself is there
    listed = rows(kubectl("get", "ns", "-o", "wide"))
    assert listed[0] == ["NAME", "STATUS", "AGE"]
    assert [r[:2] for r in listed[1:]] == [[n, "Active"] for n in
                                          ("default", "kube-node-lease", "kube-public", "kube-system", "shop")]


def test_secret_string_data_is_stored_as_data(kubectl):
    apply(kubectl, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
                    "stringData": {"password": "hunter2"}, "data": {"user": base64.b64encode(b"me").decode()}})
    secret = kubectl.json("get", "secret", "creds")
    assert secret["data"] == {"password": base64.b64encode(b"hunter2").decode(), "user": "bWU="}
    assert "stringData" not in secret
    check_row(rows(kubectl("get", "secret", "creds"))[1], "creds", "Opaque", "2", AGE)


def test_get_no_headers_and_custom_columns(kubectl):
    kubectl("apply", "-f", SEED)
    rolled_out(kubectl, "helloworld")
    out = kubectl("get", "deploy", "--no-headers")
    check_row(out.split(), "helloworld", "0/2", "2", "0", AGE)
    out = kubectl("get", "svc", "helloworld-backend", "-o", "custom-columns=NAME:.metadata.name,PORT:.spec.ports[0].port")
    assert rows(out) == [["NAME", "PORT"], ["helloworld-backend", "80"]]


# --- custom resources -------------------------------------------------------------------------------------

def test_custom_resource_lifecycle(kubectl):
    crd = "customresourcedefinition.apiextensions.k8s.io"
    assert kubectl("apply", "-f", str(MANIFESTS / "crontab-crd.yaml")) == f"{crd}/crontabs.stable.example.com created\n"
    out = kubectl("wait", "--for", "condition=established", "--timeout=30s", "crd/crontabs.stable.example.com")
    assert out == f"{crd}/crontabs.stable.example.com condition met\n"
    out = kubectl("apply", "-f", str(MANIFESTS / "crontab.yaml"))
    assert out == "crontab.stable.example.com/my-new-cron-object created\n"
    apply(kubectl, {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "second"},
                    "spec": {"cronSpec": "@hourly", "image": "img", "replicas": 1}})

    def table() -> list[str]:
        lines = kubectl("get", "crontabs").splitlines()
        assert lines[0].split() == ["NAME", "SPEC", "REPLICAS", "AGE"]
        return lines[1:]

    first, second = table()
    assert re.fullmatch(r"my-new-cron-object +\* \* \* \* \*/5 +2 +\d+s", first), first
    assert re.fullmatch(r"second +@hourly +1 +\d+s", second), second
    assert rows(kubectl("get", "ct", "-o", "wide"))[0] == ["NAME", "SPEC", "REPLICAS", "AGE"]
    out = kubectl("scale", "crontab", "my-new-cron-object", "--replicas=5")
    assert out == "crontab.stable.example.com/my-new-cron-object scaled\n"
    out = kubectl("patch", "ct", "my-new-cron-object", "--type", "merge", "-p", '{"spec":{"cronSpec":"*/1 * * * *"}}')
    assert out == "crontab.stable.example.com/my-new-cron-object patched\n"
    assert re.fullmatch(r"my-new-cron-object +\*/1 \* \* \* \* +5 +\d+s", table()[0])
    proc = kubectl.run("patch", "ct", "my-new-cron-object", "--type", "merge", "-p", '{"spec":{"replicas":50}}',
                       check=False)
    assert proc.returncode == 1
    assert proc.stderr == ('The CronTab "my-new-cron-object" is invalid: spec.replicas: Invalid value: 50: '
                           "spec.replicas in body should be less than or equal to 10\n")
    out = kubectl("delete", "ct", "my-new-cron-object")
    assert out == 'crontab.stable.example.com "my-new-cron-object" deleted\n'
    assert kubectl("get", "ct", "-o", "name") == "crontab.stable.example.com/second\n"
    assert kubectl("delete", "crd", "crontabs.stable.example.com") == \
        f'{crd} "crontabs.stable.example.com" deleted\n'
    proc = kubectl.run("get", "--raw", "/apis/stable.example.com/v1/namespaces/default/crontabs", check=False)
    assert proc.returncode == 1
    assert proc.stderr == "Error from server (NotFound): the server could not find the requested resource\n"
    proc = kubectl.run("get", "crd")
    assert (proc.stdout, proc.stderr) == ("", "No resources found\n")


# --- selectors, paging, delete --all, get all -------------------------------------------------------------

@dataclass
class Work:
    ns: str
    api: Rollout  # Deployment "api", rolled out: its ReplicaSet and two Pending pods

    @property
    def pods(self) -> list[str]:
        """Every pod in the namespace, in the order the server lists them (by name)."""
        return [*self.api.pods, "p1", "p2", "p3", "p4", "p5"]


@pytest.fixture
def work(kubectl) -> Work:
    """Namespace "work" with five pods (app=odd/even), a deployment (whose ReplicaSet made two pods more) and a
    service."""
    namespace(kubectl, "work")
    apply(kubectl, *[pod(f"p{i}", app="odd" if i % 2 else "even") for i in range(1, 6)],
          deployment("api", 2, ("api", "nginx")),
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
           "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}},
          ns="work")
    return Work("work", rolled_out(kubectl, "api", "work"))


def test_get_pods_by_field_and_label_selector(kubectl, work):
    listed = rows(kubectl("get", "pods", "-n", work.ns, "--field-selector", "status.phase=Pending"))
    assert listed[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert len(listed) == 1 + len(work.pods), listed
    for name, row in zip(work.pods, listed[1:], strict=True):
        check_row(row, name, "0/1", "Pending", "0", AGE)
    proc = kubectl.run("get", "pods", "-n", work.ns, "--field-selector", "status.phase=Running")
    assert (proc.stdout, proc.stderr) == ("", "No resources found in work namespace.\n")
    names = kubectl("get", "pods", "-n", work.ns, "-l", "app=odd", "-o", "name").split()
    assert names == ["pod/p1", "pod/p3", "pod/p5"]
    names = kubectl("get", "pods", "-n", work.ns, "-l", "app!=odd,app", "--field-selector", "metadata.name!=p2",
                    "-o", "name").split()
    assert names == [*(f"pod/{p}" for p in work.api.pods), "pod/p4"]
    names = kubectl("get", "pods", "-n", work.ns, "-l", "app in (even)", "-o", "name").split()
    assert names == ["pod/p2", "pod/p4"]


def test_get_in_chunks(kubectl, work):
    proc = kubectl.run("get", "pods", "-n", work.ns, "--chunk-size=2", "-v=6")
    assert [r[0] for r in rows(proc.stdout)] == ["NAME", *work.pods]
    requests = re.findall(r"GET (\S+/api/v1/namespaces/work/pods\S*) 200 OK", proc.stderr)
    assert len(work.pods) == 7 and len(requests) == 4, proc.stderr  # pages of 2, 2, 2 and 1
    assert "limit=2" in requests[0] and "continue=" not in requests[0]
    assert all("limit=2" in r and "continue=" in r for r in requests[1:])
    # a list of JSON is one List however many pages it took
    assert [i["metadata"]["name"] for i in kubectl.json("get", "pods", "-n", work.ns, "--chunk-size=2")["items"]] == \
        work.pods


def test_get_all(kubectl, work):
    blocks = [rows(b) for b in kubectl("get", "all", "-n", work.ns).split("\n\n")]
    assert [b[0] for b in blocks] == [["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
                                      ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
                                      ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
                                      ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]]
    pods, services, deployments, replicasets = (b[1:] for b in blocks)
    assert len(pods) == len(work.pods), pods
    for name, row in zip(work.pods, pods, strict=True):
        check_row(row, f"pod/{name}", "0/1", "Pending", "0", AGE)
    ip = kubectl("get", "svc", "api", "-n", work.ns, "-o", "jsonpath={.spec.clusterIP}")
    assert len(services) == len(deployments) == len(replicasets) == 1
    check_row(services[0], "service/api", "ClusterIP", ip, "<none>", "80/TCP", AGE)
    check_row(deployments[0], "deployment.apps/api", "0/2", "2", "0", AGE)
    check_row(replicasets[0], f"replicaset.apps/{work.api.replicaset}", "2", "2", "0", AGE)


def test_delete_all(kubectl, work):
    out = kubectl("delete", "pods", "--all", "-n", work.ns)
    assert out == "".join(f'pod "{p}" deleted\n' for p in work.pods)

    def replaced() -> list[str]:
        names = kubectl("get", "pods", "-n", work.ns, "-o", "name").split()
        assert len(names) == 2, names
        for name in names:
            assert re.fullmatch(rf"pod/{work.api.replicaset}-{SUFFIX}", name), names
            assert name.removeprefix("pod/") not in work.api.pods, names
        return names

    # the bare pods are gone for good; the ReplicaSet replaces its two with new ones
    eventually(replaced, timeout=20)
    assert kubectl("get", "deploy,svc", "-n", work.ns, "-o", "name").split() == ["deployment.apps/api", "service/api"]
