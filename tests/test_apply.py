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


# --- fast paths agree with the plain algorithms -----------------------------------------------------------
# Field tracking skips unchanged parts (==, then a strict JSON check), walks one-sided parts in one pass,
# caches what it derives from schemas and FieldsV1 objects and keeps unchanged entries. The plain
# algorithms below are what it did before; the fast paths must agree with them, errors included.

POD = sch.for_kind("", "v1", "Pod")
_GONE = object()


def _plain_kind(t, value) -> str:
    return t.kind(value)


def _plain_item_token(t, item) -> str:
    keys = t.list_keys
    if not keys:
        return t.item_token(item)  # sets: value tokens, checked below against value_token
    if not isinstance(item, dict):
        return t.item_token(item)  # raises
    key = {}
    for name in keys:
        value = item[name] if name in item else t._key_default(name)
        if value is not None:
            key[name] = value
    return key_token(key) if key else t.item_token(item)


def _plain_tokens(t, items, path) -> list[str]:
    from timoneiro.apiserver.structuredmerge import StructureError
    tokens = []
    for i, item in enumerate(items):
        try:
            tokens.append(_plain_item_token(t, item))
        except StructureError as err:
            raise StructureError(f"{render_path(path)}: element {i}: {err}") from None
    return tokens


def _plain_same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_plain_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_plain_same, a, b))
    if isinstance(a, (int, float)):
        return isinstance(b, (int, float)) and a == b
    return type(a) is type(b) and a == b


def plain_compare(lhs, rhs, t) -> tuple[set, set, set]:
    out: tuple[set, set, set] = (set(), set(), set())  # added, modified, removed

    def leaf(lhs, rhs, path):
        if path:
            if lhs is _GONE:
                out[0].add(path)
            elif rhs is _GONE:
                out[2].add(path)
            elif not _plain_same(lhs, rhs):
                out[1].add(path)

    def as_kind(kind, lhs, rhs, t, path) -> bool:
        if kind == "map":
            left, right = (v if isinstance(v, dict) else {} for v in (lhs, rhs))
            if t.atomic_map or not (left or right):
                leaf(lhs, rhs, path)
                return True
            for name in {**left, **right}:
                walk(left.get(name, _GONE), right.get(name, _GONE), t.child(name)[0], path + ("f:" + name,))
            return False
        if kind == "list":
            left, right = (v if isinstance(v, list) else [] for v in (lhs, rhs))
            if t.list_keys is None or not (left or right):
                leaf(lhs, rhs, path)
                return True
            groups = []
            for items in (left, right):
                group: dict = {}
                for token, item in zip(_plain_tokens(t, items, path), items, strict=True):
                    group.setdefault(token, []).append(item)
                groups.append(group)
            for token in {**groups[0], **groups[1]}:
                lv, rv = groups[0].get(token, []), groups[1].get(token, [])
                item_path = path + (token,)
                if len(lv) <= 1 and len(rv) <= 1:
                    walk(lv[0] if lv else _GONE, rv[0] if rv else _GONE, t.item, item_path)
                elif len(lv) >= 2 and len(rv) >= 2:
                    if not _plain_same(lv, rv):
                        out[1].add(item_path)
                elif len(lv) >= 2:
                    if rv:
                        walk(_GONE, rv[0], t.item, item_path)
                    out[2].add(item_path)
                else:
                    if lv:
                        walk(lv[0], _GONE, t.item, item_path)
                    out[0].add(item_path)
            return False
        leaf(lhs, rhs, path)
        return True

    def walk(lhs, rhs, t, path):
        if rhs is _GONE:
            is_leaf = as_kind(_plain_kind(t, lhs), lhs, rhs, t, path)
        elif lhs is _GONE or _plain_kind(t, lhs) == _plain_kind(t, rhs):
            is_leaf = as_kind(_plain_kind(t, rhs), lhs, rhs, t, path)
        else:
            as_kind(_plain_kind(t, lhs), lhs, rhs, t, path)
            is_leaf = as_kind(_plain_kind(t, rhs), lhs, rhs, t, path)
        if not is_leaf and path:
            if lhs is _GONE:
                out[0].add(path)
            elif rhs is _GONE:
                out[2].add(path)

    walk(lhs, rhs, t, ())
    return out


