"""The real kubectl against a started server: the everyday verbs of the foundation issue."""

from __future__ import annotations

import json
from pathlib import Path

from controller_testing import assert_rolled_out_unavailable, async_http_client, eventually

MANIFESTS = Path(__file__).parent / "manifests"
SEED = str(MANIFESTS / "seed000.yaml")


def rolled_out(kubectl, name: str) -> dict:
    """The Deployment once the deployment controller has made its last write: with no kubelet to run its pods,
    that is the status counting all of them updated (the ReplicaSet has created them) and none available."""

    def done() -> dict:
        d = kubectl.json("get", "deployment", name)
        assert_rolled_out_unavailable(d)
        return d

    return eventually(done, timeout=20)


def test_apply_get_delete_seed_manifests(kubectl):
    out = kubectl("apply", "-f", SEED)
    assert "deployment.apps/helloworld created" in out
    assert "service/helloworld-backend created" in out
    deploy = kubectl.json("get", "deployment", "helloworld")
    assert deploy["spec"]["replicas"] == 2
    assert deploy["metadata"]["generation"] == 1
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "public.ecr.aws/nginx/nginx:1.21-perl"
    svc = kubectl.json("get", "svc", "helloworld-backend")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["ports"][0]["nodePort"] == 31479
    assert svc["spec"]["clusterIP"].startswith("10.")
    # applying again changes nothing (once the controllers are done writing the rollout's status)
    rv = rolled_out(kubectl, "helloworld")["metadata"]["resourceVersion"]
    assert "unchanged" in kubectl("apply", "-f", SEED)
    assert kubectl.json("get", "deployment", "helloworld")["metadata"]["resourceVersion"] == rv
    out = kubectl("delete", "-f", SEED)
    assert 'deployment.apps "helloworld" deleted' in out
    assert 'service "helloworld-backend" deleted' in out
    proc = kubectl.run("get", "deployment", "helloworld", check=False)
    assert proc.returncode == 1
    assert 'Error from server (NotFound): deployments.apps "helloworld" not found' in proc.stderr
    # the garbage collector deletes the ReplicaSet the Deployment owned, and so the pods that one owned
    eventually(lambda: kubectl.run("get", "replicasets,pods").stderr == "No resources found in default namespace.\n",
               timeout=20)


def test_output_formats(kubectl):
    kubectl("apply", "-f", SEED)
    assert kubectl("get", "deploy", "helloworld", "-o", "jsonpath={.spec.template.spec.containers[0].name}") \
        == "helloworld"
    assert "kind: Deployment" in kubectl("get", "deploy", "helloworld", "-o", "yaml")
    names = kubectl("get", "deploy,svc", "-o", "name").split()
    assert names == ["deployment.apps/helloworld", "service/helloworld-backend", "service/kubernetes"]
    listed = kubectl.json("get", "svc")
    assert listed["kind"] == "List"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["helloworld-backend", "kubernetes"]
    kubernetes = kubectl.json("get", "svc", "kubernetes")
    assert kubernetes["spec"]["clusterIP"] == "10.96.0.1"
    assert kubernetes["spec"]["ports"][0]["port"] == 443


def test_api_resources_and_versions(kubectl):
    out = kubectl("api-resources")
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines["deployments"][1:] == ["deploy", "apps/v1", "true", "Deployment"]
    assert lines["namespaces"][1:] == ["ns", "v1", "false", "Namespace"]
    assert lines["customresourcedefinitions"][1:] == ["crd,crds", "apiextensions.k8s.io/v1", "false",
                                                      "CustomResourceDefinition"]
    versions = kubectl("api-versions").split()
    assert {"v1", "apps/v1", "batch/v1", "autoscaling/v2", "autoscaling/v1", "policy/v1"} <= set(versions)
    server = json.loads(kubectl("version", "-o", "json"))["serverVersion"]
    assert server["gitVersion"] == "v1.32.0"


