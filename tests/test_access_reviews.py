"""The review APIs behind `kubectl auth can-i` and `kubectl auth whoami`, on a server authorizing with
Node,RBAC."""

from __future__ import annotations

import rbac_testing
from controller_testing import Api
from rbac_testing import bind, user

server, api, as_user = rbac_testing.server, rbac_testing.api, rbac_testing.as_user  # the fixtures
AUTHZ = "/apis/authorization.k8s.io/v1"
BASIC_RULES = """\
Resources                                       Non-Resource URLs   Resource Names   Verbs
selfsubjectreviews.authentication.k8s.io        []                  []               [create]
selfsubjectaccessreviews.authorization.k8s.io   []                  []               [create]
selfsubjectrulesreviews.authorization.k8s.io    []                  []               [create]
                                                [/api/*]            []               [get]
                                                [/api]              []               [get]
                                                [/apis/*]           []               [get]
                                                [/apis]             []               [get]
                                                [/healthz]          []               [get]
                                                [/healthz]          []               [get]
                                                [/livez]            []               [get]
                                                [/livez]            []               [get]
                                                [/openapi/*]        []               [get]
                                                [/openapi]          []               [get]
                                                [/readyz]           []               [get]
                                                [/readyz]           []               [get]
                                                [/version/]         []               [get]
                                                [/version/]         []               [get]
                                                [/version]          []               [get]
                                                [/version]          []               [get]
"""


def test_can_i(api, kubectl, as_user):
    jane = as_user("jane")
    assert jane.run("auth", "can-i", "create", "pods", check=False).stdout == "no\n"
    bind(api, "default", "jane-edit", "edit", user("jane"))
    assert jane("auth", "can-i", "create", "pods") == "yes\n"
    assert jane.run("auth", "can-i", "create", "pods", "-n", "kube-system", check=False).stdout == "no\n"
    assert jane("auth", "can-i", "get", "pods", "--subresource=log") == "yes\n"
    assert jane.run("auth", "can-i", "get", "/metrics", check=False).stdout == "no\n"
    assert jane("auth", "can-i", "get", "/healthz") == "yes\n"
    assert kubectl("auth", "can-i", "list", "pods", "--as", "jane") == "yes\n"
    assert kubectl.run("auth", "can-i", "list", "nodes", "--as", "jane", check=False).stdout == "no\n"


def test_can_i_list(api, as_user):
    assert as_user("jane")("auth", "can-i", "--list") == BASIC_RULES
    bind(api, "default", "jane-secret-reader", "secret-reader", user("jane"), role_kind="Role")
    api.post("/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", {
        "metadata": {"name": "secret-reader"},
        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["token"]}]})
    listed = as_user("jane")("auth", "can-i", "--list", "-n", "default").splitlines()
    assert "secrets                                         []                  [token]          [get]" in listed
    elsewhere = as_user("jane")("auth", "can-i", "--list", "-n", "kube-public")
    assert elsewhere == BASIC_RULES


def test_whoami(kubectl, as_user):
    assert kubectl("auth", "whoami") == ("ATTRIBUTE   VALUE\nUsername    kubernetes-admin\n"
                                         "Groups      [kubeadm:cluster-admins system:authenticated]\n")
    assert as_user("jane", "devs")("auth", "whoami", "-o", "yaml") == """\
apiVersion: authentication.k8s.io/v1
kind: SelfSubjectReview
metadata:
  creationTimestamp: null
status:
  userInfo:
    groups:
    - devs
    - system:authenticated
    username: jane
"""


def test_subject_access_reviews(api, server):
    bind(api, "default", "jane-view", "view", user("jane"))
    ask = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
           "spec": {"user": "jane", "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}}}
    assert api.post(f"{AUTHZ}/subjectaccessreviews", ask)["status"] == {
        "allowed": True, "reason": 'RBAC: allowed by RoleBinding "jane-view/default" of ClusterRole "view" to User "jane"'}
    ask["spec"]["resourceAttributes"]["verb"] = "delete"
    assert api.post(f"{AUTHZ}/subjectaccessreviews", ask)["status"] == {"allowed": False}
    masters = dict(ask, spec={"groups": ["system:masters"], "nonResourceAttributes": {"path": "/x", "verb": "get"}})
    assert api.post(f"{AUTHZ}/subjectaccessreviews", masters)["status"] == {"allowed": True}
    nobody = api.post(f"{AUTHZ}/subjectaccessreviews", dict(ask, spec={"resourceAttributes": {}}), ok=(422,))
    assert nobody["message"] == ('SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": '
                                 "at least one of user or group must be specified")
    # a local review is about its own namespace only
    local = dict(ask, kind="LocalSubjectAccessReview", metadata={"namespace": "default"})
    local["spec"]["resourceAttributes"]["verb"] = "list"
    assert api.post(f"{AUTHZ}/namespaces/default/localsubjectaccessreviews", local)["status"]["allowed"] is True
    wrong = api.post(f"{AUTHZ}/namespaces/kube-system/localsubjectaccessreviews", local, ok=(400,))
    assert wrong["message"] == "the namespace of the provided object does not match the namespace sent on the request"
    elsewhere = dict(local, metadata={})
    elsewhere["spec"]["resourceAttributes"]["namespace"] = "kube-system"
    invalid = api.post(f"{AUTHZ}/namespaces/default/localsubjectaccessreviews", elsewhere, ok=(422,))
    assert invalid["message"] == ('LocalSubjectAccessReview.authorization.k8s.io "" is invalid: '
                                  'spec.resourceAttributes.namespace: Invalid value: "kube-system": must match '
                                  'metadata.namespace')
    # a node's rules depend on its pods: the list says it is incomplete
    node = Api(server.node("n1"))
    try:
        rules = node.post(f"{AUTHZ}/selfsubjectrulesreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": "default"}})["status"]
    finally:
        node.close()
    assert rules["incomplete"] is True
    assert rules["evaluationError"] == "node authorizer does not support user rule resolution"
