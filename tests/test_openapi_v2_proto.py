"""/openapi/v2 as gnostic protobuf: the document read back by a wire reader of our own, content negotiation,
and kubectl's client-side validation of `kind: List` (which always uses this document) with the real kubectl."""

from __future__ import annotations

import json
import struct

import pytest
import yaml

from controller_testing import http_client
from test_openapi import CRD, CRONTAB, crontab_kind
from timoneiro.api.builtin import builtin_registry
from timoneiro.api.openapi import OpenAPI
from timoneiro.api.openapi.v2proto import negotiate

PROTO_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"  # what client-go sends
PROTO_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"  # what kube-apiserver answers


def read_fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """Every (field number, value) of one protobuf message: varints as ints, fixed64 as 8 bytes, the rest as
    the length-delimited bytes; fails on anything that is not well-formed wire data."""
    fields, pos = [], 0

    def varint() -> int:
        nonlocal pos
        result = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return result

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            fields.append((number, varint()))
        elif wire == 1:
            fields.append((number, data[pos:pos + 8]))
            pos += 8
        elif wire == 2:
            length = varint()
            fields.append((number, data[pos:pos + length]))
            pos += length
        else:
            raise ValueError(f"unexpected wire type {wire}")
    assert pos == len(data), "message overruns its end"
    return fields


def field(data: bytes, number: int):
    values = [v for n, v in read_fields(data) if n == number]
    assert len(values) == 1, f"field {number}: {len(values)} values"
    return values[0]


def fields(data: bytes, number: int) -> list:
    return [v for n, v in read_fields(data) if n == number]


def named(data: bytes, number: int) -> dict[str, bytes]:
    """A repeated Named* field (name = 1, value = 2) as a dict, keeping the value's bytes."""
    return {field(entry, 1).decode(): field(entry, 2) for entry in fields(data, number)}


def any_yaml(any_message: bytes) -> object:
    """gnostic's Any keeps the value as YAML text in field 2."""
    return yaml.safe_load(field(any_message, 2).decode())


@pytest.fixture(scope="module")
def documents() -> tuple[dict, bytes]:
    openapi = OpenAPI(builtin_registry())
    return json.loads(openapi.v2()), openapi.v2_proto()


def test_document_top_level(documents):
    doc, proto = documents
    assert field(proto, 1) == b"2.0"
    info = field(proto, 2)
    assert field(info, 1) == b"Kubernetes" and field(info, 2).decode() == doc["info"]["version"]
    assert list(named(field(proto, 9), 1)) == list(doc["definitions"])
    assert list(named(field(proto, 8), 2)) == list(doc["paths"])
    security = named(field(proto, 13), 1)
    api_key = field(security["BearerToken"], 2)  # SecurityDefinitionsItem.api_key_security
    assert [field(api_key, n) for n in (1, 2, 3)] == [b"apiKey", b"authorization", b"header"]
    requirement = named(field(proto, 12), 1)
    assert requirement == {"BearerToken": b""}  # an empty StringArray


def test_definition_schema_and_vendor_extensions(documents):
    _, proto = documents
    definitions = named(field(proto, 9), 1)
    deployment = definitions["io.k8s.api.apps.v1.Deployment"]
    assert any_yaml(named(deployment, 31)["x-kubernetes-group-version-kind"]) == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert field(field(deployment, 22), 1) == b"object"  # TypeItem
    properties = named(field(deployment, 25), 1)
    assert list(properties) == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert field(properties["spec"], 1) == b"#/definitions/io.k8s.api.apps.v1.DeploymentSpec"

    pod_spec = named(field(definitions["io.k8s.api.core.v1.PodSpec"], 25), 1)
    containers = pod_spec["containers"]
    assert fields(definitions["io.k8s.api.core.v1.PodSpec"], 19) == [b"containers"]  # required
    items = field(field(containers, 23), 1)  # ItemsItem.schema[0]
    assert field(items, 1) == b"#/definitions/io.k8s.api.core.v1.Container"
    extensions = {name: any_yaml(value) for name, value in named(containers, 31).items()}
    assert extensions == {"x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map",
                          "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"}
    node_selector = pod_spec["nodeSelector"]
    additional = field(node_selector, 21)
    assert field(field(field(additional, 1), 22), 1) == b"string"  # AdditionalPropertiesItem.schema.type


