"""Pod Security Admission: namespace labels choose the level pods are held to; kubectl shows upstream's
refusals and warnings."""

from __future__ import annotations

import json

import pytest

from admission_testing import server_without_controllers
from timoneiro.apiserver.admission.podsecurity import PodSecurity
from timoneiro.apiserver.admission.podsecurity.admission import Configuration, Exemptions

RESTRICTED_MESSAGE = (
    'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
    'privileged (container "c" must not set securityContext.privileged=true), '
    'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), '
    'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
    'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
    'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
    '"Localhost")')
COMPLIANT_CONTEXT = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
                     "seccompProfile": {"type": "RuntimeDefault"}}


@pytest.fixture
def server(tmp_path):
    with server_without_controllers(tmp_path) as srv:
        yield srv


def pod(name: str = "p", namespace: str = "secure", image: str = "nginx", pod_context: dict | None = None,
        **container_fields) -> str:
    spec: dict = {"containers": [{"name": "c", "image": image, **container_fields}]}
    if pod_context:
        spec["securityContext"] = pod_context
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                       "spec": spec})


def namespace(kubectl, name: str, **labels: str) -> None:
    """A namespace with its default ServiceAccount (no controllers run here) and these PodSecurity labels."""
    kubectl("create", "namespace", name)
    kubectl("create", "serviceaccount", "default", "-n", name)
    if labels:
        kubectl("label", "namespace", name, *(f"pod-security.kubernetes.io/{k.replace('_', '-')}={v}"
                                               for k, v in labels.items()))


def test_enforce_refuses_a_privileged_pod_with_upstreams_message(kubectl):
    namespace(kubectl, "secure", enforce="restricted")
    refused = kubectl.run("apply", "-f", "-", input=pod(securityContext={"privileged": True}), check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == f'Error from server (Forbidden): error when creating "STDIN": {RESTRICTED_MESSAGE}'
    assert kubectl.run("get", "pod", "p", "-n", "secure", check=False).returncode == 1


def test_a_compliant_pod_is_admitted_without_warnings(kubectl):
    namespace(kubectl, "secure", enforce="restricted")
    done = kubectl.run("apply", "-f", "-", input=pod(securityContext=COMPLIANT_CONTEXT))
    assert done.stdout.strip() == "pod/p created"
    assert "Warning" not in done.stderr


def test_warn_admits_and_prints_upstreams_warning(kubectl):
    namespace(kubectl, "relaxed", warn="baseline")
    spec = json.loads(pod(namespace="relaxed", securityContext={"privileged": True}))
    spec["spec"]["hostNetwork"] = True
    done = kubectl.run("apply", "-f", "-", input=json.dumps(spec))
    assert done.stdout.strip() == "pod/p created"
    assert done.stderr.strip() == ('Warning: would violate PodSecurity "baseline:latest": host namespaces '
                                   '(hostNetwork=true), privileged (container "c" must not set '
                                   'securityContext.privileged=true)')


def test_a_deployment_whose_template_violates_gets_a_warning_only(kubectl):
    namespace(kubectl, "secure", enforce="restricted")
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "secure"},
                  "spec": {"selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{"name": "nginx", "image": "nginx",
                                                                 "ports": [{"containerPort": 80, "hostPort": 8080}]}]}}}}
    done = kubectl.run("apply", "-f", "-", input=json.dumps(deployment))
    assert done.stdout.strip() == "deployment.apps/web created"
    assert done.stderr.strip() == (
        'Warning: would violate PodSecurity "restricted:latest": hostPort (container "nginx" uses hostPort 8080), '
        'allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost")')


def test_bad_label_values_are_invalid(kubectl):
    kubectl("create", "namespace", "typo")
    refused = kubectl.run("label", "namespace", "typo", "pod-security.kubernetes.io/enforce=strict",
                          "pod-security.kubernetes.io/warn-version=1.30", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'The Namespace "typo" is invalid: \n'
        '* metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, '
        'baseline, restricted\n'
        '* metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "1.30": must be "latest" or "v1.x"')
    created = kubectl.run("create", "-f", "-", check=False, input=json.dumps({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "bad", "labels": {"pod-security.kubernetes.io/audit": "none"}}}))
    assert created.stderr.strip() == (
        'The Namespace "bad" is invalid: metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "none": '
        "must be one of privileged, baseline, restricted")


def test_a_stricter_enforce_label_warns_about_existing_pods(kubectl):
    namespace(kubectl, "busy")
    for name in ("b", "a"):
        kubectl("apply", "-f", "-", input=pod(name, "busy", securityContext={"privileged": True}))
    kubectl("apply", "-f", "-", input=pod("h", "busy", ports=[{"containerPort": 80, "hostPort": 80}]))
    kubectl("apply", "-f", "-", input=pod("ok", "busy"))
    done = kubectl.run("label", "namespace", "busy", "pod-security.kubernetes.io/enforce=baseline")
    assert done.stdout.strip() == "namespace/busy labeled"
    assert done.stderr.strip().splitlines() == [
        'Warning: existing pods in namespace "busy" violate the new PodSecurity enforce level "baseline:latest"',
        "Warning: a (and 1 other pod): privileged",
        "Warning: h: hostPort"]
    # the same level again, or a laxer one, checks nothing
    done = kubectl.run("label", "--overwrite", "namespace", "busy", "pod-security.kubernetes.io/enforce=privileged")
    assert "Warning" not in done.stderr


