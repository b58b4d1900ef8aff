"""RBAC, the Node authorizer and impersonation on a server authorizing with Node,RBAC, through kubectl and
the components' own credentials."""

from __future__ import annotations

import asyncio

import rbac_testing
from controller_testing import Api, eventually
from rbac_testing import bind, group, user
from timoneiro.apiserver.server import ServerThread
from timoneiro.client import Client
from timoneiro.client.resources import PODS
from timoneiro.kubelet import Kubelet, KubeletSettings
from timoneiro.scheduler.scheduler import Scheduler

server, api, as_user = rbac_testing.server, rbac_testing.api, rbac_testing.as_user  # the fixtures
RBAC = "/apis/rbac.authorization.k8s.io/v1"
FAST = KubeletSettings(node_status_update_frequency=0.5, node_status_report_frequency=0.5, retry_initial=0.05)
ESCALATION = ('is attempting to grant RBAC permissions not currently held:\n'
              '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}')


def namespace(api, name: str) -> None:
    api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def test_view_in_one_namespace_only(api, as_user):
    namespace(api, "other")
    bind(api, "default", "jane-view", "view", user("jane"))
    jane = as_user("jane")
    assert "No resources found" in jane.run("get", "pods", "-n", "default").stderr
    denied = jane.run("get", "pods", "-n", "other", check=False)
    assert denied.returncode == 1
    assert denied.stderr.strip() == ('Error from server (Forbidden): pods is forbidden: User "jane" cannot list '
                                     'resource "pods" in API group "" in the namespace "other"')
    create = jane.run("run", "web", "--image=nginx", "-n", "default", check=False)
    assert 'pods is forbidden: User "jane" cannot create resource "pods" in API group "" in the namespace ' \
           '"default"' in create.stderr
    # a namespace's own object is read in that namespace
    assert jane.json("get", "namespace", "default")["metadata"]["name"] == "default"
    other = jane.run("get", "namespace", "other", check=False)
    assert 'namespaces "other" is forbidden: User "jane" cannot get resource "namespaces" in API group "" in ' \
           'the namespace "other"' in other.stderr


def test_administrators_and_strangers(api, kubectl, as_user):
    assert kubectl("auth", "can-i", "*", "*").strip() == "yes"
    kubectl("create", "clusterrole", "reader", "--verb=get", "--resource=nodes")
    stranger = as_user("nobody")
    denied = stranger.run("get", "pods", check=False)
    assert 'pods is forbidden: User "nobody" cannot list resource "pods"' in denied.stderr
    assert "Server Version: v1.32" in stranger("version")
    assert "pods" in stranger("api-resources", "--api-group=")
    masters = as_user("root", "system:masters")  # the privileged group needs no binding at all
    assert masters("auth", "can-i", "delete", "nodes").strip() == "yes"


def test_escalation_through_a_binding(api, as_user):
    bind(api, "default", "jane-admin", "admin", user("jane"))
    jane = as_user("jane")
    refused = jane.run("create", "rolebinding", "root", "--clusterrole=cluster-admin", "--user=jane",
                       "-n", "default", check=False)
    assert refused.returncode == 1
    assert ('rolebindings.rbac.authorization.k8s.io "root" is forbidden: user "jane" '
            f'(groups=["system:authenticated"]) {ESCALATION}') in refused.stderr
    role = jane.run("create", "role", "node-reader", "--verb=get", "--resource=secrets,nodes", "-n", "default",
                    check=False)
    assert ('roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "jane" (groups=["system:authenticated"]) '
            'is attempting to grant RBAC permissions not currently held:\n'
            '{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}') in role.stderr
    # a role she holds every permission of is hers to grant
    jane("create", "role", "secret-reader", "--verb=get", "--resource=secrets", "-n", "default")
    # with `bind` on cluster-admin, binding it needs no more
    api.post(f"{RBAC}/clusterroles", {"metadata": {"name": "bind-cluster-admin"}, "rules": [
        {"verbs": ["bind"], "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
         "resourceNames": ["cluster-admin"]}]})
    bind(api, None, "jane-binds", "bind-cluster-admin", user("jane"))
    jane("create", "rolebinding", "root", "--clusterrole=cluster-admin", "--user=jane", "-n", "default")
    assert jane("auth", "can-i", "delete", "secrets", "-n", "default").strip() == "yes"