def plain_field_set(value, t) -> set:
    from collections import Counter
    out: set = set()

    def collect(value, t, path):
        kind = _plain_kind(t, value)
        if kind == "map" and not t.atomic_map:
            for name, child in (value if isinstance(value, dict) else {}).items():
                child_type, declared = t.child(name)
                collect(child, child_type, path + ("f:" + name,))
                if child is None or child == {} or not declared:
                    out.add(path + ("f:" + name,))
        elif kind == "list" and t.list_keys is not None:
            items = value if isinstance(value, list) else []
            tokens = _plain_tokens(t, items, path)
            duplicates = {tok for tok, n in Counter(tokens).items() if n > 1}
            out.update(path + (tok,) for tok in duplicates)
            for tok, item in zip(tokens, items, strict=True):
                if tok not in duplicates:
                    collect(item, t.item, path + (tok,))
                    out.add(path + (tok,))
        elif path:
            out.add(path)

    collect(value, t, ())
    return out


def plain_with_field_parents(paths, t) -> set:
    out = set(paths)
    for path in paths:
        current = t
        for i, token in enumerate(path[:-1]):
            if token.startswith("f:"):
                current, declared = current.child(token[2:])
                if declared:
                    out.add(path[: i + 1])
            elif token.startswith("k:"):
                current = current.item
            else:
                break
    return out


def outcome(f, *args):
    try:
        return f(*args)
    except Exception as err:  # noqa: BLE001 - the error is the outcome
        return f"{type(err).__name__}: {err}"


def fast_compare(lhs, rhs, t) -> tuple[set, set, set]:
    from timoneiro.apiserver.structuredmerge import compare
    diff = compare(lhs, rhs, t)
    return diff.added, diff.modified, diff.removed


def a_pod() -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "u1",
                                          "controller": True}],
                     "finalizers": ["a", "b"]},
        "spec": {"containers": [{"name": "app", "image": "app:1", "command": ["/app"],
                                 "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}],
                                 "env": [{"name": "A", "value": "1"},
                                         {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                                 "resources": {"requests": {"cpu": "100m"}},
                                 "readinessProbe": {"httpGet": {"path": "/", "port": 80}}}],
                 "volumes": [{"name": "v", "configMap": {"name": "c", "defaultMode": 420}}],
                 "nodeSelector": {"os": "linux"}, "securityContext": {}, "tolerations": [{"key": "k"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None}]},
    }


def a_widget() -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 1, "ports": [{"port": 80}, {"port": 81, "proto": "UDP"}],
                     "extra": {"flag": True, "n": 1, "list": [1, {"x": None}]}}}


def _edits() -> list[tuple[str, object]]:
    """(path, new value) edits, each applied alone to a copy of the object it names."""
    nan = float("nan")
    return [
        ("spec.extra.flag", 1), ("spec.extra.n", True), ("spec.extra.n", 1.0), ("spec.extra.n", -0.0),
        ("spec.extra.list", [1, {"x": None}]), ("spec.extra.list", [True, {"x": None}]),
        ("spec.extra.list", [nan]), ("spec.extra.list", [float("inf")]), ("spec.extra.flag", 10**30),
        ("spec.ports", [{"port": 80}, {"port": 80}]), ("spec.ports", [{"proto": None}]),
        ("spec.ports", [{"port": 81, "proto": "UDP"}, {"port": 80}]), ("spec.ports", [{"port": 80, "proto": "TCP"}]),
        ("spec.size", None), ("spec", {}), ("spec", None), ("spec.ports", None), ("spec.ports", []),
        ("spec.containers", [{"name": "app", "image": "app:2", "ports": [{"containerPort": 80}]}]),
        ("spec.containers", [{"name": "app"}, {"name": "app"}]), ("spec.containers", [{"image": "x"}]),
        ("spec.containers", [None]), ("spec.containers", {"name": "app"}), ("spec.containers", "app"),
        ("metadata.finalizers", ["b", "a"]), ("metadata.finalizers", ["a", "a"]), ("metadata.finalizers", [{}]),
        ("metadata.finalizers", [1, True]), ("metadata.finalizers", [[1]]), ("metadata.labels", {}),
        ("metadata.labels", {"app": "web", "tier": "front"}), ("metadata.labels", None),
        ("status.conditions", [{"type": "Ready", "status": "False", "lastProbeTime": None}]),
        ("status.conditions", [{"status": "True"}]), ("status", {"phase": "Running"}),
        ("spec.volumes", [{"name": "v", "configMap": {"name": "c", "defaultMode": 420.0}}]),
        ("spec.nodeSelector", {"os": "linux"}), ("spec.tolerations", [{"key": "k", "value": True}]),
    ]


def _edited(obj: dict, where: str, value) -> dict | None:
    out = copy.deepcopy(obj)
    node = out
    *parents, last = where.split(".")
    for name in parents:
        node = node.get(name) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return None
    node[last] = value
    return out


