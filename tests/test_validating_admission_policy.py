"""ValidatingAdmissionPolicy (CEL) in the admission chain, through real kubectl and the official Python
client: the upstream docs' demo policy, the Deny and Warn actions, params from a ConfigMap, variables,
match conditions, reasons and the authorizer library, with upstream's messages and status codes."""

from __future__ import annotations

import json

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from test_python_client import api_client

POLICY = "demo-policy.example.com"
BINDING = "demo-binding-test.example.com"
DENIED = (f"ValidatingAdmissionPolicy '{POLICY}' with binding '{BINDING}' denied request: "
          "failed expression: object.spec.replicas <= 5")
DEPLOYMENT_RULES = [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                     "resources": ["deployments"]}]


def policy(name: str = POLICY, **spec) -> dict:
    spec.setdefault("validations", [{"expression": "object.spec.replicas <= 5"}])
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": DEPLOYMENT_RULES}, **spec}}


def binding(name: str = BINDING, policy_name: str = POLICY, actions: tuple[str, ...] = ("Deny",), **spec) -> dict:
    spec.setdefault("matchResources", {"namespaceSelector": {"matchLabels": {"environment": "test"}}})
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name}, "spec": {"policyName": policy_name, "validationActions": list(actions), **spec}}


def apply(kubectl, *objects: dict) -> None:
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def deployment(name: str, replicas: int, namespace: str = "test", image: str = "nginx") -> str:
    labels = {"app": name}
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": image}]}}}})


@pytest.fixture
def test_namespace(kubectl):
    kubectl("create", "namespace", "test")
    kubectl("label", "namespace", "test", "environment=test")
    kubectl("create", "namespace", "prod")


def test_the_demo_policy_denies_six_replicas_with_upstreams_message(kubectl, test_namespace):
    apply(kubectl, policy(), binding())
    answer = kubectl.run("create", "deployment", "nginx", "--image=nginx", "--replicas=6", "-n", "test", check=False)
    assert answer.returncode == 1
    assert answer.stderr.strip() == f'error: failed to create deployment: deployments.apps "nginx" is forbidden: {DENIED}'
    answer = kubectl.run("apply", "-f", "-", input=deployment("nginx", 6), check=False)
    assert answer.stderr.strip() == f'The deployments "nginx" is invalid: : {DENIED}'
    assert "created" in kubectl("apply", "-f", "-", input=deployment("nginx", 5))
    answer = kubectl.run("patch", "deployment", "nginx", "-n", "test", "-p", '{"spec":{"replicas":7}}', check=False)
    assert answer.stderr.strip() == f'The deployments "nginx" is invalid: : {DENIED}'  # updates too
    assert "scaled" in kubectl("scale", "deployment", "nginx", "--replicas=7", "-n", "test")  # deployments/scale
    assert "created" in kubectl("apply", "-f", "-", input=deployment("big", 9, namespace="prod"))  # not selected


def test_the_denial_status_through_the_python_client(server, kubectl, test_namespace):
    apply(kubectl, policy(), binding())
    with api_client(server) as c, pytest.raises(ApiException) as refused:
        client.AppsV1Api(c).create_namespaced_deployment("test", yaml.safe_load(deployment("nginx", 6)))
    assert refused.value.status == 422
    status = json.loads(refused.value.body)
    assert status["reason"] == "Invalid"
    assert status["message"] == f'deployments.apps "nginx" is forbidden: {DENIED}'
    assert status["details"] == {"name": "nginx", "group": "apps", "kind": "deployments",
                                 "causes": [{"message": DENIED}]}


def test_warn_shows_kubectls_warning_line_and_admits(kubectl, test_namespace):
    apply(kubectl, policy(), binding(actions=("Warn",)))
    answer = kubectl.run("apply", "-f", "-", input=deployment("nginx", 6))
    assert answer.stderr.strip() == (f"Warning: Validation failed for ValidatingAdmissionPolicy '{POLICY}' with binding "
                                     f"'{BINDING}': failed expression: object.spec.replicas <= 5")
    assert kubectl.json("get", "deployment", "nginx", "-n", "test")["spec"]["replicas"] == 6


