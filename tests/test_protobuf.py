"""Decoding of Kubernetes protobuf bodies: real kubectl requests, and hand-built messages for the odd types."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from timoneiro.apiserver import protobuf
from timoneiro.apiserver.protobuf import ProtobufError, decode

PROTOBUF = "application/vnd.kubernetes.protobuf"

# Discovery that kubectl needs for the commands below: groupVersion -> (resource, kind, namespaced, extra).
RESOURCES: dict[str, list[tuple[str, str, bool, dict]]] = {
    "v1": [("pods", "Pod", True, {}), ("nodes", "Node", False, {}), ("configmaps", "ConfigMap", True, {}),
           ("services", "Service", True, {}), ("namespaces", "Namespace", False, {})],
    "apps/v1": [("deployments", "Deployment", True, {}), ("replicasets", "ReplicaSet", True, {}),
                ("deployments/scale", "Scale", True, {"group": "autoscaling", "version": "v1"})],
    "autoscaling/v1": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True, {})],
}
POD = {"kind": "Pod", "apiVersion": "v1",
       "metadata": {"name": "p1", "namespace": "default", "uid": "u2", "resourceVersion": "1",
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                         "uid": "u3", "controller": True}]},
       "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]},
       "status": {"phase": "Running"}}
OBJECTS = {
    "/apis/apps/v1/namespaces/default/deployments/web": {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "1"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}},
    "/api/v1/nodes/n1": {"kind": "Node", "apiVersion": "v1",
                         "metadata": {"name": "n1", "uid": "u4", "resourceVersion": "1"},
                         "spec": {"unschedulable": True}},
    "/api/v1/pods": {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": [POD]},
    "/apis/apps/v1/namespaces/default/replicasets/rs": {
        "kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": {"name": "rs", "namespace": "default", "uid": "u3"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {}}},
}


def _discovery() -> dict[str, dict]:
    def version(gv: str) -> dict:
        return {"groupVersion": gv, "version": gv.split("/")[1]}

    out: dict[str, dict] = {
        "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1",
                  "groups": [{"name": gv.split("/")[0], "versions": [version(gv)], "preferredVersion": version(gv)}
                             for gv in RESOURCES if "/" in gv]},
    }
    for gv, resources in RESOURCES.items():
        out[("/api/" if gv == "v1" else "/apis/") + gv] = {
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [{"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
                           "verbs": ["create", "delete", "get", "list"], **extra}
                          for name, kind, namespaced, extra in resources]}
    return out


class Recorder(BaseHTTPRequestHandler):
    """Answers discovery and a few GETs; records every write and fails it, so kubectl sends it once."""

    answers: dict[str, dict] = {**_discovery(), **OBJECTS}
    requests: list[tuple[str, str, str, bytes]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        answer = self.answers.get(self.path.split("?")[0])
        if answer is None:
            self._reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})
        else:
            self._reply(200, answer)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.requests.append((self.command, self.path, self.headers.get("Content-Type", ""), body))
        self._reply(500, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "recorded",
                          "code": 500})

    do_DELETE = do_POST


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    home = tmp_path_factory.mktemp("kubectl")
    (home / "config").write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "default"}}]}))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "KUBECONFIG": str(home / "config")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["kubectl", "--cache-dir", str(home / "cache"), *args], env=env, cwd=home,
                              capture_output=True, text=True, timeout=60)

    def writes(*args: str) -> list[tuple[str, str, str, bytes]]:
        """The writes one kubectl command sends (it fails on the recorder's 500, which is expected)."""
        Recorder.requests.clear()
        run(*args)
        return list(Recorder.requests)

    run.writes = writes  # type: ignore[attr-defined]
    run.home = home  # type: ignore[attr-defined]
    yield run
    server.shutdown()
    server.server_close()


def _one_protobuf(writes: list[tuple[str, str, str, bytes]]) -> bytes:
    assert len(writes) == 1, writes
    _, _, content_type, body = writes[0]
    assert content_type == PROTOBUF
    return body


DRY_RUN_COMMANDS = [
    ["create", "deployment", "web", "--image=nginx:1.27", "--replicas=3", "--port=80"],
    ["create", "deployment", "multi", "--image=a", "--image=b:2", "-n", "other"],
    ["create", "configmap", "c", "--from-literal=a=b"],
    ["create", "configmap", "bin", "--from-file=blob.bin", "--from-literal=x=y"],
    ["create", "secret", "generic", "s", "--from-literal=k=v"],
    ["create", "secret", "docker-registry", "d", "--docker-username=u", "--docker-password=p",
     "--docker-server=s"],
    ["create", "service", "nodeport", "n", "--tcp=80:8080"],
    ["create", "service", "clusterip", "headless", "--clusterip=None"],
    ["create", "service", "externalname", "en", "--external-name=x.example.com"],
    ["create", "job", "j", "--image=busybox", "--", "echo", "hi"],
    ["create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *"],
    ["create", "namespace", "ns1"],
    ["create", "serviceaccount", "sa1"],
    ["create", "role", "r", "--verb=get,list", "--resource=pods"],
    ["create", "rolebinding", "rb", "--role=r", "--user=alice", "--serviceaccount=default:sa1"],
    ["create", "clusterrole", "agg", "--aggregation-rule=a=b"],
    ["create", "clusterrole", "logs", "--verb=get", "--non-resource-url=/logs"],
    ["create", "clusterrolebinding", "crb", "--clusterrole=cr", "--group=g"],
    ["create", "quota", "q", "--hard=cpu=1,memory=1G,pods=2"],
    ["create", "priorityclass", "pc", "--value=1000", "--description=d", "--preemption-policy=Never"],
    ["create", "poddisruptionbudget", "pdb", "--selector=app=web", "--min-available=50%"],
    ["create", "poddisruptionbudget", "pdb2", "--selector=app=web", "--max-unavailable=1"],
    ["create", "ingress", "ing", "--rule=foo.com/bar*=svc:8080,tls=sec", "--class=nginx", "--annotation=a=b"],
    ["autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=80"],
]


@pytest.mark.parametrize("command", DRY_RUN_COMMANDS, ids=lambda c: " ".join(c[:3]))
def test_kubectl_body_matches_its_json_form(kubectl, command: list[str]) -> None:
    (kubectl.home / "blob.bin").write_bytes(b"a\xffb\x00")
    body = _one_protobuf(kubectl.writes(*command))
    split = command.index("--") if "--" in command else len(command)
    printed = kubectl(*command[:split], "-o", "json", "--dry-run=client", *command[split:])
    assert printed.returncode == 0, printed.stderr
    assert decode(body) == json.loads(printed.stdout)


def test_kubectl_create_token(kubectl) -> None:
    body = _one_protobuf(kubectl.writes("create", "token", "sa1", "--duration=10m", "--audience=x"))
    assert decode(body) == {
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        # boundObjectRef, token and expirationTimestamp have no omitempty in Go.
        "spec": {"audiences": ["x"], "expirationSeconds": 600, "boundObjectRef": None},
        "status": {"token": "", "expirationTimestamp": None},
    }


def test_kubectl_auth_can_i(kubectl) -> None:
    body = _one_protobuf(kubectl.writes("auth", "can-i", "list", "deployments.apps", "-n", "kube-system"))
    assert decode(body) == {
        "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"resourceAttributes": {"namespace": "kube-system", "verb": "list", "group": "apps",
                                        "resource": "deployments"}},
        "status": {"allowed": False},
    }