def _pairs():
    """(old, new, type) pairs: each edit on either side, on deep copies and on objects sharing parts."""
    kinds = [(a_pod(), root_type(POD)), (a_widget(), root_type(WIDGET)), (a_widget(), root_type(None))]
    for obj, t in kinds:
        yield obj, copy.deepcopy(obj), t
        yield obj, obj, t
        for where, value in _edits():
            edited = _edited(obj, where, value)
            if edited is None:
                continue
            yield obj, edited, t
            yield edited, obj, t
            yield edited, copy.deepcopy(edited), t
            yield edited, edited, t  # one object on both sides: shared NaN, keyless items
            shared = dict(edited)
            shared["metadata"] = {**edited["metadata"], "resourceVersion": "2"}
            yield edited, shared, t  # what an update sees: a new object sharing the old one's parts


def test_compare_agrees_with_the_plain_comparison() -> None:
    for old, new, t in _pairs():
        assert outcome(fast_compare, old, new, t) == outcome(plain_compare, old, new, t), (old, new)


def plain_merge(lhs, rhs, t, path=()):
    from timoneiro.apiserver.structuredmerge import _merge_items
    if rhs is _GONE:
        return lhs
    if lhs is _GONE or t.kind(lhs) != t.kind(rhs):
        return rhs
    if t.kind(rhs) == "map":
        left, right = (v if isinstance(v, dict) else {} for v in (lhs, rhs))
        if t.atomic_map or not (left or right):
            return rhs
        return {name: plain_merge(left.get(name, _GONE), right.get(name, _GONE), t.child(name)[0],
                                  path + ("f:" + name,)) for name in {**left, **right}}
    if t.kind(rhs) == "list":
        left, right = (v if isinstance(v, list) else [] for v in (lhs, rhs))
        return rhs if t.list_keys is None or not (left or right) else _merge_items(left, right, t, path)
    return rhs


def test_merge_agrees_with_the_plain_merge() -> None:
    for old, new, t in _pairs():
        assert repr(outcome(merge, old, new, t)) == repr(outcome(plain_merge, old, new, t)), (old, new)


def test_field_set_agrees_with_the_plain_walk() -> None:
    from timoneiro.apiserver.structuredmerge import field_set_with_parents
    for _old, new, t in _pairs():
        fields = outcome(plain_field_set, new, t)
        assert outcome(field_set, new, t) == fields, new
        expected = plain_with_field_parents(fields, t) if isinstance(fields, set) else fields
        assert outcome(field_set_with_parents, new, t) == expected, new


def test_unchanged_but_not_json_equal_parts_still_count() -> None:
    t = root_type(WIDGET)
    old = a_widget()
    for name, value, changed in [("flag", 1, True), ("flag", 1.0, True), ("flag", True, False), ("n", True, True),
                                 ("n", 1.0, False), ("n", 1, False)]:
        new = copy.deepcopy(old)
        new["spec"]["extra"][name] = value  # True == 1 == 1.0 in Python; in JSON true is not 1, 1 is 1.0
        assert new == old
        assert fast_compare(old, new, t)[1] == ({("f:spec", "f:extra", "f:" + name)} if changed else set())
    shared_nan = {**old, "spec": {**old["spec"], "extra": {"x": [float("nan")]}}}
    assert fast_compare(shared_nan, dict(shared_nan), t)[1] == {("f:spec", "f:extra", "f:x")}


def test_an_unchanged_keyless_item_still_stops_tracking() -> None:
    """A keyed list whose item has no key makes the object unreadable, changed or not: the update keeps
    the managedFields it had, as upstream does."""
    old = deployment()
    update_managed_fields(old, None, "creator", "apps/v1", DEPLOYMENT, now=T0)
    old["metadata"]["uid"] = "u"
    broken = copy.deepcopy(old)
    broken["spec"]["template"]["spec"]["containers"].append({"image": "sidecar"})
    update_managed_fields(broken, old, "editor", "apps/v1", DEPLOYMENT, now=T1)
    assert broken["metadata"]["managedFields"] == old["metadata"]["managedFields"]
    again = copy.deepcopy(broken)  # the same broken list, now unchanged
    again["spec"]["replicas"] = 5
    update_managed_fields(again, broken, "editor", "apps/v1", DEPLOYMENT, now=T2)
    assert again["metadata"]["managedFields"] == old["metadata"]["managedFields"]