def test_params_from_a_config_map(kubectl, test_namespace):
    with_params = policy(
        paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
        validations=[{"expression": "object.spec.replicas <= int(params.data.maxReplicas)",
                      "messageExpression": "'replicas must be no greater than ' + params.data.maxReplicas"}])
    ref = {"name": "limits", "namespace": "default", "parameterNotFoundAction": "Deny"}
    apply(kubectl, with_params, binding(paramRef=ref))
    answer = kubectl.run("apply", "-f", "-", input=deployment("nginx", 4), check=False)
    assert answer.stderr.strip() == (
        f'The deployments "nginx" is invalid: : ValidatingAdmissionPolicy \'{POLICY}\' with binding \'{BINDING}\' '
        "denied request: failed to configure binding: no params found for policy binding with `Deny` "
        "parameterNotFoundAction")
    kubectl("create", "configmap", "limits", "-n", "default", "--from-literal=maxReplicas=3")
    answer = kubectl.run("apply", "-f", "-", input=deployment("nginx", 4), check=False)
    assert answer.stderr.strip() == (f'The deployments "nginx" is invalid: : ValidatingAdmissionPolicy \'{POLICY}\' '
                                     f"with binding '{BINDING}' denied request: replicas must be no greater than 3")
    kubectl("patch", "configmap", "limits", "-n", "default", "-p", '{"data":{"maxReplicas":"10"}}')
    assert "created" in kubectl("apply", "-f", "-", input=deployment("nginx", 4))
    ref["parameterNotFoundAction"] = "Allow"
    ref["name"] = "missing"
    apply(kubectl, binding(paramRef=ref))
    assert "configured" in kubectl("apply", "-f", "-", input=deployment("nginx", 20))


def test_variables_match_conditions_and_a_forbidden_reason(kubectl, test_namespace):
    apply(kubectl, policy(
        matchConditions=[{"name": "not-exempt", "expression": "object.metadata.name != 'exempt'"}],
        variables=[{"name": "image", "expression": "object.spec.template.spec.containers[0].image"},
                   {"name": "tagged", "expression": "variables.image.contains(':')"}],
        validations=[{"expression": "variables.tagged", "reason": "Forbidden",
                      "message": "images must name a tag"}]), binding())
    answer = kubectl.run("apply", "-f", "-", input=deployment("web", 1), check=False)
    assert answer.stderr.strip() == (f'Error from server (Forbidden): error when creating "STDIN": deployments.apps '
                                     f'"web" is forbidden: '
                                     f"ValidatingAdmissionPolicy '{POLICY}' with binding '{BINDING}' denied request: "
                                     "images must name a tag")
    assert "created" in kubectl("create", "deployment", "web", "--image=nginx:1.27", "-n", "test")
    assert "created" in kubectl("create", "deployment", "exempt", "--image=nginx", "-n", "test")


def test_an_expression_error_under_each_failure_policy(kubectl, test_namespace):
    broken = [{"expression": "object.spec.missing > 1"}]
    apply(kubectl, policy(validations=broken), binding())
    answer = kubectl.run("create", "deployment", "web", "--image=nginx", "-n", "test", check=False)
    assert answer.stderr.strip().endswith(
        f"ValidatingAdmissionPolicy '{POLICY}' with binding '{BINDING}' denied request: "
        "expression 'object.spec.missing > 1' resulted in error: no such key: missing")
    apply(kubectl, policy(validations=broken, failurePolicy="Ignore"))
    assert "created" in kubectl("create", "deployment", "web", "--image=nginx", "-n", "test")


def test_the_authorizer_library_asks_rbac(kubectl, test_namespace):
    """A service account with no role may not create deployments; the admin may."""
    apply(kubectl, policy(validations=[
        {"expression": "authorizer.group('apps').resource('deployments').namespace('test').check('create').allowed()",
         "message": "the requester may not create deployments"},
        {"expression": "!authorizer.serviceAccount('test', 'nobody').group('apps').resource('deployments')"
                       ".namespace('test').check('create').allowed()",
         "message": "nobody is allowed"},
        {"expression": "authorizer.requestResource.check('create').allowed() && request.operation == 'CREATE'"
                       " && request.namespace == 'test' && request.kind.kind == 'Deployment'",
         "message": "the request is not as expected"}]), binding())
    assert "created" in kubectl("create", "deployment", "web", "--image=nginx", "-n", "test")


def test_policies_are_listed_with_their_defaults(kubectl):
    apply(kubectl, policy(), binding(paramRef={"name": "x"}))
    got = kubectl.json("get", "validatingadmissionpolicy", POLICY)
    assert got["spec"]["matchConstraints"]["matchPolicy"] == "Equivalent"
    assert got["spec"]["matchConstraints"]["resourceRules"][0]["scope"] == "*"
    assert got["metadata"]["generation"] == 1
    got = kubectl.json("get", "validatingadmissionpolicybinding", BINDING)
    assert got["spec"]["paramRef"]["parameterNotFoundAction"] == "Deny"