def test_kubectl_drain_delete_options(kubectl) -> None:
    writes = kubectl.writes("drain", "n1", "--disable-eviction", "--grace-period=5", "--timeout=5s")
    deletes = [w for w in writes if w[0] == "DELETE"]
    assert deletes and deletes[0][1] == "/api/v1/namespaces/default/pods/p1"
    assert decode(_one_protobuf(deletes[:1])) == {"kind": "DeleteOptions", "apiVersion": "v1",
                                                  "gracePeriodSeconds": 5}


# Hand-built messages, for what kubectl does not send.

def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def vi(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def ld(number: int, *parts: bytes | str) -> bytes:
    data = b"".join(p.encode() if isinstance(p, str) else p for p in parts)
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def f64(number: int, value: float) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", value)


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return protobuf.MAGIC + ld(1, ld(1, api_version), ld(2, kind)) + ld(2, raw) + ld(4, PROTOBUF)


def test_times_and_pointers() -> None:
    meta = ld(1, ld(1, "l1"), ld(8, vi(1, 1704164645), vi(2, 999)))  # Time drops the nanos
    spec = ld(2, ld(1, "me"), vi(2, 0), ld(3, vi(1, 1704164645), vi(2, 123456789)), ld(4, ""))
    assert decode(envelope("coordination.k8s.io/v1", "Lease", meta + spec)) == {
        "kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
        "metadata": {"name": "l1", "creationTimestamp": "2024-01-02T03:04:05Z"},
        # Pointers sent as zero values stay; MicroTime keeps microseconds.
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 0,
                 "acquireTime": "2024-01-02T03:04:05.123456Z", "renewTime": None},
    }