def test_create_against_the_zero_object() -> None:
    """A create records what differs from a new Go object: the plain comparison, less what nobody owns."""
    from timoneiro.apiserver.ownership import UNOWNED, zero_object
    for obj, schema, api_version in [(a_pod(), POD, "v1"), (deployment(), DEPLOYMENT, "apps/v1"),
                                     (a_widget(), WIDGET, "example.com/v1"), (a_widget(), None, "example.com/v1")]:
        created = copy.deepcopy(obj)
        update_managed_fields(created, None, "creator", api_version, schema, now=T0, reset_fields=[("status",)])
        added, modified, _ = plain_compare(zero_object(schema, api_version, obj["kind"]), obj, root_type(schema))
        expected = recursive_difference(added | modified, {("f:status",)}) - UNOWNED
        assert decode_fields(created["metadata"]["managedFields"][0]["fieldsV1"]) == expected
        assert created["metadata"]["managedFields"][0]["fieldsV1"] == encode_fields(expected)
    pod = copy.deepcopy(a_pod())
    update_managed_fields(pod, None, "creator", "v1", POD, now=T0)
    fields = pod["metadata"]["managedFields"][0]["fieldsV1"]
    assert "." not in fields["f:spec"]["f:containers"]  # a Go Pod has its containers (nil) already
    assert "." in fields["f:spec"]["f:containers"]['k:{"name":"app"}']
    zero = zero_object(POD, "v1", "Pod")
    zero["spec"]["containers"] = ["changed"]
    assert zero_object(POD, "v1", "Pod")["spec"]["containers"] is None  # each call has its own


def test_status_updates_through_the_subresource() -> None:
    status_reset = [("spec",), ("metadata", "labels"), ("metadata", "annotations")]
    pod = a_pod()
    pod["status"] = {"phase": "Pending"}
    update_managed_fields(pod, None, "kube-controller-manager", "v1", POD, now=T0, reset_fields=[("status",)])
    pod["metadata"]["uid"] = "u"
    created = pod["metadata"]["managedFields"]
    running = copy.deepcopy(pod)
    running["status"] = {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}],
                         "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None}]}
    running["metadata"]["labels"]["sneaky"] = "x"  # a status write cannot change labels: nobody owns them
    update_managed_fields(running, pod, "kubelet", "v1", POD, subresource="status", now=T1,
                          reset_fields=status_reset)
    assert running["metadata"]["managedFields"][0] == created[0]
    kubelet = running["metadata"]["managedFields"][1]
    assert (kubelet["manager"], kubelet["subresource"], kubelet["time"]) == ("kubelet", "status", T1)
    assert kubelet["fieldsV1"] == {"f:status": {
        "f:conditions": {".": {}, 'k:{"type":"Ready"}': {".": {}, "f:lastProbeTime": {}, "f:status": {},
                                                         "f:type": {}}},
        "f:phase": {}, "f:podIP": {}, "f:podIPs": {".": {}, 'k:{"ip":"10.0.0.1"}': {".": {}, "f:ip": {}}}}}
    # the kubelet reports again, changing what it owns: the same entry, a new time
    again = copy.deepcopy(running)
    again["status"]["conditions"][0]["status"] = "False"
    update_managed_fields(again, running, "kubelet", "v1", POD, subresource="status", now=T2,
                          reset_fields=status_reset)
    assert [e["time"] for e in again["metadata"]["managedFields"]] == [T0, T2]
    assert again["metadata"]["managedFields"][1]["fieldsV1"] == kubelet["fieldsV1"]
    # and a new field joins the entry
    more = copy.deepcopy(again)
    more["status"]["hostIP"] = "10.1.0.1"
    update_managed_fields(more, again, "kubelet", "v1", POD, subresource="status", now=T2, reset_fields=status_reset)
    assert owned(more, "kubelet", "Update") == owned(again, "kubelet", "Update") | {".status.hostIP"}


