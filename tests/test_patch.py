"""PATCH bodies as kubectl and client libraries send them, applied as kube-apiserver applies them."""

from __future__ import annotations

import copy
import json

import pytest

from timoneiro.api import schema as sch
from timoneiro.apiserver.patch import PatchError, apply_patch, json_patch, merge_patch, strategic_merge_patch
from timoneiro.apiserver.patches.errors import REJECTED

DEPLOYMENT = sch.for_kind("apps", "v1", "Deployment")
POD = sch.for_kind("", "v1", "Pod")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def container(name: str, **fields) -> dict:
    return {"name": name, "image": f"{name}:1", **fields}


def deployment(*containers: dict) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                     "annotations": {LAST_APPLIED: "{}", "deployment.kubernetes.io/revision": "1"},
                     "finalizers": ["a.example.com/x", "b.example.com/y"]},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": list(containers), "restartPolicy": "Always"}},
        },
    }


def pod_spec_patch(spec: dict) -> dict:
    return {"spec": {"template": {"spec": spec}}}


def names(obj: dict) -> list[str]:
    return [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]]


def smp(doc: dict, patch: dict) -> dict:
    before = copy.deepcopy((doc, patch))
    out = strategic_merge_patch(doc, patch, DEPLOYMENT)
    assert (doc, patch) == before, "inputs must not be mutated"
    return out


# --- strategic merge patch -------------------------------------------------------------------------------

def test_kubectl_apply_changes_image_and_ports():
    live = deployment(container("web", image="nginx:1.25", imagePullPolicy="IfNotPresent",
                                ports=[{"containerPort": 80, "protocol": "TCP"}]))
    patch = {
        "metadata": {"annotations": {LAST_APPLIED: '{"new":true}'}},
        "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}],
            "containers": [{
                "$setElementOrder/ports": [{"containerPort": 8080}],
                "image": "nginx:1.27", "name": "web",
                "ports": [{"containerPort": 8080, "name": "http"}, {"$patch": "delete", "containerPort": 80}],
            }],
        }}},
    }
    out = smp(live, patch)
    assert out["metadata"]["annotations"] == {LAST_APPLIED: '{"new":true}', "deployment.kubernetes.io/revision": "1"}
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
         "ports": [{"containerPort": 8080, "name": "http"}]},
    ]
    assert out["spec"]["replicas"] == 2 and out["spec"]["strategy"] == live["spec"]["strategy"]


def test_kubectl_set_image_merges_by_container_name():
    live = deployment(container("app", env=[{"name": "A", "value": "1"}]), container("sidecar"))
    out = smp(live, pod_spec_patch({"containers": [{"image": "app:2", "name": "app"}]}))
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "app:2", "env": [{"name": "A", "value": "1"}]}, container("sidecar")]


def test_new_list_element_goes_first_without_set_element_order():
    out = smp(deployment(container("a"), container("b")), pod_spec_patch({"containers": [container("c")]}))
    assert names(out) == ["c", "a", "b"]


def test_set_element_order_places_new_elements():
    patch = pod_spec_patch({"$setElementOrder/containers": [{"name": "a"}, {"name": "c"}, {"name": "b"}],
                            "containers": [container("c")]})
    assert names(smp(deployment(container("a"), container("b")), patch)) == ["a", "c", "b"]


