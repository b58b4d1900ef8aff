"""Bad requests get kube-apiserver v1.32's status code, Status reason, message and causes, word for word, and
never change what is stored. Raw HTTP sends what kubectl cannot; kubectl checks how its users see the errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from controller_testing import assert_rolled_out_unavailable, eventually, http_client

CM = "/api/v1/namespaces/default/configmaps"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
JSON = {"Content-Type": "application/json"}
# the wording of k8s.io/apimachinery/pkg/util/validation for names
SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
             "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
         "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
           "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
           "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


@pytest.fixture
def http(server) -> Iterator[httpx.Client]:
    with http_client(server.admin) as c:
        # the controllers' own writes to a new server are done once each namespace has its root CA
        eventually(lambda: len([m for m in c.get("/api/v1/configmaps").json()["items"]
                                if m["metadata"]["name"] == "kube-root-ca.crt"]) == 4)
        yield c


def configmap(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def deployment(name: str, **spec_extra: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}}, **spec_extra,
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def failure(resp: httpx.Response, code: int, reason: str, message: str) -> dict:
    """Check a failure Status as kube-apiserver writes it; return its details."""
    assert resp.status_code == code, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert (body["kind"], body["apiVersion"], body["status"], body["code"]) == ("Status", "v1", "Failure", code)
    assert body["reason"] == reason
    assert body["message"] == message
    return body.get("details", {})


def stored(http: httpx.Client) -> dict[str, list]:
    """Everything a bad request could have touched, to compare before and after it."""
    return {path: http.get(path).json()["items"] for path in
            ("/api/v1/configmaps", "/api/v1/namespaces", "/apis/apps/v1/deployments", "/api/v1/services")}


def rolled_out(http: httpx.Client, name: str) -> None:
    """Wait for the deployment controller's last write to a new Deployment: with no kubelet to run its pods,
    the status that counts them all updated (its ReplicaSet has created them) and none available."""

    def done() -> bool:
        d = http.get(f"{DEPLOY}/{name}").json()
        assert_rolled_out_unavailable(d)
        return True

    eventually(done, timeout=20)


@pytest.fixture
def unchanged(http: httpx.Client) -> Iterator[None]:
    """The test's failing requests leave the store as the test's setup left it."""
    http.post(CM, json=configmap("existing", a="1")).raise_for_status()
    before = stored(http)
    yield
    assert stored(http) == before


def test_malformed_json_body(http, unchanged):
    body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"'
    details = failure(http.post(CM, content=body, headers=JSON), 400, "BadRequest",
                      "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; "
                      'json parse error: unexpected end of JSON input ({"apiVersion":"v1","kind":"Con ...)')
    assert details == {}
    failure(http.put(f"{CM}/existing", content=b"{", headers=JSON), 400, "BadRequest",
            "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; "
            "json parse error: unexpected end of JSON input ({)")


def test_malformed_yaml_body(http, unchanged):
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: a: b\n"
    failure(http.post(CM, content=body, headers={"Content-Type": "application/yaml"}), 400, "BadRequest",
            "the object provided is unrecognized (must be of type ConfigMap): yaml: line 4: mapping values are "
            f"not allowed in this context ({body[:30].hex()} ...)")


def test_empty_body(http, unchanged):
    failure(http.post(CM, content=b"", headers=JSON), 400, "BadRequest",
            "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; "
            "json parse error: unexpected end of JSON input (<empty>)")


@pytest.mark.parametrize(("path", "body", "kind", "name", "why"), [
    (CM, configmap("Bad_Name"), "ConfigMap", "Bad_Name", SUBDOMAIN),
    (CM, configmap("a" * 254), "ConfigMap", "a" * 254, "must be no more than 253 characters"),
    ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "has.dots"}},
     "Namespace", "has.dots", "must not contain dots"),
    ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Upper"}},
     "Namespace", "Upper", LABEL),
    ("/api/v1/namespaces/default/services",
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}},
     "Service", "1svc", DNS1035),
], ids=["configmap-underscore", "configmap-too-long", "namespace-dots", "namespace-upper", "service-digit"])
def test_invalid_name(http, unchanged, path, body, kind, name, why):
    cause = f"Invalid value: {json.dumps(name)}: {why}"
    details = failure(http.post(path, json=body), 422, "Invalid",
                      f"{kind} {json.dumps(name)} is invalid: metadata.name: {cause}")
    assert details == {"name": name, "kind": kind,
                       "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": "metadata.name"}]}


def test_invalid_name_with_kubectl(kubectl, http, unchanged):
    proc = kubectl.run("apply", "-f", "-", input=json.dumps(configmap("Bad_Name")), check=False)
    assert proc.returncode == 1
    assert proc.stderr == (f'The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
                           f"{SUBDOMAIN}\n")


def test_wrong_api_version_in_body(http, unchanged):
    body = {**configmap("a"), "apiVersion": "apps/v1"}
    resp = http.post(CM, json=body)
    assert resp.status_code == 400
    status = resp.json()
    assert status["reason"] == "BadRequest"
    # the scheme's name is where the Go source that built it sits
    assert status["message"].startswith('ConfigMap in version "v1" cannot be handled as a ConfigMap: no kind '
                                        '"ConfigMap" is registered for version "apps/v1" in scheme "')
    assert "pkg/api/legacyscheme/scheme.go" in status["message"]


def test_wrong_kind_in_body(http, unchanged):
    body = {**configmap("a"), "kind": "Secret"}
    failure(http.post(CM, json=body), 400, "BadRequest",
            'Secret in version "v1" cannot be handled as a ConfigMap: converting (v1.Secret) to (core.ConfigMap): '
            "unknown conversion")


def test_unknown_field_strict_is_rejected(http, unchanged):
    failure(http.post(f"{DEPLOY}?fieldValidation=Strict", json=deployment("web", foo=1)), 400, "BadRequest",
            'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
            'unknown field "spec.foo"')
    failure(http.post(f"{CM}?fieldValidation=Strict", json={**configmap("a"), "spec": {"foo": 1}}), 400,
            "BadRequest",
            'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "spec"')


@pytest.mark.parametrize("query", ["?fieldValidation=Warn", ""])
def test_unknown_field_warn_is_stored_with_a_warning(http, query):
    resp = http.post(f"{DEPLOY}{query}", json=deployment("web", foo=1))
    assert resp.status_code == 201
    assert resp.headers.get_list("warning") == ['299 - "unknown field \\"spec.foo\\""']
    assert "foo" not in http.get(f"{DEPLOY}/web").json()["spec"]


def test_unknown_field_ignore_has_no_warning(http):
    resp = http.post(f"{DEPLOY}?fieldValidation=Ignore", json=deployment("web", foo=1))
    assert resp.status_code == 201
    assert "warning" not in resp.headers


def test_invalid_field_validation_value(http, unchanged):
    cause = 'Unsupported value: "Bogus": supported values: "", "Ignore", "Strict", "Warn"'
    details = failure(http.post(f"{CM}?fieldValidation=Bogus", json=configmap("a")), 422, "Invalid",
                      f'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: {cause}')
    assert details == {"group": "meta.k8s.io", "kind": "CreateOptions",
                       "causes": [{"reason": "FieldValueNotSupported", "message": cause,
                                   "field": "fieldValidation"}]}


def test_unknown_field_with_kubectl(kubectl, http):
    manifest = json.dumps(deployment("web", foo=1))
    proc = kubectl.run("apply", "-f", "-", input=manifest, check=False)
    assert proc.returncode == 1
    assert proc.stderr == ('Error from server (BadRequest): error when creating "STDIN": Deployment in version '
                           '"v1" cannot be handled as a Deployment: strict decoding error: unknown field '
                           '"spec.foo"\n')
    assert http.get(f"{DEPLOY}/web").status_code == 404
    proc = kubectl.run("apply", "--validate=warn", "-f", "-", input=manifest)
    assert proc.stdout == "deployment.apps/web created\n"
    assert proc.stderr == 'Warning: unknown field "spec.foo"\n'


def test_duplicate_create(http, kubectl):
    http.post(CM, json=configmap("dup", a="1")).raise_for_status()
    http.post(DEPLOY, json=deployment("web")).raise_for_status()
    rolled_out(http, "web")  # the controllers write its status and revision; then nothing touches it
    before = stored(http)
    details = failure(http.post(CM, json=configmap("dup", a="2")), 409, "AlreadyExists",
                      'configmaps "dup" already exists')
    assert details == {"name": "dup", "kind": "configmaps"}
    details = failure(http.post(DEPLOY, json=deployment("web", replicas=5)), 409, "AlreadyExists",
                      'deployments.apps "web" already exists')
    assert details == {"name": "web", "group": "apps", "kind": "deployments"}
    proc = kubectl.run("create", "-f", "-", input=json.dumps(configmap("dup", a="3")), check=False)
    assert proc.returncode == 1
    assert proc.stderr == ('Error from server (AlreadyExists): error when creating "STDIN": '
                           'configmaps "dup" already exists\n')
    assert stored(http) == before


def test_body_too_large(http, kubectl, unchanged):
    big = json.dumps(configmap("big", blob="x" * (4 * 1024 * 1024))).encode()
    details = failure(http.post(CM, content=big, headers=JSON), 413, "RequestEntityTooLarge",
                      "Request entity too large: limit is 3145728")
    assert details == {}
    failure(http.put(f"{CM}/existing", content=big, headers=JSON), 413, "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728")
    manifest = kubectl.home / "big.json"
    manifest.write_bytes(big)
    proc = kubectl.run("create", "-f", str(manifest), check=False)
    assert proc.returncode == 1
    assert proc.stderr == (f'Error from server (RequestEntityTooLarge): error when creating "{manifest}": '
                           "Request entity too large: limit is 3145728\n")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/namespaces/default/frobs"),
    ("GET", "/api/v1/frobs"),
    ("POST", "/api/v1/namespaces/default/frobs"),
    ("GET", "/apis/apps/v1/namespaces/default/frobs"),
])
def test_unknown_resource(http, unchanged, method, path):
    resp = http.request(method, path, json=configmap("a") if method == "POST" else None)
    details = failure(resp, 404, "NotFound", "the server could not find the requested resource")
    assert details == {}


def test_namespace_that_does_not_exist(http, kubectl, unchanged):
    details = failure(http.post("/api/v1/namespaces/nope/configmaps", json=configmap("a")), 404, "NotFound",
                      'namespaces "nope" not found')
    assert details == {"name": "nope", "kind": "namespaces"}
    # reads do not look the namespace up: the object itself is what is missing
    details = failure(http.get("/api/v1/namespaces/nope/configmaps/a"), 404, "NotFound",
                      'configmaps "a" not found')
    assert details == {"name": "a", "kind": "configmaps"}
    proc = kubectl.run("create", "-n", "nope", "-f", "-", input=json.dumps(configmap("a")), check=False)
    assert proc.returncode == 1
    assert proc.stderr == 'Error from server (NotFound): error when creating "STDIN": namespaces "nope" not found\n'


def test_create_in_terminating_namespace(http, kubectl):
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "term", "finalizers": ["example.com/hold"]}}
    http.post("/api/v1/namespaces", json=ns).raise_for_status()
    assert http.delete("/api/v1/namespaces/term").status_code in (200, 202)
    live = http.get("/api/v1/namespaces/term").json()
    assert live["status"]["phase"] == "Terminating"
    assert "deletionTimestamp" in live["metadata"]
    # the namespace controller empties it and drops its "kubernetes" finalizer (its last write); our own keeps it
    eventually(lambda: not http.get("/api/v1/namespaces/term").json().get("spec", {}).get("finalizers"), timeout=20)
    before = stored(http)
    details = failure(http.post("/api/v1/namespaces/term/configmaps", json=configmap("foo")), 403, "Forbidden",
                      'configmaps "foo" is forbidden: unable to create new content in namespace term because it '
                      "is being terminated")
    assert details == {"name": "foo", "kind": "configmaps",
                       "causes": [{"reason": "NamespaceTerminating", "message": "namespace term is being terminated",
                                   "field": "metadata.namespace"}]}
    proc = kubectl.run("create", "-n", "term", "-f", "-", input=json.dumps(configmap("foo")), check=False)
    assert proc.returncode == 1
    assert proc.stderr == ('Error from server (Forbidden): error when creating "STDIN": configmaps "foo" is '
                           "forbidden: unable to create new content in namespace term because it is being "
                           "terminated\n")
    assert stored(http) == before


def test_stale_resource_version(http, kubectl):
    first = http.post(CM, json=configmap("c", a="1")).json()
    current = http.put(f"{CM}/c", json={**first, "data": {"a": "2"}}).json()
    before = stored(http)
    message = ('Operation cannot be fulfilled on configmaps "c": the object has been modified; please apply your '
               "changes to the latest version and try again")
    details = failure(http.put(f"{CM}/c", json={**first, "data": {"a": "3"}}), 409, "Conflict", message)
    assert details == {"name": "c", "kind": "configmaps"}
    stale_patch = {"metadata": {"resourceVersion": first["metadata"]["resourceVersion"]}, "data": {"a": "4"}}
    failure(http.patch(f"{CM}/c", json=stale_patch, headers={"Content-Type": "application/merge-patch+json"}),
            409, "Conflict", message)
    old, new = first["metadata"]["resourceVersion"], current["metadata"]["resourceVersion"]
    details = failure(http.request("DELETE", f"{CM}/c", json={"preconditions": {"resourceVersion": old}}),
                      409, "Conflict",
                      f'Operation cannot be fulfilled on ConfigMap "c": the ResourceVersion in the precondition '
                      f"({old}) does not match the ResourceVersion in record ({new}). The object might have been "
                      "modified")
    assert details == {"name": "c", "kind": "ConfigMap"}
    manifest = kubectl.home / "old.json"
    manifest.write_text(json.dumps({**first, "data": {"a": "5"}}))
    proc = kubectl.run("replace", "-f", str(manifest), check=False)
    assert proc.returncode == 1
    assert proc.stderr == f'Error from server (Conflict): error when replacing "{manifest}": {message}\n'
    assert stored(http) == before


@pytest.mark.parametrize(("query", "message"), [
    ("labelSelector=a+in+b", "unable to parse requirement: found 'b' expected: '('"),
    ("labelSelector=a%3D%3Db%2C", "found '', expected: identifier after ','"),
    ("labelSelector=a+notin+(b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("fieldSelector=foo", "invalid selector: 'foo'; can't understand 'foo'"),
    ("fieldSelector=spec.foo%3Dbar", "field label not supported: spec.foo"),
])
def test_bad_selectors(http, unchanged, query, message):
    details = failure(http.get(f"/api/v1/namespaces/default/pods?{query}"), 400, "BadRequest", message)
    assert details == {}


def test_bad_label_selector_with_kubectl(kubectl):
    proc = kubectl.run("get", "configmaps", "-l", "a in b", check=False)
    assert proc.returncode == 1
    assert proc.stderr == ('Error from server (BadRequest): Unable to find "/v1, Resource=configmaps" that match '
                           'label selector "a in b", field selector "": unable to parse requirement: found \'b\' '
                           "expected: '('\n")


def test_dry_run_stores_nothing(http, kubectl, unchanged):
    resp = http.post(f"{CM}?dryRun=All", json=configmap("dry", a="1"))
    assert resp.status_code == 201
    obj = resp.json()
    assert obj["metadata"]["name"] == "dry" and obj["metadata"]["uid"] and obj["metadata"]["creationTimestamp"]
    assert "resourceVersion" not in obj["metadata"]
    failure(http.get(f"{CM}/dry"), 404, "NotFound", 'configmaps "dry" not found')
    # a dry run still fails as the real request would
    failure(http.post(f"{CM}?dryRun=All", json=configmap("existing")), 409, "AlreadyExists",
            'configmaps "existing" already exists')
    resp = http.put(f"{CM}/existing?dryRun=All", json=configmap("existing", a="changed"))
    assert resp.status_code == 200 and resp.json()["data"] == {"a": "changed"}
    assert http.delete(f"{CM}/existing?dryRun=All").status_code == 200
    cause = 'Unsupported value: []string{"Foo"}: supported values: "All"'
    details = failure(http.post(f"{CM}?dryRun=Foo", json=configmap("dry")), 422, "Invalid",
                      f'CreateOptions.meta.k8s.io "" is invalid: dryRun: {cause}')
    assert details["causes"] == [{"reason": "FieldValueNotSupported", "message": cause, "field": "dryRun"}]
    out = kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(configmap("dry")))
    assert out == "configmap/dry created (server dry run)\n"
    out = kubectl("delete", "configmap", "existing", "--dry-run=server")
    assert out == 'configmap "existing" deleted (server dry run)\n'


def test_server_side_apply_errors(http):
    apply = {"Content-Type": "application/apply-patch+yaml"}
    http.post(f"{CM}?fieldManager=creator", json=configmap("owned", a="1")).raise_for_status()
    # a manager missing from the request is taken from the User-Agent, up to its first "/"
    http.post(CM, json=configmap("by-agent", a="1"), headers={"User-Agent": "my-tool/1.0 (linux)"}).raise_for_status()
    before = stored(http)
    details = failure(http.patch(f"{CM}/owned?fieldManager=other", content=json.dumps(configmap("owned", a="2")),
                                 headers=apply), 409, "Conflict",
                      'Apply failed with 1 conflict: conflict with "creator" using v1: .data.a')
    assert details == {"causes": [{"reason": "FieldManagerConflict", "message": 'conflict with "creator" using v1',
                                   "field": ".data.a"}]}
    failure(http.patch(f"{CM}/by-agent?fieldManager=other", content=json.dumps(configmap("by-agent", a="2")),
                       headers=apply), 409, "Conflict",
            'Apply failed with 1 conflict: conflict with "my-tool" using v1: .data.a')
    cause = "Required value: is required for apply patch"
    details = failure(http.patch(f"{CM}/owned", content=json.dumps(configmap("owned", a="2")), headers=apply),
                      422, "Invalid", f'PatchOptions.meta.k8s.io "" is invalid: fieldManager: {cause}')
    assert details == {"group": "meta.k8s.io", "kind": "PatchOptions",
                       "causes": [{"reason": "FieldValueRequired", "message": cause, "field": "fieldManager"}]}
    assert stored(http) == before
