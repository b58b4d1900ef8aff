"""CRD x-kubernetes-validations through real kubectl and the official Python client: rules with message,
messageExpression, fieldPath and reason refuse invalid custom objects with upstream's field errors, a
transition rule compares with oldSelf on updates only, and schema errors keep the rules from running."""

from __future__ import annotations

import json

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from controller_testing import eventually
from test_python_client import api_client

SPEC_SCHEMA = {
    "type": "object",
    "x-kubernetes-validations": [
        {"rule": "self.minReplicas <= self.replicas",
         "message": "replicas should be greater than or equal to minReplicas."},
        {"rule": "self.replicas <= 10", "fieldPath": ".replicas",
         "messageExpression": "'must be at most 10, got ' + string(self.replicas)"},
        {"rule": "!has(self.owner) || self.owner.startsWith('team-')", "reason": "FieldValueForbidden",
         "fieldPath": ".owner", "message": "owners are teams"},
    ],
    "properties": {
        "replicas": {"type": "integer"},
        "minReplicas": {"type": "integer", "default": 0},
        "owner": {"type": "string"},
        "ratio": {"type": "number", "x-kubernetes-validations": [{"rule": "self < 1.5"}]},
        "mode": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf",
                                                                  "message": "Value is immutable"}]},
        "tags": {"type": "array", "items": {"type": "string"},
                 "x-kubernetes-validations": [{"rule": "self.all(t, t.lowerAscii() == t)",
                                               "message": "tags are lower case"}]},
    },
}
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": SPEC_SCHEMA}}}}]},
}


def widget(name: str, **spec) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


def apply(kubectl, obj: dict):
    return kubectl.run("apply", "-f", "-", input=yaml.safe_dump(obj), check=False)


@pytest.fixture
def widgets(kubectl, api):
    kubectl("apply", "-f", "-", input=yaml.safe_dump(CRD))
    eventually(lambda: api.exists("/apis/example.com/v1/namespaces/default/widgets"))


def test_rules_refuse_invalid_objects_with_upstreams_field_errors(kubectl, widgets):
    answer = apply(kubectl, widget("w", replicas=3, minReplicas=5))
    assert answer.stderr.strip() == ('The Widget "w" is invalid: spec: Invalid value: "object": replicas should be '
                                     "greater than or equal to minReplicas.")
    answer = apply(kubectl, widget("w", replicas=12, owner="bob", tags=["Big"]))
    assert answer.stderr.strip().splitlines() == [
        'The Widget "w" is invalid: ',
        '* spec.replicas: Invalid value: "object": must be at most 10, got 12',
        "* spec.owner: Forbidden: owners are teams",
        '* spec.tags: Invalid value: "array": tags are lower case']
    answer = apply(kubectl, widget("w", replicas=2, ratio=2))
    assert answer.stderr.strip() == 'The Widget "w" is invalid: spec.ratio: Invalid value: "number": failed rule: self < 1.5'
    assert "created" in apply(kubectl, widget("w", replicas=2, owner="team-a", ratio=1, tags=["small"])).stdout


def test_a_transition_rule_compares_with_the_old_value(kubectl, widgets):
    assert "created" in apply(kubectl, widget("w", replicas=1, mode="fast")).stdout  # no oldSelf on create
    answer = apply(kubectl, widget("w", replicas=1, mode="slow"))
    assert answer.stderr.strip() == 'The Widget "w" is invalid: spec.mode: Invalid value: "string": Value is immutable'
    assert "configured" in apply(kubectl, widget("w", replicas=2, mode="fast")).stdout


def test_schema_errors_keep_the_rules_from_running(kubectl, widgets):
    answer = apply(kubectl, widget("w", replicas="many", minReplicas=20))
    assert answer.stderr.strip().splitlines() == [
        'The Widget "w" is invalid: ',
        '* spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"',
        '* <nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; '
        "correct the existing errors to complete validation"]


def test_the_status_the_python_client_sees(server, widgets):
    with api_client(server) as c, pytest.raises(ApiException) as refused:
        client.CustomObjectsApi(c).create_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", widget("w", replicas=30))
    assert refused.value.status == 422
    status = json.loads(refused.value.body)
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                            "message": 'Invalid value: "object": must be at most 10, got 30'}]