def test_unchanged_entries_are_kept_and_client_entries_made_canonical() -> None:
    old = deployment()
    update_managed_fields(old, None, "creator", "apps/v1", DEPLOYMENT, now=T0)
    old["metadata"]["uid"] = "u"
    new = copy.deepcopy(old)
    new["spec"]["paused"] = True
    creator = old["metadata"]["managedFields"][0]
    sent_fields = new["metadata"]["managedFields"][0]["fieldsV1"]
    update_managed_fields(new, old, "editor", "apps/v1", DEPLOYMENT, now=T1)
    assert new["metadata"]["managedFields"][0] == creator
    assert new["metadata"]["managedFields"][0]["fieldsV1"] is sent_fields  # kept, not encoded again
    # FieldsV1 as a client may send it: keys out of order, "." where none belongs, a key token
    # written otherwise; the next write records it as upstream writes it
    sent = copy.deepcopy(new)
    fields = sent["metadata"]["managedFields"][0]["fieldsV1"]
    fields["f:spec"] = dict(reversed(fields["f:spec"].items()))
    fields["f:spec"]["f:replicas"] = {".": {}}
    fields["f:spec"]["f:template"]["f:spec"]["f:containers"] = {
        'k:{ "name" : "nginx" }': fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']}
    sent["spec"]["paused"] = False
    update_managed_fields(sent, new, "editor", "apps/v1", DEPLOYMENT, now=T2)
    assert sent["metadata"]["managedFields"][0]["fieldsV1"] == creator["fieldsV1"]
    assert list(sent["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]) == list(creator["fieldsV1"]["f:spec"])
    # the same fields in another order are written in order again, though they decode alike
    reordered = copy.deepcopy(new)
    fields = reordered["metadata"]["managedFields"][0]["fieldsV1"]
    fields["f:spec"] = dict(reversed(fields["f:spec"].items()))
    assert decode_fields(fields) == decode_fields(creator["fieldsV1"])
    update_managed_fields(reordered, new, "editor", "apps/v1", DEPLOYMENT, now=T2)
    assert list(reordered["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]) == list(creator["fieldsV1"]["f:spec"])
    # FieldsV1 from the encoder are fresh objects, whatever it remembers
    a = encode_fields(decode_fields(creator["fieldsV1"]))
    a["f:spec"].clear()
    assert encode_fields(decode_fields(creator["fieldsV1"])) == creator["fieldsV1"]


def test_token_sort_key_orders_as_compare_tokens() -> None:
    from functools import cmp_to_key

    from timoneiro.apiserver.fieldpath import compare_tokens, token_key
    tokens = ["f:a", "f:b", "f:", 'k:{"a":1}', 'k:{"a":1.5}', 'k:{"a":"1"}', 'k:{"a":true}', 'k:{"a":null}',
              'k:{"a":[1]}', 'k:{"a":[1,2]}', 'k:{"a":[0,3]}', 'k:{"a":{"b":1}}', 'k:{"a":{"c":0}}',
              'k:{"a":{"b":1,"c":2}}', 'k:{"a":{"c":0,"b":1}}', 'k:{"a":1,"b":2}', 'k:{"b":0}', 'v:"x"', "v:1", "v:-2", "v:false",
              "v:null", 'v:{"a":[]}', "v:[]", "i:0", "i:10", "i:2"]
    assert sorted(tokens, key=token_key) == sorted(tokens, key=cmp_to_key(compare_tokens))
    assert sorted(reversed(tokens), key=token_key) == sorted(reversed(tokens), key=cmp_to_key(compare_tokens))


def test_set_helpers_agree_with_their_definitions() -> None:
    from timoneiro.apiserver.structuredmerge import with_field_parents
    t = root_type(DEPLOYMENT)
    paths = field_set(applied_deployment(), t) | {("f:spec", "f:template", "f:spec", "f:containers", 'v:"x"', "f:y"),
                                                  ("f:metadata", "f:labels", "f:a", "f:b"), ()}
    for exclude in [set(), {()}, {("f:spec",)}, {("f:spec", "f:template"), ("f:metadata",)},
                    {("f:spec", "f:replicas"), ("f:kind",), ()}]:
        assert recursive_difference(paths, exclude) == {
            p for p in paths if not any(p[:i] in exclude for i in range(1, len(p) + 1))}
    assert with_field_parents(paths, t) == plain_with_field_parents(paths, t)


def test_schema_types_are_shared_and_bounded() -> None:
    t = root_type(POD)
    assert root_type(POD) is t
    labels = t.child("metadata")[0].child("labels")[0]
    assert labels.child("a") is labels.child("b")  # map entries share one type: no cache per key
    assert labels.child("a") == (labels.child("a")[0], False)


def test_caches_forget_beyond_their_weight() -> None:
    from timoneiro.apiserver.fieldpath import LruCache
    cache = LruCache(160)
    for i in range(10):
        cache.keep(i, str(i), 10)
    cache.lookup(0)  # now the most recently used
    for i in range(10, 18):  # 180 in all: the two least recently used go
        cache.keep(i, str(i), 10)
    assert [cache.lookup(i) for i in (0, 1, 2, 3, 17)] == ["0", None, None, "3", "17"]
    cache.keep("big", "x", 11)  # more than a sixteenth of the room: not kept
    assert cache.lookup("big") is None
