"""/openapi/v2 and /openapi/v3: shapes kubectl relies on, custom resources, caching and hashes."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from timoneiro.api.builtin import builtin_registry
from timoneiro.api.kinds import Kind
from timoneiro.api.openapi import OpenAPI

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.stable.example.com"},
    "spec": {
        "group": "stable.example.com", "scope": "Namespaced",
        "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "listKind": "CronTabList"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                      "statusReplicasPath": ".status.replicas"}},
            "schema": {"openAPIV3Schema": {"type": "object", "description": "A periodic job.", "properties": {
                "spec": {"type": "object", "required": ["cronSpec"], "properties": {
                    "cronSpec": {"type": "string", "description": "When to run."},
                    "replicas": {"type": "integer", "minimum": 1, "default": 1},
                    "port": {"x-kubernetes-int-or-string": True},
                    "note": {"type": "string", "nullable": True},
                    "choice": {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
                               "properties": {"a": {"type": "string"}, "b": {"type": "string"}}},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                                 "x-kubernetes-preserve-unknown-fields": True},
                }},
            }}},
        }],
    },
}
CRONTAB = "com.example.stable.v1.CronTab"


def crontab_kind(crd: dict = CRD) -> Kind:
    return Kind("stable.example.com", "v1", "CronTab", "crontabs", subresources=("status", "scale"), crd=crd)


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    return OpenAPI(builtin_registry())


@pytest.fixture(scope="module")
def v2(openapi: OpenAPI) -> dict:
    return json.loads(openapi.v2())


def all_refs(node) -> list[str]:
    if isinstance(node, dict):
        own = [v for k, v in node.items() if k == "$ref" and isinstance(v, str)]  # JSONSchemaProps has a "$ref" field
        return own + [r for v in node.values() for r in all_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in all_refs(v)]
    return []


def test_v2_document_shape(v2: dict):
    assert v2["swagger"] == "2.0"
    assert v2["info"] == {"title": "Kubernetes", "version": "v1.32.0"}
    for ref in all_refs(v2):
        assert ref.startswith("#/definitions/") and ref.removeprefix("#/definitions/") in v2["definitions"]
    text = json.dumps(v2)
    assert "$defs" not in text and '"null"' not in text


def test_v2_definitions_match_upstream_shapes(v2: dict):
    defs = v2["definitions"]
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"] == "string"
    assert defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"] == "string"
    deployment = defs["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert deployment["properties"]["apiVersion"] == {"description": deployment["properties"]["apiVersion"]["description"],
                                                      "type": "string"}
    assert deployment["properties"]["spec"]["$ref"] == "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    replicas = defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"]
    assert replicas["type"] == "integer" and replicas["format"] == "int32"
    containers = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name" and containers["x-kubernetes-patch-strategy"] == "merge"


def test_v2_paths_carry_actions_and_kinds(v2: dict):
    item = v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert [p["name"] for p in item["parameters"]] == ["name", "namespace", "pretty"]
    patch = item["patch"]
    assert patch["operationId"] == "patchAppsV1NamespacedDeployment"
    assert patch["x-kubernetes-action"] == "patch" and patch["tags"] == ["apps_v1"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment", "version": "v1"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert v2["paths"]["/api/v1/pods"]["get"]["operationId"] == "listCoreV1PodForAllNamespaces"
    assert v2["paths"]["/api/v1/namespaces/{namespace}/pods"]["delete"]["operationId"] == \
        "deleteCoreV1CollectionNamespacedPod"
    assert v2["paths"]["/apis/rbac.authorization.k8s.io/v1/clusterroles"]["get"]["tags"] == ["rbacAuthorization_v1"]
    scale = v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["get"]
    assert scale["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "kind": "Scale", "version": "v1"}
    binding = v2["paths"]["/api/v1/namespaces/{namespace}/bindings"]
    assert list(binding) == ["parameters", "post"]


def test_v3_index(openapi: OpenAPI):
    index = json.loads(openapi.v3_index())["paths"]
    for key in ("api", "api/v1", "apis", "apis/apps", "apis/apps/v1", "apis/batch/v1", "version"):
        assert re.fullmatch(rf"/openapi/v3/{re.escape(key)}\?hash=[0-9A-F]{{128}}", index[key]["serverRelativeURL"])
    assert openapi.v3_group_version("apis/nope/v1") is None
    assert openapi.v3_group_version("/api/v1") == openapi.v3_group_version("api/v1")


def test_v3_group_version_document(openapi: OpenAPI):
    doc = json.loads(openapi.v3_group_version("apis/apps/v1"))
    assert doc["openapi"] == "3.0.0" and doc["info"]["title"] == "Kubernetes"
    schemas = doc["components"]["schemas"]
    for ref in all_refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.removeprefix("#/components/schemas/") in schemas
    kinds = {g["kind"] for s in schemas.values() for g in s.get("x-kubernetes-group-version-kind", [])
             if g["group"] == "apps"}
    assert {"Deployment", "DeploymentList", "StatefulSet", "DaemonSet", "ReplicaSet"} <= kinds
    assert "io.k8s.api.batch.v1.Job" not in schemas
    spec = schemas["io.k8s.api.apps.v1.Deployment"]["properties"]["spec"]
    assert spec["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}]
    assert "description" in spec and "$ref" not in spec
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["oneOf"] == [{"type": "integer"},
                                                                                  {"type": "string"}]
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert {p["name"] for p in patch["parameters"]} == {"dryRun", "fieldManager", "fieldValidation", "force"}
    assert set(patch["requestBody"]["content"]) >= {"application/apply-patch+yaml", "application/merge-patch+json"}
    assert patch["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/io.k8s.api.apps.v1.Deployment"}


def test_documents_are_cached_until_kinds_change():
    registry = builtin_registry()
    openapi = OpenAPI(registry)
    v2, index, core = openapi.v2(), openapi.v3_index(), openapi.v3_group_version("api/v1")
    assert openapi.v2() is v2 and openapi.v3_index() is index and openapi.v3_group_version("api/v1") is core
    registry.add(crontab_kind())
    assert openapi.v2() is not v2 and openapi.v3_index() != index
    assert openapi.v3_group_version("api/v1") == core


def test_custom_resource_in_v3_and_hash_changes():
    registry = builtin_registry()
    openapi = OpenAPI(registry)
    assert openapi.v3_group_version("apis/stable.example.com/v1") is None
    before = json.loads(openapi.v3_index())["paths"]
    registry.add(crontab_kind())
    after = json.loads(openapi.v3_index())["paths"]
    assert set(after) - set(before) == {"apis/stable.example.com", "apis/stable.example.com/v1"}
    assert after["api/v1"] == before["api/v1"]
    doc = json.loads(openapi.v3_group_version("apis/stable.example.com/v1"))
    schemas = doc["components"]["schemas"]
    crontab = schemas[CRONTAB]
    assert crontab["x-kubernetes-group-version-kind"] == [{"group": "stable.example.com", "kind": "CronTab",
                                                           "version": "v1"}]
    props = crontab["properties"]
    assert props["metadata"]["allOf"] == [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    assert props["apiVersion"]["type"] == "string" and props["kind"]["type"] == "string"
    spec = props["spec"]["properties"]
    assert spec["replicas"] == {"default": 1, "minimum": 1, "type": "integer"}
    assert spec["port"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert spec["note"]["nullable"] is True and "oneOf" in spec["choice"]
    assert set(spec["template"]["properties"]) == {"apiVersion", "kind", "metadata"}
    assert schemas[CRONTAB + "List"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/" + CRONTAB}
    for ref in all_refs(doc):
        assert ref.removeprefix("#/components/schemas/") in schemas
    patch = doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"]
    assert patch["operationId"] == "patchStableExampleComV1NamespacedCronTab"
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale" in doc["paths"]

    changed = json.loads(json.dumps(CRD))
    changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["extra"] = {
        "type": "string"}
    registry.add(crontab_kind(changed))
    again = json.loads(openapi.v3_index())["paths"]
    assert again["apis/stable.example.com/v1"] != after["apis/stable.example.com/v1"]
    assert again["apis/apps/v1"] == after["apis/apps/v1"]


def test_custom_resource_in_v2_is_simplified_for_kubectl():
    registry = builtin_registry()
    registry.add(crontab_kind())
    v2 = json.loads(OpenAPI(registry).v2())
    crontab = v2["definitions"][CRONTAB]
    spec = crontab["properties"]["spec"]["properties"]
    assert spec["replicas"] == {"minimum": 1, "type": "integer"}  # v2 drops defaults
    assert spec["note"] == {} and "oneOf" not in spec["choice"]  # and nullable types, and junctors
    assert spec["template"] == {"x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True}
    assert crontab["properties"]["metadata"]["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert v2["definitions"][CRONTAB + "List"]["x-kubernetes-group-version-kind"][0]["kind"] == "CronTabList"


def test_kubectl_explain(kubectl):
    out = kubectl("explain", "deployment.spec.replicas")
    assert "KIND:       Deployment" in out and "FIELD: replicas <integer>" in out
    assert "Number of desired pods" in out
    kubectl("apply", "-f", "-", input=yaml.safe_dump(CRD))
    kubectl("wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=30s")
    out = kubectl("explain", "crontabs.spec.cronSpec")
    assert "KIND:       CronTab" in out and "FIELD: cronSpec <string>" in out and "When to run." in out
