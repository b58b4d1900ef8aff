"""Priority and DefaultTolerationSeconds admission: what a new pod gets from its PriorityClass, and the
not-ready and unreachable tolerations every pod gets."""

from __future__ import annotations

import json

import pytest

from admission_testing import server_without_controllers


@pytest.fixture
def server(tmp_path):
    with server_without_controllers(tmp_path, "default", "kube-system") as srv:
        yield srv


def pod(name: str = "p", **spec) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}})


def priority_class(name: str, value: int, **fields) -> str:
    return json.dumps({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                       "value": value, **fields})


def test_the_system_classes_exist_from_the_start(kubectl):
    classes = {pc["metadata"]["name"]: pc for pc in kubectl.json("get", "priorityclasses")["items"]}
    assert {n: (pc["value"], pc["preemptionPolicy"], pc.get("globalDefault", False), pc["description"])
            for n, pc in classes.items()} == {
        "system-node-critical": (2000001000, "PreemptLowerPriority", False,
                                 "Used for system critical pods that must not be moved from their current node."),
        "system-cluster-critical": (2000000000, "PreemptLowerPriority", False,
                                    "Used for system critical pods that must run in the cluster, but can be moved "
                                    "to another node if necessary.")}
    critical = json.loads(kubectl("create", "-f", "-", "-o", "json", "-n", "kube-system",
                                  input=pod(priorityClassName="system-node-critical")))
    assert critical["spec"]["priority"] == 2000001000


def test_a_named_class_sets_priority_and_preemption_policy(kubectl):
    kubectl("create", "-f", "-", input=priority_class("batch", 1000, preemptionPolicy="Never"))
    created = json.loads(kubectl("create", "-f", "-", "-o", "json", input=pod(priorityClassName="batch")))
    assert (created["spec"]["priority"], created["spec"]["preemptionPolicy"]) == (1000, "Never")
    # an update that leaves them out keeps them
    created["metadata"]["labels"] = {"x": "y"}
    del created["spec"]["priority"], created["spec"]["preemptionPolicy"]
    replaced = json.loads(kubectl("replace", "-f", "-", "-o", "json", input=json.dumps(created)))
    assert (replaced["spec"]["priority"], replaced["spec"]["preemptionPolicy"]) == (1000, "Never")


def test_an_unknown_class_is_refused(kubectl):
    refused = kubectl.run("apply", "-f", "-", input=pod(priorityClassName="gold"), check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == ('Error from server (Forbidden): error when creating "STDIN": pods "p" is '
                                      "forbidden: no PriorityClass with name gold was found")


def test_a_priority_other_than_the_classs_is_refused(kubectl):
    kubectl("create", "-f", "-", input=priority_class("batch", 1000))
    refused = kubectl.run("create", "-f", "-", input=pod(priorityClassName="batch", priority=5), check=False)
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": pods "p" is forbidden: the integer value of '
        "priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given "
        "PriorityClass name")
    refused = kubectl.run("create", "-f", "-", input=pod(priorityClassName="batch", preemptionPolicy="Never"),
                          check=False)
    assert refused.stderr.strip().endswith(
        "the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission "
        "controller computed PreemptLowerPriority from the given PriorityClass name")
    assert kubectl("create", "-f", "-", input=pod(priorityClassName="batch", priority=1000)).strip() == \
        "pod/p created"


def test_the_global_default_class_applies_to_pods_that_name_none(kubectl):
    plain = json.loads(kubectl("create", "-f", "-", "-o", "json", input=pod("before")))
    assert (plain["spec"]["priority"], plain["spec"]["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert "priorityClassName" not in plain["spec"]
    kubectl("create", "-f", "-", input=priority_class("everyone", 10, globalDefault=True))
    refused = kubectl.run("create", "-f", "-", input=priority_class("another", 20, globalDefault=True), check=False)
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": priorityclasses.scheduling.k8s.io "another" is '
        "forbidden: PriorityClass everyone is already marked as default. Only one default can exist")
    defaulted = json.loads(kubectl("create", "-f", "-", "-o", "json", input=pod("after")))
    assert (defaulted["spec"]["priorityClassName"], defaulted["spec"]["priority"]) == ("everyone", 10)
    kubectl("annotate", "priorityclass", "everyone", "note=still the default")


def test_pods_tolerate_not_ready_and_unreachable_nodes_for_five_minutes(kubectl):
    created = json.loads(kubectl("create", "-f", "-", "-o", "json", input=pod()))
    assert created["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}]
    own = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
            "tolerationSeconds": 30}]
    created = json.loads(kubectl("create", "-f", "-", "-o", "json", input=pod("q", tolerations=own)))
    assert created["spec"]["tolerations"] == [
        *own, {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
               "tolerationSeconds": 300}]
    everything = json.loads(kubectl("create", "-f", "-", "-o", "json",
                                    input=pod("r", tolerations=[{"operator": "Exists"}])))
    assert everything["spec"]["tolerations"] == [{"operator": "Exists"}]