def test_operation_parameters_and_responses(documents):
    _, proto = documents
    path = named(field(proto, 8), 2)["/api/v1/namespaces/{namespace}/configmaps/{name}"]
    shared = [field(field(item, 1), 2) for item in fields(path, 9)]  # ParametersItem.parameter.non_body
    kinds_and_names = [(kind, field(sub, 4)) for p in shared for kind, sub in read_fields(p)]
    assert kinds_and_names == [(4, b"name"), (4, b"namespace"), (3, b"pretty")]  # path, path, query
    put = field(path, 3)
    assert field(put, 5) == b"replaceCoreV1NamespacedConfigMap"
    assert any_yaml(named(put, 13)["x-kubernetes-action"]) == "put"
    body = field(field(fields(put, 8)[0], 1), 1)  # ParametersItem.parameter.body_parameter
    assert field(body, 2) == b"body" and field(body, 4) == 1
    assert field(field(body, 5), 1) == b"#/definitions/io.k8s.api.core.v1.ConfigMap"
    responses = named(field(put, 9), 1)
    assert list(responses) == ["200", "201", "401"]
    ok = field(responses["200"], 1)  # ResponseValue.response
    assert field(ok, 1) == b"OK"
    assert field(field(field(ok, 2), 1), 1) == b"#/definitions/io.k8s.api.core.v1.ConfigMap"


def test_protobuf_follows_registry_changes():
    registry = builtin_registry()
    openapi = OpenAPI(registry)
    before = openapi.v2_proto()
    assert openapi.v2_proto() is before
    registry.add(crontab_kind())
    definitions = named(field(openapi.v2_proto(), 9), 1)
    spec = named(field(named(field(definitions[CRONTAB], 25), 1)["spec"], 25), 1)
    replicas = read_fields(spec["replicas"])
    assert (9, struct.pack("<d", 1.0)) in replicas  # minimum, a double
    assert any_yaml(named(spec["template"], 31)["x-kubernetes-preserve-unknown-fields"]) is True


@pytest.mark.parametrize("accept, want", [
    (PROTO_ACCEPT, PROTO_TYPE),
    (PROTO_TYPE, PROTO_TYPE),
    ("", "application/json"),
    ("application/json", "application/json"),
    ("*/*", "application/json"),
    (f"application/json;q=0.5, {PROTO_ACCEPT}", PROTO_TYPE),
    (f"{PROTO_ACCEPT};q=0, application/json", "application/json"),
    ("text/html", None),
])
def test_negotiation(accept, want):
    assert negotiate(accept) == want


def test_served_by_accept_header(server):
    with http_client(server.admin) as http:
        proto = http.get("/openapi/v2", headers={"Accept": PROTO_ACCEPT})
        assert proto.status_code == 200 and proto.headers["content-type"] == PROTO_TYPE
        assert field(proto.content, 1) == b"2.0"
        plain = http.get("/openapi/v2", headers={"Accept": "application/json"})
        assert plain.headers["content-type"] == "application/json" and plain.json()["swagger"] == "2.0"
        assert http.get("/openapi/v2", headers={"Accept": "text/html"}).status_code == 406


CONFIGMAP_LIST = """apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: first, namespace: default}
  data: {a: "1"}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: second, namespace: default}
  data: {b: "2"}
"""


def test_kubectl_validates_lists(kubectl):
    kubectl.home.joinpath("list.yaml").write_text(CONFIGMAP_LIST)
    assert kubectl("create", "-f", "list.yaml") == "configmap/first created\nconfigmap/second created\n"
    listed = kubectl("get", "configmaps", "first", "second", "-o", "json")
    assert json.loads(listed)["kind"] == "List"
    assert kubectl("replace", "-f", "-", input=listed) == "configmap/first replaced\nconfigmap/second replaced\n"

    unknown = CONFIGMAP_LIST.replace("name: second", "name: third").replace('data: {b: "2"}', "bogus: 1")
    failed = kubectl.run("create", "-f", "-", input=unknown, check=False)
    assert failed.returncode == 1
    assert failed.stderr == (
        'error: error validating "STDIN": error validating data: ValidationError(ConfigMap): unknown field '
        '"bogus" in io.k8s.api.core.v1.ConfigMap; if you choose to ignore these errors, turn validation off '
        "with --validate=false\n")
    assert kubectl.run("get", "configmap", "third", check=False).returncode == 1  # nothing was created


def test_kubectl_validates_lists_of_custom_resources(kubectl):
    kubectl("apply", "-f", "-", input=yaml.safe_dump(CRD))
    kubectl("wait", "--for", "condition=established", "--timeout=30s", "crd/crontabs.stable.example.com")
    item = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "nightly"},
            "spec": {"cronSpec": "0 3 * * *", "replicas": 2}}
    listed = {"apiVersion": "v1", "kind": "List", "items": [item]}
    assert kubectl("apply", "-f", "-", input=json.dumps(listed)) == "crontab.stable.example.com/nightly created\n"
    item["spec"]["bogus"] = True
    failed = kubectl.run("apply", "-f", "-", input=json.dumps(listed), check=False)
    assert failed.returncode == 1
    assert 'ValidationError(CronTab.spec): unknown field "bogus" in com.example.stable.v1.CronTab.spec' in failed.stderr