def test_label_annotate_patch_scale(kubectl):
    kubectl("apply", "-f", SEED)
    kubectl("label", "deploy", "helloworld", "tier=web")
    kubectl("annotate", "deploy", "helloworld", "owner=team-a")
    d = kubectl.json("get", "deploy", "helloworld")
    assert d["metadata"]["labels"] == {"tier": "web"}
    assert d["metadata"]["annotations"]["owner"] == "team-a"
    kubectl("label", "deploy", "helloworld", "tier-")
    assert "labels" not in kubectl.json("get", "deploy", "helloworld")["metadata"] or \
        kubectl.json("get", "deploy", "helloworld")["metadata"]["labels"] == {}
    kubectl("patch", "deploy", "helloworld", "-p", '{"spec":{"replicas":4}}')
    assert kubectl.json("get", "deploy", "helloworld")["spec"]["replicas"] == 4
    kubectl("patch", "deploy", "helloworld", "--type", "merge", "-p", '{"spec":{"minReadySeconds":5}}')
    kubectl("patch", "deploy", "helloworld", "--type", "json",
            "-p", '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.27"}]')
    d = kubectl.json("get", "deploy", "helloworld")
    assert d["spec"]["minReadySeconds"] == 5
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    gen = d["metadata"]["generation"]
    kubectl("scale", "deploy", "helloworld", "--replicas", "1")
    d = kubectl.json("get", "deploy", "helloworld")
    assert d["spec"]["replicas"] == 1
    assert d["metadata"]["generation"] == gen + 1
    # a strategic merge patch merges containers by name
    kubectl("patch", "deploy", "helloworld", "-p",
            '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}')
    names = [c["name"] for c in kubectl.json("get", "deploy", "helloworld")["spec"]["template"]["spec"]["containers"]]
    assert sorted(names) == ["helloworld", "sidecar"]


def test_not_found_and_unknown_kind_errors(kubectl):
    proc = kubectl.run("get", "pod", "nope", check=False)
    assert proc.returncode == 1
    assert 'Error from server (NotFound): pods "nope" not found' in proc.stderr
    proc = kubectl.run("get", "frobnicators", check=False)
    assert proc.returncode == 1
    assert 'the server doesn\'t have a resource type "frobnicators"' in proc.stderr
    proc = kubectl.run("get", "pods", "-n", "ghost", check=False)
    assert proc.returncode == 0
    assert "No resources found in ghost namespace." in proc.stderr


def test_concurrent_services_never_share_a_node_port(server):
    """Node ports and cluster IPs are unique even when many Services are created at once."""
    import asyncio

    import httpx

    async def create_all() -> list[httpx.Response]:
        async with async_http_client(server.admin, timeout=120) as c:
            body = lambda i: {"metadata": {"name": f"s{i}"},  # noqa: E731
                              "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
            first = await asyncio.gather(*(c.post("/api/v1/namespaces/default/services", json=body(i))
                                           for i in range(60)))
            taken = {r.json()["spec"]["ports"][0]["nodePort"] for r in first if r.status_code == 201}
            port = next(p for p in range(30555, 32768) if p not in taken)  # free, whatever the first got
            fixed = {"metadata": {"name": "x"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}}
            same = await asyncio.gather(*(c.post("/api/v1/namespaces/default/services",
                                                 json={**fixed, "metadata": {"name": f"fixed{i}"}}) for i in range(5)))
            return list(first) + list(same), port

    responses, port = asyncio.run(create_all())
    created = [r.json() for r in responses if r.status_code == 201]
    ports = [s["spec"]["ports"][0]["nodePort"] for s in created]
    ips = [s["spec"]["clusterIP"] for s in created]
    assert len(ports) == len(set(ports)) and len(ips) == len(set(ips))
    assert sum(1 for p in ports if p == port) == 1
    refused = [r.json() for r in responses if r.status_code == 422]
    assert len(refused) == 4
    assert refused[0]["message"].endswith(f"spec.ports[0].nodePort: Invalid value: {port}: provided port is already "
                                          "allocated")
