"""NodeRestriction: a kubelet's identity (system:node:NAME) may only write what concerns its own node.

The admission plugin is tested on its own, on a server that authorizes everything: with the default
Node,RBAC some of these requests are refused earlier, by the authorizers, as upstream refuses them (the
last test shows those)."""

from __future__ import annotations

import pytest

from admission_testing import server_without_controllers
from conftest import Kubectl
from test_kubelet import FAST, eventually
from timoneiro.client import ApiError, Client
from timoneiro.client.resources import LEASES, NODES, PODS, Resource
from timoneiro.kubelet import Kubelet

CSINODES = Resource("storage.k8s.io", "v1", "csinodes", namespaced=False)


@pytest.fixture
def server(tmp_path):
    with server_without_controllers(tmp_path, "default", authorization_mode="AlwaysAllow") as srv:
        yield srv


def node(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def pod(name: str, node_name: str, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta},
            "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "nginx"}]}}


async def refused(call) -> str:
    with pytest.raises(ApiError) as caught:
        await call
    assert caught.value.code == 403
    return caught.value.status["message"]


async def test_a_node_writes_only_its_own_node(server):
    async with Client(server.node("n1")) as n1, Client(server.admin) as admin:
        await n1.create(NODES, node("n1", **{"kubernetes.io/hostname": "n1", "node.kubernetes.io/pool": "a"}))
        await admin.create(NODES, node("n2"))
        patched = await n1.patch(NODES, "n1", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                                 subresource="status")
        assert patched["status"]["conditions"][0]["status"] == "True"
        assert await refused(n1.patch(NODES, "n2", {"status": {"conditions": []}}, subresource="status")) == \
            'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'
        assert await refused(n1.delete(NODES, "n2")) == \
            'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'
        assert await refused(n1.patch(NODES, "n1", {"metadata": {"labels": {
            "node-restriction.kubernetes.io/trusted": "yes", "node-role.kubernetes.io/worker": ""}}})) == \
            ('nodes "n1" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/trusted, '
             "node-role.kubernetes.io/worker")
        assert await refused(n1.patch(NODES, "n1", {"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}})) \
            == 'nodes "n1" is forbidden: node "n1" is not allowed to modify taints'
        relabelled = await n1.patch(NODES, "n1", {"metadata": {"labels": {"topology.kubernetes.io/zone": "z",
                                                                          "team": "x"}}})
        assert relabelled["metadata"]["labels"]["topology.kubernetes.io/zone"] == "z"
    async with Client(server.node("n3")) as n3:
        assert await refused(n3.create(NODES, node("n3", **{"node-restriction.kubernetes.io/x": "1"}))) == \
            'nodes "n3" is forbidden: node "n3" is not allowed to set the following labels: ' \
            "node-restriction.kubernetes.io/x"
        # taints are the kubelet's to set when it registers (--register-with-taints)
        await n3.create(NODES, {**node("n3"), "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}})


def test_kubectl_as_a_node_cannot_label_itself_for_node_restriction(server, tmp_path):
    home = tmp_path / "kubelet"
    home.mkdir()
    as_node = Kubectl(home, server.node("n1"))
    as_node("create", "-f", "-", input='{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}')
    done = as_node.run("label", "node", "n1", "node-restriction.kubernetes.io/pci=true", check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == ('Error from server (Forbidden): nodes "n1" is forbidden: is not allowed to modify '
                                   "labels: node-restriction.kubernetes.io/pci")
    assert as_node("label", "node", "n1", "kubelet.kubernetes.io/disk=ssd").strip() == "node/n1 labeled"


async def test_a_node_writes_only_pods_bound_to_it(server):
    async with Client(server.node("n1")) as n1, Client(server.admin) as admin:
        me = await n1.create(NODES, node("n1"))
        await admin.create(NODES, node("n2"))
        await admin.create(PODS, pod("mine", "n1"), "default")
        await admin.create(PODS, pod("theirs", "n2"), "default")
        status = await n1.patch(PODS, "mine", {"status": {"phase": "Running"}}, "default", subresource="status")
        assert status["status"]["phase"] == "Running"
        assert await refused(n1.patch(PODS, "theirs", {"status": {"phase": "Running"}}, "default",
                                      subresource="status")) == \
            'pods "theirs" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to itself'
        assert await refused(n1.patch(PODS, "mine", {"metadata": {"labels": {"a": "b"}}}, "default")) == \
            'pods "mine" is forbidden: unexpected operation "UPDATE", node "n1" can only create and delete mirror pods'
        assert await refused(n1.create(PODS, pod("new", "n1"), "default")) == \
            ('pods "new" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only '
             "create mirror pods")
        owner = {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": me["metadata"]["uid"], "controller": True}
        mirror = pod("static-n1", "n1", annotations={"kubernetes.io/config.mirror": "hash"}, ownerReferences=[owner])
        assert (await n1.create(PODS, mirror, "default"))["metadata"]["name"] == "static-n1"
        stray = pod("static-n2", "n2", annotations={"kubernetes.io/config.mirror": "hash"}, ownerReferences=[owner])
        assert await refused(n1.create(PODS, stray, "default")) == \
            'pods "static-n2" is forbidden: node "n1" can only create pods with spec.nodeName set to itself'
        evict = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "theirs"}}
        assert await refused(n1.request("POST", PODS.path("default", "theirs", "eviction"), body=evict)) == \
            'pods "theirs" is forbidden: node n1 can only evict pods with spec.nodeName set to itself'
        assert await refused(n1.delete(PODS, "theirs", "default")) == \
            'pods "theirs" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself'
        await n1.delete(PODS, "mine", "default", grace_period_seconds=0)
        assert [p["metadata"]["name"] for p in (await admin.list(PODS, "default"))["items"]] == ["static-n1",
                                                                                                  "theirs"]


async def test_a_node_holds_only_its_own_lease_and_csinode(server):
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {"holderIdentity": "n1"}}
    async with Client(server.node("n1")) as n1:
        await n1.create(LEASES, {**lease, "metadata": {"name": "n1"}}, "kube-node-lease")
        assert await refused(n1.create(LEASES, {**lease, "metadata": {"name": "n2"}}, "kube-node-lease")) == \
            ('leases.coordination.k8s.io "n2" is forbidden: can only access node lease with the same name as the '
             "requesting node")
        assert await refused(n1.create(LEASES, {**lease, "metadata": {"name": "n1"}}, "default")) == \
            'leases.coordination.k8s.io "n1" is forbidden: can only access leases in the "kube-node-lease" system namespace'
        csinode = {"apiVersion": "storage.k8s.io/v1", "kind": "CSINode", "spec": {"drivers": []}}
        await n1.create(CSINODES, {**csinode, "metadata": {"name": "n1"}})
        assert await refused(n1.create(CSINODES, {**csinode, "metadata": {"name": "n2"}})) == \
            ('csinodes.storage.k8s.io "n2" is forbidden: can only access CSINode with the same name as the requesting '
             "node")


async def test_a_kubelet_with_its_own_identity_runs_its_pods(server):
    """Everything the kubelet writes (its Node, Lease, pod status, deletes) passes NodeRestriction."""
    kubelet = Kubelet(server.node("w1"), "w1", settings=FAST)
    await kubelet.start()
    try:
        async with Client(server.admin) as admin:
            await admin.create(PODS, pod("app", "w1"), "default")
            await eventually(lambda: _phase_is(admin, "app", "Running"))
            await admin.delete(PODS, "app", "default")
            await eventually(lambda: _phase_is(admin, "app", None))
            assert (await admin.get(LEASES, "w1", "kube-node-lease"))["spec"]["holderIdentity"] == "w1"
    finally:
        await kubelet.stop()


async def _phase_is(client: Client, name: str, phase: str | None) -> bool:
    try:
        return ((await client.get(PODS, name, "default")).get("status") or {}).get("phase") == phase
    except ApiError as e:
        if e.code == 404:
            return phase is None
        raise


async def test_with_node_and_rbac_authorization_refuses_first_as_upstream(tmp_path):
    """What system:node's rules and the Node authorizer do not grant never reaches NodeRestriction."""
    with server_without_controllers(tmp_path, "default") as srv:
        async with Client(srv.node("n1")) as n1, Client(srv.admin) as admin:
            await n1.create(NODES, node("n1"))
            await admin.create(NODES, node("n2"))
            await admin.create(PODS, pod("mine", "n1"), "default")
            # granted to nodes, limited by admission
            assert await refused(n1.patch(NODES, "n2", {"status": {"conditions": []}}, subresource="status")) == \
                'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'
            # not granted at all
            assert await refused(n1.delete(NODES, "n2")) == ('nodes "n2" is forbidden: User "system:node:n1" '
                                                             'cannot delete resource "nodes" in API group "" at the '
                                                             "cluster scope")
            assert await refused(n1.patch(PODS, "mine", {"metadata": {"labels": {"a": "b"}}}, "default")) == \
                ('pods "mine" is forbidden: User "system:node:n1" cannot patch resource "pods" in API group "" in '
                 'the namespace "default"')
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n1"}}
            assert await refused(n1.create(LEASES, lease, "default")) == \
                ('leases.coordination.k8s.io is forbidden: User "system:node:n1" cannot create resource "leases" in '
                 'API group "coordination.k8s.io" in the namespace "default": can only access leases in the '
                 '"kube-node-lease" system namespace')
