"""Server-side apply and managedFields, checked against what kube-apiserver v1.32 records and answers."""

from __future__ import annotations

import copy
import json

import pytest

from timoneiro.api import schema as sch
from timoneiro.apiserver.errors import APIError
from timoneiro.apiserver.fieldpath import (
    decode_fields,
    encode_fields,
    key_token,
    recursive_difference,
    render_path,
    sorted_paths,
)
from timoneiro.apiserver.managedfields import (
    ApplyConflict,
    apply,
    manager_from_user_agent,
    update_managed_fields,
)
from timoneiro.apiserver.structuredmerge import field_set, merge, root_type

DEPLOYMENT = sch.for_kind("apps", "v1", "Deployment")
CONFIGMAP = sch.for_kind("", "v1", "ConfigMap")
T0, T1, T2 = "2024-05-01T10:00:00Z", "2024-05-01T10:05:00Z", "2024-05-01T10:10:00Z"


def deployment(replicas: int = 1, labels: dict | None = None, image: str = "nginx:1.25") -> dict:
    """A Deployment as the API server holds it once defaulted."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": labels or {"app": "web"}},
        "spec": {
            "replicas": replicas, "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": image, "imagePullPolicy": "IfNotPresent",
                                         "ports": [{"containerPort": 80, "protocol": "TCP"}], "resources": {}}],
                         "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "securityContext": {}},
            },
        },
    }


def applied_deployment(replicas: int | None = 2, labels: dict | None = None, image: str = "nginx:1.25") -> dict:
    """What a user applies: no defaults, container port without its protocol."""
    spec: dict = {"selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "nginx", "image": image,
                                                        "ports": [{"containerPort": 80}]}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": labels or {"app": "web"}}, "spec": spec}


def entries(obj: dict) -> dict[tuple[str, str], dict]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def owned(obj: dict, manager: str, operation: str) -> set[str]:
    """The fields an entry owns, as upstream prints paths."""
    return {render_path(p) for p in decode_fields(entries(obj)[(manager, operation)]["fieldsV1"])}


# --- field sets -------------------------------------------------------------------------------------------


def test_field_set_of_a_deployment_in_fieldsv1() -> None:
    fields = encode_fields(field_set(applied_deployment(), root_type(DEPLOYMENT)))
    assert fields == {
        "f:apiVersion": {}, "f:kind": {},
        "f:metadata": {"f:labels": {"f:app": {}}, "f:name": {}, "f:namespace": {}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},  # a LabelSelector is an atomic map
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"nginx"}': {
                    ".": {}, "f:image": {}, "f:name": {},
                    # the port's protocol is a list-map key that defaults to TCP
                    "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                }}},
            },
        },
    }
    assert decode_fields(fields) == field_set(applied_deployment(), root_type(DEPLOYMENT))


def test_set_lists_atomic_lists_and_sorted_keys() -> None:
    t = root_type(sch.for_kind("", "v1", "Pod"))
    pod = {"metadata": {"finalizers": ["b", "a"]},
           "spec": {"tolerations": [{"key": "k"}], "topologySpreadConstraints": [
               {"whenUnsatisfiable": "DoNotSchedule", "topologyKey": "zone", "maxSkew": 1}]}}
    fields = encode_fields(field_set(pod, t))
    assert list(fields["f:metadata"]["f:finalizers"]) == ['v:"a"', 'v:"b"']
    assert fields["f:spec"]["f:tolerations"] == {}
    assert list(fields["f:spec"]["f:topologySpreadConstraints"]) == [
        'k:{"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}']
    assert key_token({"b": "<&>", "a": 1}) == 'k:{"a":1,"b":"\\u003c\\u0026\\u003e"}'
    ports = {"spec": {"containers": [{"name": "b", "ports": [{"containerPort": 443}, {"containerPort": 80}]},
                                     {"name": "a"}]}}
    containers = encode_fields(field_set(ports, t))["f:spec"]["f:containers"]
    assert list(containers) == ['k:{"name":"a"}', 'k:{"name":"b"}']
    assert list(containers['k:{"name":"b"}']["f:ports"]) == [  # keys compare as values: 80 < 443
        'k:{"containerPort":80,"protocol":"TCP"}', 'k:{"containerPort":443,"protocol":"TCP"}']


def test_set_operations_and_paths() -> None:
    a = decode_fields({"f:spec": {".": {}, "f:replicas": {}, "f:paused": {}}})
    b = decode_fields({"f:spec": {"f:replicas": {}}})
    assert {render_path(p) for p in a - b} == {".spec", ".spec.paused"}
    assert {render_path(p) for p in a & b} == {".spec.replicas"}
    assert a | b == a
    assert recursive_difference(a, {("f:spec",)}) == set()
    assert [render_path(p) for p in sorted_paths(a)] == [".spec", ".spec.paused", ".spec.replicas"]
    assert render_path(("f:spec", 'k:{"containerPort":80,"protocol":"TCP"}', 'v:"x"')) == \
        '.spec[containerPort=80,protocol="TCP"][="x"]'
    with pytest.raises(ValueError):
        decode_fields({"f:spec": {"k:[1]": {}}})


def test_merge_keeps_live_items_and_applied_order() -> None:
    t = root_type(DEPLOYMENT)
    live = {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:1"},
                                                          {"name": "b", "image": "b:1"}]}}}}
    config = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "c:1"},
                                                            {"name": "a", "image": "a:2"}]}}}}
    merged = merge(live, config, t)
    assert merged["spec"]["template"]["spec"]["containers"] == [
        {"name": "c", "image": "c:1"}, {"name": "a", "image": "a:2"}, {"name": "b", "image": "b:1"}]


# --- managedFields on create and update -------------------------------------------------------------------


def test_create_then_update_by_another_manager() -> None:
    obj = deployment()
    update_managed_fields(obj, None, "kubectl-create", "apps/v1", DEPLOYMENT, now=T0)
    [entry] = obj["metadata"]["managedFields"]
    assert {k: v for k, v in entry.items() if k != "fieldsV1"} == {
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
        "fieldsType": "FieldsV1"}
    # as kube-apiserver records a create: nodes absent from a new Go object carry ".", name and
    # namespace belong to nobody
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert entry["fieldsV1"]["f:spec"]["f:strategy"] == {
        "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}}
    assert entry["fieldsV1"]["f:spec"]["f:selector"] == {}

    old = copy.deepcopy(obj)
    old["metadata"]["uid"] = "u1"
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 3
    new["metadata"]["labels"]["tier"] = "front"
    update_managed_fields(new, old, "kubectl-edit", "apps/v1", DEPLOYMENT, now=T1)
    assert [(e["manager"], e["time"]) for e in new["metadata"]["managedFields"]] == [
        ("kubectl-create", T0), ("kubectl-edit", T1)]
    assert owned(new, "kubectl-edit", "Update") == {".spec.replicas", ".metadata.labels.tier"}
    assert ".spec.replicas" not in owned(new, "kubectl-create", "Update")
    assert ".metadata.labels.app" in owned(new, "kubectl-create", "Update")

    # the same manager again: one entry, merged; a no-op write changes nothing
    again = copy.deepcopy(new)
    again["spec"]["paused"] = True
    update_managed_fields(again, new, "kubectl-edit", "apps/v1", DEPLOYMENT, now=T2)
    assert owned(again, "kubectl-edit", "Update") == {".spec.replicas", ".metadata.labels.tier", ".spec.paused"}
    same = copy.deepcopy(again)
    update_managed_fields(same, again, "kubectl-edit", "apps/v1", DEPLOYMENT, now="2030-01-01T00:00:00Z")
    assert same["metadata"]["managedFields"] == again["metadata"]["managedFields"]


def test_removed_fields_leave_their_owner_and_empty_entries_go() -> None:
    old = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "uid": "u"}, "data": {"a": "1"}}
    update_managed_fields(old, None, "creator", "v1", CONFIGMAP, now=T0)
    assert old["metadata"]["managedFields"][0]["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    new = copy.deepcopy(old)
    new["data"] = {"b": "2"}
    update_managed_fields(new, old, "editor", "v1", CONFIGMAP, now=T1)
    assert owned(new, "creator", "Update") == {".data"}
    assert owned(new, "editor", "Update") == {".data.b"}
    new2 = copy.deepcopy(new)
    del new2["data"]
    update_managed_fields(new2, new, "editor", "v1", CONFIGMAP, now=T2)
    assert "managedFields" not in new2["metadata"]


def test_subresource_and_reset_fields() -> None:
    old = deployment()
    update_managed_fields(old, None, "kubectl-create", "apps/v1", DEPLOYMENT, now=T0, reset_fields=[("status",)])
    old["metadata"]["uid"] = "u"
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 5
    update_managed_fields(new, old, "kubectl", "apps/v1", DEPLOYMENT, subresource="scale", now=T1)
    scale = [e for e in new["metadata"]["managedFields"] if e["manager"] == "kubectl"]
    assert scale[0]["subresource"] == "scale"
    assert scale[0]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    status = copy.deepcopy(new)
    status["status"] = {"replicas": 5}
    update_managed_fields(status, new, "controller", "apps/v1", DEPLOYMENT, now=T1, reset_fields=[("status",)])
    assert not [e for e in status["metadata"]["managedFields"] if e["manager"] == "controller"]


def test_client_sent_managed_fields() -> None:
    old = deployment()
    update_managed_fields(old, None, "kubectl-create", "apps/v1", DEPLOYMENT, now=T0)
    old["metadata"]["uid"] = "u"
    cleared = copy.deepcopy(old)
    cleared["metadata"]["managedFields"] = [{}]
    update_managed_fields(cleared, old, "kubectl-edit", "apps/v1", DEPLOYMENT, now=T1)
    assert "managedFields" not in cleared["metadata"]
    invalid = copy.deepcopy(old)
    invalid["metadata"]["managedFields"] = [{"manager": "x", "operation": "Bogus"}]
    update_managed_fields(invalid, old, "kubectl-edit", "apps/v1", DEPLOYMENT, now=T1)
    assert invalid["metadata"]["managedFields"] == old["metadata"]["managedFields"]


def test_manager_from_user_agent() -> None:
    assert manager_from_user_agent("kubectl/v1.32.0 (linux/amd64) kubernetes/70d3cc9") == "kubectl"
    assert manager_from_user_agent("Go-http-client/2.0") == "Go-http-client"


# --- apply ------------------------------------------------------------------------------------------------


def test_apply_creates_the_object() -> None:
    obj = apply(None, applied_deployment(), "kubectl", "apps/v1", DEPLOYMENT, False, now=T0)
    assert obj["spec"]["replicas"] == 2
    [entry] = obj["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["time"]) == (
        "kubectl", "Apply", "apps/v1", T0)
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert "f:name" not in entry["fieldsV1"]["f:metadata"]


def test_reapply_removes_a_dropped_label() -> None:
    first = apply(None, applied_deployment(labels={"app": "web", "tier": "front"}), "kubectl", "apps/v1",
                  DEPLOYMENT, False, now=T0)
    assert first["metadata"]["labels"] == {"app": "web", "tier": "front"}
    second = apply(first, applied_deployment(labels={"app": "web"}), "kubectl", "apps/v1", DEPLOYMENT, False,
                   now=T1)
    assert second["metadata"]["labels"] == {"app": "web"}
    assert ".metadata.labels.tier" not in owned(second, "kubectl", "Apply")


def test_dropped_field_stays_when_another_manager_owns_it() -> None:
    first = apply(None, applied_deployment(labels={"app": "web", "tier": "front"}), "a", "apps/v1",
                  DEPLOYMENT, False, now=T0)
    shared = apply(first, applied_deployment(labels={"tier": "front"}, replicas=None), "b", "apps/v1",
                   DEPLOYMENT, False, now=T1)
    dropped = apply(shared, applied_deployment(labels={"app": "web"}), "a", "apps/v1", DEPLOYMENT, False, now=T2)
    assert dropped["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert owned(dropped, "b", "Apply") >= {".metadata.labels.tier"}


def created_client_side() -> dict:
    """A Deployment that kubectl created with a client-side apply."""
    live = deployment(replicas=1)
    update_managed_fields(live, None, "kubectl-client-side-apply", "apps/v1", DEPLOYMENT, now=T0)
    live["metadata"]["uid"] = "u"
    return live


def test_conflict_has_upstreams_message_and_causes() -> None:
    live = created_client_side()
    with pytest.raises(ApplyConflict) as err:
        apply(live, applied_deployment(replicas=3), "deployer", "apps/v1", DEPLOYMENT, False, now=T1)
    assert err.value.code == 409
    assert err.value.reason == "Conflict"
    assert err.value.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas')
    assert err.value.causes == [{"reason": "FieldManagerConflict",
                                 "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
                                 "field": ".spec.replicas"}]
    assert err.value.status()["details"]["causes"] == err.value.causes


def test_several_conflicts_are_listed_by_manager() -> None:
    live = created_client_side()
    with pytest.raises(ApplyConflict) as err:
        apply(live, applied_deployment(replicas=3, image="nginx:1.26"), "deployer", "apps/v1", DEPLOYMENT, False,
              now=T1)
    assert err.value.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using apps/v1:\n'
        '- .spec.replicas\n'
        '- .spec.template.spec.containers[name="nginx"].image')
    assert [c["field"] for c in err.value.causes] == [
        ".spec.replicas", '.spec.template.spec.containers[name="nginx"].image']


def test_force_takes_ownership() -> None:
    live = created_client_side()
    obj = apply(live, applied_deployment(replicas=3), "deployer", "apps/v1", DEPLOYMENT, True, now=T1)
    assert obj["spec"]["replicas"] == 3
    assert ".spec.replicas" in owned(obj, "deployer", "Apply")
    assert ".spec.replicas" not in owned(obj, "kubectl-client-side-apply", "Update")
    assert obj["spec"]["progressDeadlineSeconds"] == 600  # fields the applier left out stay


def test_same_value_is_shared_without_conflict() -> None:
    first = apply(None, applied_deployment(replicas=2), "alice", "apps/v1", DEPLOYMENT, False, now=T0)
    second = apply(first, applied_deployment(replicas=2), "bob", "apps/v1", DEPLOYMENT, False, now=T1)
    assert ".spec.replicas" in owned(second, "alice", "Apply")
    assert ".spec.replicas" in owned(second, "bob", "Apply")
    with pytest.raises(ApplyConflict) as err:
        apply(second, applied_deployment(replicas=4), "carol", "apps/v1", DEPLOYMENT, False, now=T2)
    assert [c["message"] for c in err.value.causes] == ['conflict with "alice"', 'conflict with "bob"']
    assert err.value.message.startswith('Apply failed with 2 conflicts: conflicts with "alice":\n- .spec.replicas')


def test_kubectl_may_override_its_client_side_apply() -> None:
    live = created_client_side()
    config = applied_deployment(replicas=1)
    live["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(config)}
    with pytest.raises(ApplyConflict):  # only kubectl itself is excused
        apply(live, applied_deployment(replicas=4), "deployer", "apps/v1", DEPLOYMENT, False, now=T1)
    obj = apply(live, applied_deployment(replicas=4), "kubectl", "apps/v1", DEPLOYMENT, False, now=T1)
    assert obj["spec"]["replicas"] == 4
    assert '"replicas":4' in obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]


def test_apply_checks_the_object_it_is_given() -> None:
    with pytest.raises(APIError) as err:
        apply(None, {**applied_deployment(), "apiVersion": "apps/v1beta1"}, "m", "apps/v1", DEPLOYMENT, False)
    assert (err.value.code, err.value.message) == (400, "invalid object type: apps/v1beta1, Kind=Deployment")
    with pytest.raises(APIError) as err:
        config = applied_deployment()
        config["spec"]["bogus"] = 1
        apply(None, config, "m", "apps/v1", DEPLOYMENT, False)
    assert err.value.code == 500
    assert err.value.message == ("failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
                                 ".spec.bogus: field not declared in schema")
    with pytest.raises(APIError) as err:
        apply(None, applied_deployment(), "m", "apps/v1", DEPLOYMENT, False, name="other")
    assert err.value.message == "the name of the object (web) does not match the name on the URL (other)"
    with pytest.raises(APIError) as err:
        config = applied_deployment()
        config["metadata"]["managedFields"] = []
        apply(None, config, "m", "apps/v1", DEPLOYMENT, False)
    assert err.value.message == "metadata.managedFields must be nil"


def test_noop_apply_keeps_time_and_applying_null_unsets() -> None:
    first = apply(None, applied_deployment(), "a", "apps/v1", DEPLOYMENT, False, now=T0)
    again = apply(first, applied_deployment(), "a", "apps/v1", DEPLOYMENT, False, now=T1)
    assert again == first
    config = applied_deployment()
    config["spec"]["replicas"] = None
    unset = apply(first, config, "a", "apps/v1", DEPLOYMENT, False, now=T1)
    assert "replicas" not in unset["spec"]
    assert ".spec.replicas" in owned(unset, "a", "Apply")


WIDGET = {"type": "object", "properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
    "spec": {"type": "object", "properties": {
        "size": {"type": "integer"},
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "proto"],
                  "items": {"type": "object", "properties": {"port": {"type": "integer"},
                                                             "proto": {"type": "string", "default": "TCP"}}}},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}


def test_custom_resource_with_a_crd_schema() -> None:
    cr = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "finalizers": ["x"]},
          "spec": {"size": 1, "ports": [{"port": 80}], "extra": {"any": {"thing": 1}}}}
    obj = apply(None, cr, "m", "example.com/v1", WIDGET, False, now=T0)
    assert obj["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:metadata": {"f:finalizers": {'v:"x"': {}}},  # ObjectMeta's list types hold for custom resources
        "f:spec": {"f:extra": {"f:any": {".": {}, "f:thing": {}}}, "f:ports": {
            'k:{"port":80,"proto":"TCP"}': {".": {}, "f:port": {}}}, "f:size": {}}}
    with pytest.raises(APIError, match=r"\.spec\.colour: field not declared in schema"):
        apply(None, {**cr, "spec": {"colour": "red"}}, "m", "example.com/v1", WIDGET, False)
    created = copy.deepcopy(cr)
    update_managed_fields(created, None, "kubectl-create", "example.com/v1", WIDGET, now=T0)
    # a custom resource is created from an empty object: spec itself is new
    assert created["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["."] == {}


def test_without_schema_maps_are_granular_and_lists_atomic() -> None:
    cr = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
          "spec": {"tags": ["a"], "nested": {"k": "v"}}}
    obj = apply(None, cr, "m", "example.com/v1", None, False, now=T0)
    assert obj["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:spec": {".": {}, "f:nested": {".": {}, "f:k": {}}, "f:tags": {}}}