def test_set_element_order_reorders_without_changing_elements():
    patch = pod_spec_patch({"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]})
    out = smp(deployment(container("a"), container("b")), patch)
    assert out["spec"]["template"]["spec"]["containers"] == [container("b"), container("a")]


def test_server_only_element_lands_where_upstream_puts_it_after_delete_and_add():
    # Upstream deletes and appends inside the live list's own array, so "new" takes "old"'s freed slot
    # and the injected sidecar stays between "keep" and "new".
    live = deployment(container("old"), container("keep"), container("sidecar"))
    patch = pod_spec_patch({"$setElementOrder/containers": [{"name": "keep"}, {"name": "new"}],
                            "containers": [container("new"), {"name": "old", "$patch": "delete"}]})
    assert names(smp(live, patch)) == ["keep", "sidecar", "new"]


def test_patch_delete_removes_a_container():
    patch = pod_spec_patch({"containers": [{"name": "b", "$patch": "delete"}]})
    assert names(smp(deployment(container("a"), container("b"), container("c")), patch)) == ["a", "c"]


def test_patch_replace_element_replaces_the_whole_list():
    patch = pod_spec_patch({"containers": [{"$patch": "replace"}, container("z")]})
    assert smp(deployment(container("a"), container("b")), patch)["spec"]["template"]["spec"]["containers"] == [
        container("z")]


def test_patch_merge_in_a_list_is_refused():
    with pytest.raises(PatchError) as e:
        smp(deployment(container("a")), pod_spec_patch({"containers": [{"$patch": "merge", "name": "a"}]}))
    assert (e.value.status, str(e.value)) == (500, "merging lists cannot yet be specified in the patch")


def test_patch_replace_and_delete_in_maps():
    live = deployment(container("a"))
    out = smp(live, {"metadata": {"labels": {"$patch": "replace", "tier": "front"}}})
    assert out["metadata"]["labels"] == {"tier": "front"}
    out = smp(live, {"spec": {"selector": {"$patch": "delete"}}})
    assert out["spec"]["selector"] == {}


def test_unknown_map_directive_is_an_internal_error():
    with pytest.raises(PatchError) as e:
        smp(deployment(), {"metadata": {"labels": {"$patch": "merge", "x": "y"}}})
    assert e.value.status == 500 and str(e.value) == "unknown patch type: merge in map: map[$patch:merge x:y]"


def test_retain_keys_clears_unlisted_fields():
    out = smp(deployment(), {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_must_list_every_patched_field():
    with pytest.raises(PatchError) as e:
        smp(deployment(), {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}})
    assert (e.value.status, e.value.reason, str(e.value)) == (400, "BadRequest", "invalid patch format of retainKeys")


def test_volumes_merge_by_name_with_retain_keys():
    live = deployment(container("a"))
    live["spec"]["template"]["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}]
    patch = pod_spec_patch({"volumes": [{"$retainKeys": ["name", "secret"], "name": "data", "secret": {"secretName": "s"}}]})
    assert smp(live, patch)["spec"]["template"]["spec"]["volumes"] == [
        {"name": "data", "secret": {"secretName": "s"}}, {"name": "cfg", "configMap": {"name": "c"}}]


def test_delete_from_primitive_list_removes_finalizers():
    out = smp(deployment(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.example.com/x"]}})
    assert out["metadata"]["finalizers"] == ["b.example.com/y"]


def test_delete_from_primitive_list_works_on_lists_without_strategy():
    patch = pod_spec_patch({"containers": [{"name": "a", "$deleteFromPrimitiveList/args": ["--x"]}]})
    out = smp(deployment(container("a", args=["--x", "--y", "--x"])), patch)
    assert out["spec"]["template"]["spec"]["containers"][0]["args"] == ["--y"]


def test_primitive_merge_list_is_a_set_with_patch_elements_first():
    out = smp(deployment(), {"metadata": {"finalizers": ["c.example.com/z", "a.example.com/x"]}})
    assert out["metadata"]["finalizers"] == ["c.example.com/z", "a.example.com/x", "b.example.com/y"]


def test_primitive_set_element_order():
    patch = {"metadata": {"$setElementOrder/finalizers": ["b.example.com/y", "c.example.com/z", "a.example.com/x"],
                          "finalizers": ["c.example.com/z"]}}
    assert smp(deployment(), patch)["metadata"]["finalizers"] == ["b.example.com/y", "c.example.com/z", "a.example.com/x"]


def test_malformed_directive_keys_are_bad_requests():
    for key, message in (("$deleteFromPrimitiveListfinalizers", "invalid patch format of primitive list"),
                         ("$setElementOrderX/finalizers", "invalid patch format of setElementOrder list")):
        with pytest.raises(PatchError) as e:
            smp(deployment(), {"metadata": {key: ["x"]}})
        assert (e.value.status, str(e.value)) == (400, message)


def test_lists_without_strategy_are_replaced():
    live = deployment(container("a", args=["--x", "--y"]))
    live["spec"]["template"]["spec"]["tolerations"] = [{"key": "k1", "operator": "Exists"}]
    patch = pod_spec_patch({"tolerations": [{"key": "k2", "operator": "Exists"}],
                            "containers": [{"name": "a", "args": ["--z"]}]})
    out = smp(live, patch)["spec"]["template"]["spec"]
    assert out["tolerations"] == [{"key": "k2", "operator": "Exists"}]
    assert out["containers"][0]["args"] == ["--z"]


def test_null_deletes_and_nulls_in_new_values_are_dropped():
    out = smp(deployment(), {"metadata": {"labels": {"app": None, "new": "x"}},
                             "spec": {"strategy": None, "minReadySeconds": 5,
                                      "template": {"spec": {"securityContext": {"runAsUser": 1, "fsGroup": None}}}}})
    assert out["metadata"]["labels"] == {"new": "x"}
    assert "strategy" not in out["spec"] and out["spec"]["minReadySeconds"] == 5
    assert out["spec"]["template"]["spec"]["securityContext"] == {"runAsUser": 1}


def test_set_element_order_must_match_the_patch_list():
    patch = pod_spec_patch({"$setElementOrder/containers": [{"name": "a"}], "containers": [container("b")]})
    with pytest.raises(PatchError) as e:
        smp(deployment(container("a")), patch)
    assert e.value.status == 500 and str(e.value).startswith("The order in patch list:\n[map[image:b:1 name:b]]")


def test_merge_list_element_without_merge_key():
    with pytest.raises(PatchError) as e:
        smp(deployment(container("a")), pod_spec_patch({"containers": [{"image": "x"}]}))
    assert (e.value.status, e.value.reason, str(e.value)) == (
        500, "", "map: map[image:x] does not contain declared merge key: name")


def test_strategic_body_must_be_an_object():
    with pytest.raises(PatchError) as e:
        smp(deployment(), [])
    assert (e.value.status, str(e.value)) == (400, "json: cannot unmarshal array into Go value of type map[string]interface {}")
    assert smp(deployment(), None) == deployment()


def test_without_schema_lists_are_replaced_and_maps_merged():
    scale = {"spec": {"replicas": 1}, "status": {"replicas": 1, "selector": "app=web"}}
    assert strategic_merge_patch(scale, {"spec": {"replicas": 3}}, None) == {
        "spec": {"replicas": 3}, "status": {"replicas": 1, "selector": "app=web"}}
    pod = {"spec": {"containers": [container("a"), container("b")]}}
    assert strategic_merge_patch(pod, {"spec": {"containers": [{"name": "b"}]}}, None) == {
        "spec": {"containers": [{"name": "b"}]}}


def test_pod_ports_merge_by_container_port():
    pod = {"spec": {"containers": [container("a", ports=[{"containerPort": 80}, {"containerPort": 443}])]}}
    patch = {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 443, "name": "https"}]}]}}
    assert strategic_merge_patch(pod, patch, POD)["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80}, {"containerPort": 443, "name": "https"}]


# --- JSON merge patch ------------------------------------------------------------------------------------

def test_kubectl_label_and_annotate():
    live = deployment()
    out = merge_patch(live, {"metadata": {"labels": {"tier": "front", "app": None}}})
    assert out["metadata"]["labels"] == {"tier": "front"}
    out = merge_patch(live, {"metadata": {"annotations": {"note": "hi"}, "resourceVersion": "7"}})
    assert out["metadata"]["annotations"]["note"] == "hi" and out["metadata"]["resourceVersion"] == "7"
    assert live == deployment()


def test_kubectl_scale():
    assert merge_patch({"spec": {"replicas": 1}, "status": {"replicas": 1}}, {"spec": {"replicas": 5}}) == {
        "spec": {"replicas": 5}, "status": {"replicas": 1}}


def test_merge_patch_replaces_lists_and_prunes_new_nulls():
    live = deployment(container("a"), container("b"))
    out = merge_patch(live, pod_spec_patch({"containers": [{"name": "c", "image": None}],
                                            "nodeSelector": {"disk": "ssd", "zone": None}}))
    spec = out["spec"]["template"]["spec"]
    assert spec["containers"] == [{"name": "c"}] and spec["nodeSelector"] == {"disk": "ssd"}


@pytest.mark.parametrize(("body", "message"), [
    (None, "Invalid JSON Patch"),
    ([{"a": 1}], "error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}"),
    ("x", "error decoding patch: json: cannot unmarshal string into Go value of type map[string]interface {}"),
])
def test_merge_patch_body_must_be_an_object(body, message):
    with pytest.raises(PatchError) as e:
        merge_patch({"a": 1}, body)
    assert (e.value.status, e.value.reason, str(e.value)) == (400, "BadRequest", message)


# --- JSON patch ------------------------------------------------------------------------------------------

def test_json_patch_operations():
    doc = {"metadata": {"labels": {"a/b": "1", "m~n": "2"}}, "spec": {"args": ["x", "y"]}}
    ops = [
        {"op": "add", "path": "/spec/args/-", "value": "z"},
        {"op": "add", "path": "/spec/args/0", "value": "w"},
        {"op": "replace", "path": "/metadata/labels/a~1b", "value": "3"},
        {"op": "remove", "path": "/metadata/labels/m~0n"},
        {"op": "copy", "from": "/spec/args/1", "path": "/spec/first"},
        {"op": "move", "from": "/spec/args/-1", "path": "/spec/last"},
        {"op": "test", "path": "/spec/args", "value": ["w", "x", "y"]},
    ]
    before = copy.deepcopy(doc)
    assert json_patch(doc, ops) == {"metadata": {"labels": {"a/b": "3"}},
                                    "spec": {"args": ["w", "x", "y"], "first": "x", "last": "z"}}
    assert doc == before


def test_json_patch_added_values_are_copies():
    value = {"k": "v"}
    out = json_patch({}, [{"op": "add", "path": "/a", "value": value}, {"op": "add", "path": "/a/x", "value": 1}])
    assert out == {"a": {"k": "v", "x": 1}} and value == {"k": "v"}


def test_json_patch_library_quirks():
    # replace of a missing member adds it; test treats missing as null; copy of a missing member copies null
    out = json_patch({"a": {}}, [{"op": "replace", "path": "/a/b", "value": 1},
                                 {"op": "test", "path": "/a/missing", "value": None},
                                 {"op": "copy", "from": "/a/missing", "path": "/c"}])
    assert out == {"a": {"b": 1}, "c": None}
    # a negative index counts from the end of the list after insertion: -1 appends
    assert json_patch({"l": [1, 2]}, [{"op": "add", "path": "/l/-1", "value": 3},
                                      {"op": "add", "path": "/l/-4", "value": 0}]) == {"l": [0, 1, 2, 3]}
    assert json_patch({"a": 1}, None) == {"a": 1}


@pytest.mark.parametrize(("ops", "cause"), [
    ([{"op": "test", "path": "/spec/replicas", "value": 3}], "testing value /spec/replicas failed: test failed"),
    ([{"op": "test", "path": "/spec/paused", "value": 0}], "testing value /spec/paused failed: test failed"),
    ([{"op": "test", "path": "/spec/list", "value": [1, "2"]}], "testing value /spec/list failed: test failed"),
    ([{"op": "test", "path": "/spec/list/-3", "value": 1}],
     "error in test for path: '/spec/list/-3': Unable to access invalid index: -3: invalid index referenced"),
    ([{"op": "remove", "path": "/spec/missing"}],
     "error in remove for path: '/spec/missing': Unable to remove nonexistent key: missing: missing value"),
    ([{"op": "add", "path": "/spec/missing/x", "value": 1}],
     'add operation does not apply: doc is missing path: "/spec/missing/x": missing value'),
    ([{"op": "replace", "path": "/spec/list/5", "value": 1}],
     "replace operation does not apply: doc is missing key: /spec/list/5: missing value"),
    ([{"op": "add", "path": "/spec/list/3", "value": 1}],
     "error in add for path: '/spec/list/3': Unable to access invalid index: 3: invalid index referenced"),
    ([{"op": "add", "path": "", "value": {}}], 'add operation does not apply: doc is missing path: "": missing value'),
    ([{"op": "move", "from": "/spec/nope", "path": "/x"}],
     "error in move for path: 'nope': Unable to remove nonexistent key: nope: missing value"),
    ([{"op": "frobnicate", "path": "/a"}], "Unexpected kind: frobnicate"),
    ([{"path": "/a"}], "Unexpected kind: unknown"),
    ([{"op": "remove"}], "remove operation failed to decode path: missing value"),
])
def test_json_patch_failures_are_generic_422(ops, cause):
    doc = {"spec": {"replicas": 2, "paused": False, "list": [1, 2]}}
    with pytest.raises(PatchError) as e:
        json_patch(doc, [{"op": "test", "path": "/spec/replicas", "value": 2}, *ops])
    assert (e.value.status, e.value.reason, str(e.value)) == (422, "Invalid", REJECTED)
    assert str(e.value.__cause__) == cause


def test_json_patch_copies_may_grow_the_document_by_3_mib():
    doc = {"big": "x" * (1024 * 1024 - 2)}  # 1 MiB once quoted: three copies reach the limit exactly
    ops = [{"op": "copy", "from": "/big", "path": f"/c{i}"} for i in range(3)]
    assert len(json_patch(doc, ops)) == 4
    with pytest.raises(PatchError) as e:
        json_patch(doc, [*ops, {"op": "copy", "from": "/big", "path": "/c3"}])
    assert str(e.value) == REJECTED
    assert str(e.value.__cause__) == ("Unable to complete the copy, the accumulated size increase of copy is "
                                      "4194304, exceeding the limit 3145728")


@pytest.mark.parametrize(("body", "message"), [
    ({"op": "add", "path": "/a", "value": 1}, "json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp"),
    (["add"], "json: cannot unmarshal string into Go value of type handlers.jsonPatchOp"),
    ([{"op": "add", "path": 5}], "json: cannot unmarshal number into Go struct field jsonPatchOp.path of type string"),
])
def test_json_patch_undecodable_bodies_are_400(body, message):
    with pytest.raises(PatchError) as e:
        json_patch({}, body)
    assert (e.value.status, e.value.reason, str(e.value)) == (400, "BadRequest", f"error decoding patch: {message}")


def test_json_patch_operation_limit():
    with pytest.raises(PatchError) as e:
        json_patch({}, [{"op": "test", "path": "/a"}] * 10001)
    assert (e.value.status, e.value.reason) == (413, "RequestEntityTooLarge")
    assert str(e.value) == ("Request entity too large: The allowed maximum operations in a JSON patch is 10000, "
                            "got 10001")


def test_json_patch_result_must_stay_an_object():
    with pytest.raises(PatchError) as e:
        json_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}])
    assert e.value.status == 422
    assert str(e.value).startswith('"" is invalid: patch: Invalid value: "[1]": couldn\'t get version/kind; ')
    assert json_patch({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}]) == {"b": 2}


# --- dispatch --------------------------------------------------------------------------------------------

def test_apply_patch_dispatches_on_media_type():
    live = deployment(container("a"))
    body = pod_spec_patch({"containers": [container("b")]})
    assert names(apply_patch("application/strategic-merge-patch+json", live, body, DEPLOYMENT)) == ["b", "a"]
    assert names(apply_patch("application/merge-patch+json; charset=utf-8", live, body, DEPLOYMENT)) == ["b"]
    ops = [{"op": "remove", "path": "/spec/template/spec/containers/0"}]
    assert names(apply_patch("application/json-patch+json", live, ops, DEPLOYMENT)) == []


def test_apply_patch_refuses_other_media_types():
    with pytest.raises(PatchError) as e:
        apply_patch("application/json", {}, {}, DEPLOYMENT)
    assert (e.value.status, e.value.reason) == (415, "UnsupportedMediaType")
    assert str(e.value) == (
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, "
        "application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml")


def test_results_are_plain_json():
    out = smp(deployment(container("a")), pod_spec_patch({"containers": [container("b")]}))
    assert json.loads(json.dumps(out)) == out