def test_aggregation_extends_view(api, as_user):
    api.post(f"{RBAC}/clusterroles", {"metadata": {"name": "widgets-view", "labels": {
        "rbac.authorization.k8s.io/aggregate-to-view": "true"}}, "rules": [
        {"verbs": ["get", "list"], "apiGroups": ["example.com"], "resources": ["widgets"]}]})
    widget_rule = {"verbs": ["get", "list"], "apiGroups": ["example.com"], "resources": ["widgets"]}
    eventually(lambda: widget_rule in api.get(f"{RBAC}/clusterroles/view")["rules"])
    eventually(lambda: widget_rule in api.get(f"{RBAC}/clusterroles/admin")["rules"])  # view -> edit -> admin
    bind(api, "default", "jane-view", "view", user("jane"))
    review = api.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {"user": "jane",
        "resourceAttributes": {"namespace": "default", "verb": "list", "group": "example.com",
                               "resource": "widgets"}}})
    assert review["status"] == {"allowed": True, "reason": 'RBAC: allowed by RoleBinding "jane-view/default" of '
                                                          'ClusterRole "view" to User "jane"'}
    # a user without cluster-admin's permissions may not set an aggregationRule
    bind(api, None, "jane-roles", "edit-clusterroles", user("jane"))
    api.post(f"{RBAC}/clusterroles", {"metadata": {"name": "edit-clusterroles"}, "rules": [
        {"verbs": ["create"], "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"]}]})
    sneaky = as_user("jane").run("create", "clusterrole", "all", "--aggregation-rule=x=y", check=False)
    assert 'clusterroles.rbac.authorization.k8s.io "all" is forbidden: must have cluster-admin privileges to ' \
           'use the aggregationRule' in sneaky.stderr


def test_node_reads_only_what_its_pods_use(api, server):
    for name in ("mounted", "unrelated"):
        api.post("/api/v1/namespaces/default/secrets", {"metadata": {"name": name}, "stringData": {"k": "v"}})
    api.post("/api/v1/namespaces/default/pods", {"metadata": {"name": "web"}, "spec": {
        "nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}],
        "volumes": [{"name": "s", "secret": {"secretName": "mounted"}}]}})
    n1, n2 = Api(server.node("n1")), Api(server.node("n2"))
    try:
        assert n1.get("/api/v1/namespaces/default/secrets/mounted")["metadata"]["name"] == "mounted"
        denied = n1.get("/api/v1/namespaces/default/secrets/unrelated", ok=(403,))
        assert denied["message"] == ('secrets "unrelated" is forbidden: User "system:node:n1" cannot get resource '
                                     '"secrets" in API group "" in the namespace "default": no relationship found '
                                     "between node 'n1' and this object")
        assert n2.get("/api/v1/namespaces/default/secrets/mounted", ok=(403,))["code"] == 403
        listed = n1.get("/api/v1/namespaces/default/secrets", ok=(403,))
        assert listed["message"].endswith("No Object name found")
        mine = n1.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dn1")
        assert [p["metadata"]["name"] for p in mine["items"]] == ["web"]
        assert n1.get("/api/v1/pods", ok=(403,))["message"].endswith(
            "can only list/watch pods with spec.nodeName field selector")
        assert n1.get("/api/v1/nodes/n2", ok=(403,))["message"].endswith(
            "node 'n1' cannot read 'n2', only its own Node object")
    finally:
        n1.close()
        n2.close()


async def test_kubelet_and_scheduler_with_their_own_credentials(server):
    kubelet = Kubelet(server.node("n1"), "n1", settings=FAST)
    scheduler = Scheduler(server.config("scheduler.conf"))
    await kubelet.start()
    await scheduler.start()
    try:
        async with Client(server.admin) as admin:
            await admin.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app",
                                      "namespace": "default"}, "spec": {"containers": [{"name": "c",
                                                                                       "image": "nginx"}]}})
            deadline = asyncio.get_running_loop().time() + 30
            while True:
                pod = await admin.get(PODS, "app", "default")
                if (pod.get("status") or {}).get("phase") == "Running":
                    break
                assert asyncio.get_running_loop().time() < deadline, pod
                await asyncio.sleep(0.1)
            assert pod["spec"]["nodeName"] == "n1"
    finally:
        await scheduler.stop()
        await kubelet.stop()