def test_omitempty_and_zero_values() -> None:
    container = ld(1, "c") + ld(2, "") + ld(8, "") + ld(13, "") + vi(16, 0)  # "" and false are omitted
    spec = ld(2, ld(3, ld(1, ld(1, "")), ld(2, ld(2, container), vi(25, -5))))  # template, priority -5
    assert decode(envelope("apps/v1", "Deployment", spec)) == {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"selector": None, "template": {"metadata": {"creationTimestamp": None},
                                                "spec": {"containers": [{"name": "c", "resources": {}}],
                                                         "priority": -5}},
                 "strategy": {}},
        "status": {},
    }


def test_maps_bytes_quantities_and_int_or_string() -> None:
    secret = ld(2, ld(1, "k"), ld(2, b"\x00\xff")) + ld(3, "Opaque")
    assert decode(envelope("v1", "Secret", secret))["data"] == {"k": "AP8="}
    quota = ld(2, ld(1, ld(1, "cpu"), ld(2, ld(1, "500m"))) + ld(1, ld(1, "pods"), ld(2, "")))
    assert decode(envelope("v1", "ResourceQuota", quota))["spec"] == {"hard": {"cpu": "500m", "pods": "0"}}
    ports = (ld(1, ld(1, "http"), vi(3, 80), ld(4, vi(1, 1), ld(3, "web"))) + ld(1, vi(3, 81), ld(4, vi(2, 8081)))
             + ld(1, ld(1, "unset")))
    assert decode(envelope("v1", "Service", ld(2, ports)))["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "web"}, {"port": 81, "targetPort": 8081},
        {"name": "unset", "port": 0, "targetPort": 0}]  # port has no omitempty; targetPort is a struct


def test_repeated_numbers_packed_or_not() -> None:
    unpacked = vi(4, 1) + vi(4, 2)
    packed = ld(4, _varint(1), _varint(2))
    for groups in (unpacked, packed):
        pod = ld(2, ld(14, groups))
        assert decode(envelope("v1", "Pod", pod))["spec"]["securityContext"] == {"supplementalGroups": [1, 2]}


def test_raw_extension_and_list_types() -> None:
    revision = ld(2, ld(1, b'{"spec":{"a":1}}')) + vi(3, 7)
    assert decode(envelope("apps/v1", "ControllerRevision", revision))["data"] == {"spec": {"a": 1}}
    review = ld(2, ld(5, ld(1, "groups"), ld(2, ld(1, "a"), ld(1, "b"))))
    assert decode(envelope("authorization.k8s.io/v1", "SubjectAccessReview", review))["spec"] == {
        "extra": {"groups": ["a", "b"]}}


def test_custom_resource_definition_schema() -> None:
    inner = ld(5, "integer") + f64(9, 5.0) + f64(11, 1.5)
    schema = (ld(5, "object") + ld(8, ld(1, b'{"x":1}')) + ld(29, ld(1, "n"), ld(2, inner))
              + ld(30, vi(1, 0)) + ld(24, ld(1, ld(5, "string"))) + vi(38, 1))
    version = ld(1, "v1") + vi(2, 1) + vi(3, 1) + ld(4, ld(1, schema))
    spec = ld(1, "example.com") + ld(3, ld(1, "things"), ld(4, "Thing")) + ld(4, "Namespaced") + ld(7, version)
    crd = decode(envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", ld(2, spec)))
    assert crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] == {
        "type": "object", "default": {"x": 1}, "items": {"type": "string"},
        "properties": {"n": {"type": "integer", "maximum": 5, "minimum": 1.5}},
        "additionalProperties": False, "x-kubernetes-preserve-unknown-fields": True}


@pytest.mark.parametrize(("body", "message"), [
    (b'{"kind":"Pod"}', "magic"),
    (envelope("example.com/v1", "Widget", b""), "Widget"),
    (envelope("v1", "NoSuchKind", b""), "NoSuchKind"),
    (envelope("v1", "Pod", ld(1, ld(1, "x"))[:-1]), "truncated"),
    (envelope("v1", "Pod", vi(1, 5)), "wire type"),
])
def test_errors(body: bytes, message: str) -> None:
    with pytest.raises(ProtobufError, match=message):
        decode(body)


def test_table_is_packaged() -> None:
    assert Path(protobuf.__file__).parent.parent.joinpath("api", "protobuf_fields.json").is_file()