def test_versions_pin_the_checks_of_that_release(kubectl):
    """runAsUser=0 is a restricted violation from v1.23 on."""
    namespace(kubectl, "old", enforce="restricted", enforce_version="v1.22")
    namespace(kubectl, "new", enforce="restricted", enforce_version="v1.23")
    root = {**COMPLIANT_CONTEXT, "runAsUser": 0}
    assert kubectl("apply", "-f", "-", input=pod(namespace="old", securityContext=root)).strip() == "pod/p created"
    refused = kubectl.run("apply", "-f", "-", input=pod(namespace="new", securityContext=root), check=False)
    assert refused.stderr.strip().endswith(
        'pods "p" is forbidden: violates PodSecurity "restricted:v1.23": runAsUser=0 (container "c" must not set '
        "runAsUser=0)")


def test_pod_updates_are_checked_when_they_change_an_image(kubectl):
    namespace(kubectl, "upd")
    kubectl("apply", "-f", "-", input=pod(namespace="upd", securityContext={"privileged": True}))
    kubectl("label", "namespace", "upd", "pod-security.kubernetes.io/enforce=baseline")
    assert kubectl("label", "pod", "p", "-n", "upd", "x=y").strip() == "pod/p labeled"
    refused = kubectl.run("set", "image", "pod/p", "-n", "upd", "c=nginx:2", check=False)
    assert refused.returncode == 1
    assert 'pods "p" is forbidden: violates PodSecurity "baseline:latest": privileged' in refused.stderr


def test_exemptions_let_a_namespace_through_with_a_warning(server, kubectl):
    [plugin] = [v for v in server.api.generic.validators if isinstance(v, PodSecurity)]
    plugin.config = Configuration(exemptions=Exemptions(namespaces=frozenset({"infra"}),
                                                        runtime_classes=frozenset({"kata"})))
    namespace(kubectl, "infra")
    done = kubectl.run("label", "namespace", "infra", "pod-security.kubernetes.io/enforce=restricted")
    assert done.stderr.strip() == ('Warning: namespace "infra" is exempt from Pod Security, and the policy '
                                   '(enforce=restricted:latest) will be ignored')
    assert kubectl("apply", "-f", "-", input=pod(namespace="infra", securityContext={"privileged": True})).strip() \
        == "pod/p created"
    namespace(kubectl, "secure", enforce="restricted")
    kata = json.loads(pod(securityContext={"privileged": True}))
    kata["spec"]["runtimeClassName"] = "kata"
    assert kubectl("apply", "-f", "-", input=json.dumps(kata)).strip() == "pod/p created"


def test_every_baseline_check_is_named_in_upstreams_order(kubectl):
    namespace(kubectl, "base", enforce="baseline")
    spec = {"hostPID": True, "hostIPC": True, "volumes": [{"name": "h", "hostPath": {"path": "/etc"}}],
            "securityContext": {"seccompProfile": {"type": "Unconfined"},
                                "sysctls": [{"name": "vm.swappiness", "value": "1"}, {"name": "net.core.somaxconn", "value": "1"}]},
            "containers": [
                {"name": "a", "image": "nginx", "ports": [{"containerPort": 80, "hostPort": 8080}],
                 "securityContext": {"capabilities": {"add": ["NET_ADMIN", "CHOWN"]},
                                     "appArmorProfile": {"type": "Unconfined"},
                                     "seLinuxOptions": {"type": "bar", "user": "u"}}},
                {"name": "b", "image": "nginx", "ports": [{"containerPort": 80, "hostPort": 80}],
                 "securityContext": {"privileged": True}}]}
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "base"}, "spec": spec}
    refused = kubectl.run("create", "--dry-run=server", "-f", "-", input=json.dumps(manifest), check=False)
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": pods "p" is forbidden: violates PodSecurity '
        '"baseline:latest": forbidden AppArmor profile (container "a" must not set AppArmor profile type to '
        '"Unconfined"), non-default capabilities (container "a" must not include "NET_ADMIN" in '
        'securityContext.capabilities.add), host namespaces (hostPID=true, hostIPC=true), hostPath volumes '
        '(volume "h"), hostPort (containers "a", "b" use hostPorts 80, 8080), privileged (container "b" must not set '
        'securityContext.privileged=true), seLinuxOptions (container "a" set forbidden securityContext.seLinuxOptions: '
        'type "bar"; user may not be set), seccompProfile (pod must not set securityContext.seccompProfile.type to '
        '"Unconfined"), forbidden sysctls (vm.swappiness, net.core.somaxconn)')