def test_impersonation(server, api, kubectl, as_user):
    bind(api, "default", "viewers", "view", group("viewers"))
    bind(api, "default", "jane-view", "view", user("jane"))
    bob = as_user("bob")
    # kubectl's discovery fails first, and (as against kube-apiserver) it words that "unknown"
    assert bob.run("get", "pods", "--as", "jane", check=False).stderr.splitlines()[-1] == \
        "Error from server (Forbidden): unknown"
    bob_api = Api(server.user("bob"))
    refused = bob_api.http.get("/api/v1/namespaces/default/pods", headers={"Impersonate-User": "jane"}).json()
    assert refused == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message":
                       'users "jane" is forbidden: User "bob" cannot impersonate resource "users" in API group "" '
                       'at the cluster scope', "reason": "Forbidden", "details": {"name": "jane", "kind": "users"},
                       "code": 403}
    bob_api.close()
    # the administrator may impersonate anyone, and the request is then jane's
    as_jane = kubectl.run("get", "pods", "-n", "kube-system", "--as", "jane", check=False)
    assert 'User "jane" cannot list resource "pods" in API group "" in the namespace "kube-system"' in as_jane.stderr
    assert "No resources found" in kubectl.run("get", "pods", "--as", "someone", "--as-group", "viewers").stderr
    assert kubectl("auth", "whoami", "--as", "someone", "--as-group", "viewers").splitlines()[1:] == [
        "Username    someone", "Groups      [viewers system:authenticated]"]
    # bob may impersonate jane, but not her groups
    api.post(f"{RBAC}/clusterroles", {"metadata": {"name": "impersonate-jane"}, "rules": [
        {"verbs": ["impersonate"], "apiGroups": [""], "resources": ["users"], "resourceNames": ["jane"]}]})
    bind(api, None, "bob-is-jane", "impersonate-jane", user("bob"))
    assert "No resources found" in bob.run("get", "pods", "--as", "jane").stderr
    grouped = bob.run("get", "pods", "--as", "jane", "--as-group", "viewers", check=False)
    assert 'groups "viewers" is forbidden: User "bob" cannot impersonate resource "groups" in API group "" at ' \
           'the cluster scope' in grouped.stderr


def test_default_policy_is_reconciled_on_start(tmp_path):
    data = str(tmp_path / "reconciled")
    srv = ServerThread(data, controllers=False, authorization_mode="Node,RBAC").start()
    admin = Api(srv.admin)
    try:
        role = admin.get(f"{RBAC}/clusterroles/system:basic-user")
        admin.put(f"{RBAC}/clusterroles/system:basic-user", {**role, "rules": role["rules"][:1]})
        kept = admin.get(f"{RBAC}/clusterroles/system:heapster")
        kept["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] = "false"
        admin.put(f"{RBAC}/clusterroles/system:heapster", {**kept, "rules": []})
        binding = admin.get(f"{RBAC}/clusterrolebindings/system:discovery")
        extra = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "extra"}
        admin.put(f"{RBAC}/clusterrolebindings/system:discovery", {**binding, "subjects": [extra]})
        admin.delete(f"{RBAC}/clusterrolebindings/kubeadm:cluster-admins")
    finally:
        admin.close()
        srv.stop()
    srv = ServerThread(data, controllers=False, authorization_mode="Node,RBAC").start()
    admin = Api(srv.admin)
    try:
        assert admin.get(f"{RBAC}/clusterroles/system:basic-user")["rules"] == [
            {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
             "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
            {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]}]
        assert admin.get(f"{RBAC}/clusterroles/system:heapster").get("rules") in (None, [])
        assert [s["name"] for s in admin.get(f"{RBAC}/clusterrolebindings/system:discovery")["subjects"]] == [
            "extra", "system:authenticated"]
        assert admin.get(f"{RBAC}/clusterrolebindings/kubeadm:cluster-admins")["roleRef"]["name"] == "cluster-admin"
    finally:
        admin.close()
        srv.stop()
