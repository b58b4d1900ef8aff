"""The REST client against a real API server; TLS and kubeconfig handling against local fixtures."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import os
import ssl

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import add_default_service_account
from timoneiro.apiserver.server import ServerThread, free_port
from timoneiro.client import ApiError, Client, ClientConfig, Resource, TransportError
from timoneiro.client.kubeconfig import KubeconfigError, load_kubeconfig, merge_kubeconfig
from timoneiro.client.resources import CONFIGMAPS, DEPLOYMENTS, NAMESPACES, PODS

NS = "default"


@pytest.fixture
def server(tmp_path):
    """A server without controllers: these tests count and watch objects that only they write."""
    srv = ServerThread(str(tmp_path / "data"), controllers=False).start()
    add_default_service_account(srv)
    yield srv
    srv.stop()


def configmap(name: str, namespace: str = NS, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "data": {"k": "v"}}


def deployment(name: str) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


# CRUD


async def test_configmap_lifecycle(client):
    created = await client.create(CONFIGMAPS, configmap("a", tier="web"))
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    got = await client.get(CONFIGMAPS, "a", NS)
    assert got["data"] == {"k": "v"}

    got["data"]["k"] = "w"
    updated = await client.update(CONFIGMAPS, got)
    assert updated["data"]["k"] == "w"
    assert int(updated["metadata"]["resourceVersion"]) > int(got["metadata"]["resourceVersion"])

    merged = await client.patch(CONFIGMAPS, "a", {"data": {"m": "1"}}, NS)
    assert merged["data"] == {"k": "w", "m": "1"}
    jsonpatched = await client.patch(CONFIGMAPS, "a", [{"op": "remove", "path": "/data/k"}], NS, patch_type="json")
    assert jsonpatched["data"] == {"m": "1"}

    await client.delete(CONFIGMAPS, "a", NS)
    with pytest.raises(ApiError) as e:
        await client.get(CONFIGMAPS, "a", NS)
    assert (e.value.code, e.value.reason) == (404, "NotFound")
    assert e.value.status["details"]["name"] == "a"


async def test_cluster_scoped_namespaces(client):
    await client.create(NAMESPACES, {"metadata": {"name": "team-a", "labels": {"team": "a"}}})
    listed = await client.list(NAMESPACES, label_selector="team=a")
    assert [n["metadata"]["name"] for n in listed["items"]] == ["team-a"]
    await client.create(CONFIGMAPS, configmap("in-team", "team-a"))
    assert (await client.get(CONFIGMAPS, "in-team", "team-a"))["metadata"]["namespace"] == "team-a"


async def test_deployment_status_scale_and_strategic_patch(client):
    created = await client.create(DEPLOYMENTS, deployment("web"))
    created["status"] = {"observedGeneration": 1, "replicas": 1}
    with_status = await client.update_status(DEPLOYMENTS, created)
    assert with_status["status"]["observedGeneration"] == 1

    patch = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}}
    patched = await client.patch(DEPLOYMENTS, "web", patch, NS, patch_type="strategic")
    assert patched["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"

    scale = await client.get(DEPLOYMENTS, "web", NS, subresource="scale")
    assert (scale["kind"], scale["spec"]["replicas"]) == ("Scale", 1)
    scale["spec"]["replicas"] = 3
    await client.request("PUT", DEPLOYMENTS.path(NS, "web", "scale"), body=scale)
    assert (await client.get(DEPLOYMENTS, "web", NS))["spec"]["replicas"] == 3


async def test_server_side_apply_conflicts_unless_forced(client):
    await client.patch(CONFIGMAPS, "applied", configmap("applied"), NS, patch_type="apply", field_manager="one")
    change = {**configmap("applied"), "data": {"k": "mine"}}
    with pytest.raises(ApiError) as e:
        await client.patch(CONFIGMAPS, "applied", change, NS, patch_type="apply", field_manager="two")
    assert e.value.code == 409
    forced = await client.patch(CONFIGMAPS, "applied", change, NS, patch_type="apply", field_manager="two",
                                force=True)
    assert forced["data"] == {"k": "mine"}


async def test_pod_eviction_through_a_raw_request(client):
    await client.create(PODS, pod("evicted"))
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evicted", "namespace": NS},
                "deleteOptions": {"gracePeriodSeconds": 0}}
    answer = await client.request("POST", PODS.path(NS, "evicted", "eviction"), body=eviction)
    assert answer["status"] == "Success"
    with pytest.raises(ApiError) as e:
        await client.get(PODS, "evicted", NS)
    assert e.value.code == 404


async def test_pod_binding_through_a_raw_request(client):
    await client.create(PODS, pod("p"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    await client.request("POST", PODS.path(NS, "p", "binding"), body=binding)
    assert (await client.get(PODS, "p", NS))["spec"]["nodeName"] == "node-1"


async def test_delete_options(client):
    created = await client.create(CONFIGMAPS, configmap("guarded"))
    with pytest.raises(ApiError) as e:
        await client.delete(CONFIGMAPS, "guarded", NS, preconditions={"uid": "not-the-uid"})
    assert e.value.code == 409
    await client.delete(CONFIGMAPS, "guarded", NS, dry_run=True)
    await client.get(CONFIGMAPS, "guarded", NS)
    await client.delete(CONFIGMAPS, "guarded", NS, grace_period_seconds=0, propagation_policy="Background",
                        preconditions={"uid": created["metadata"]["uid"]})
    with pytest.raises(ApiError):
        await client.get(CONFIGMAPS, "guarded", NS)
    with pytest.raises(ApiError) as e:
        await client.delete(CONFIGMAPS, "x", NS, propagation_policy="Sometimes")
    assert e.value.code == 422


# errors


async def test_stale_update_is_a_conflict(client):
    first = await client.create(CONFIGMAPS, configmap("c"))
    await client.update(CONFIGMAPS, {**first, "data": {"k": "newer"}})
    with pytest.raises(ApiError) as e:
        await client.update(CONFIGMAPS, {**first, "data": {"k": "stale"}})
    assert (e.value.code, e.value.reason) == (409, "Conflict")
    with pytest.raises(ApiError) as e:
        await client.create(CONFIGMAPS, configmap("c"))
    assert (e.value.code, e.value.reason) == (409, "AlreadyExists")


async def test_compacted_resource_version_is_gone(server, client):
    old = (await client.create(CONFIGMAPS, configmap("old")))["metadata"]["resourceVersion"]
    newest = (await client.create(CONFIGMAPS, configmap("new")))["metadata"]["resourceVersion"]
    server.call(server.api.compact(int(newest)))
    with pytest.raises(ApiError) as e:
        async for _ in client.watch(CONFIGMAPS, NS, resource_version=old):
            pass
    assert e.value.code == 410 and e.value.resource_version_unavailable
    with pytest.raises(ApiError) as e:
        await client.request("GET", CONFIGMAPS.path(NS), params={"resourceVersion": old,
                                                                  "resourceVersionMatch": "Exact"})
    assert e.value.code == 410


async def test_non_status_error_body(client):
    with pytest.raises(ApiError) as e:
        await client.request("GET", "/no/such/path")
    assert (e.value.code, e.value.reason) == (404, "NotFound")
    assert "404 page not found" in e.value.message


async def test_unreachable_server_is_a_transport_error():
    async with Client(f"http://127.0.0.1:{free_port()}") as c:
        with pytest.raises(TransportError):
            await c.get(CONFIGMAPS, "a", NS)
        with pytest.raises(TransportError):
            async for _ in c.watch(CONFIGMAPS, NS):
                pass


# lists, watches, discovery


async def test_paging(client):
    for i in range(7):
        await client.create(CONFIGMAPS, configmap(f"page-{i}", paged="yes"))
    pages = [p async for p in client.pages(CONFIGMAPS, NS, label_selector="paged=yes", page_size=3)]
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert len({p["metadata"]["resourceVersion"] for p in pages}) == 1
    names = [i["metadata"]["name"] for p in pages for i in p["items"]]
    assert names == [f"page-{i}" for i in range(7)]

    whole = await client.list_all(CONFIGMAPS, NS, label_selector="paged=yes", page_size=2)
    assert [i["metadata"]["name"] for i in whole["items"]] == names
    assert whole["kind"] == "ConfigMapList" and "continue" not in whole["metadata"]

    from_cache = await client.list(CONFIGMAPS, NS, resource_version="0", label_selector="paged=yes")
    assert len(from_cache["items"]) == 7
    filtered = await client.list(CONFIGMAPS, NS, field_selector="metadata.name=page-4")
    assert [i["metadata"]["name"] for i in filtered["items"]] == ["page-4"]


async def test_list_all_lists_again_when_the_continue_token_expires(server, client, monkeypatch):
    for i in range(4):
        await client.create(CONFIGMAPS, configmap(f"item-{i}"))
    one_page = client.list

    async def list_then_compact(*args, **kwargs):
        page = await one_page(*args, **kwargs)
        if kwargs.get("continue_token") is None and kwargs.get("limit"):  # after the first page: expire it
            late = await client.create(CONFIGMAPS, configmap("late"))
            server.call(server.api.compact(int(late["metadata"]["resourceVersion"])))
        return page

    monkeypatch.setattr(client, "list", list_then_compact)
    whole = await client.list_all(CONFIGMAPS, NS, page_size=2)
    assert [i["metadata"]["name"] for i in whole["items"]] == [f"item-{i}" for i in range(4)] + ["late"]


async def test_watch_streams_changes_in_order(client):
    start = (await client.list(CONFIGMAPS, NS))["metadata"]["resourceVersion"]
    await client.create(CONFIGMAPS, configmap("w"))
    await client.patch(CONFIGMAPS, "w", {"data": {"k": "2"}}, NS)
    await client.delete(CONFIGMAPS, "w", NS)
    seen = []
    async with client.watch(CONFIGMAPS, NS, resource_version=start) as events:
        async for event in events:
            seen.append((event.type, event.object["metadata"]["name"]))
            if len(seen) == 3:
                break
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]

    # from no resourceVersion: the current state first
    await client.create(CONFIGMAPS, configmap("present"))
    async with client.watch(CONFIGMAPS, NS, timeout_seconds=1) as events:
        first = await anext(events)
    assert (first.type, first.object["metadata"]["name"]) == ("ADDED", "present")


async def test_watch_reads_objects_larger_than_a_read_buffer(client):
    start = (await client.list(CONFIGMAPS, NS))["metadata"]["resourceVersion"]
    big = {**configmap("big"), "data": {"k": "x" * 600_000}}
    await client.create(CONFIGMAPS, big)
    async with client.watch(CONFIGMAPS, NS, resource_version=start) as events:
        event = await anext(events)
    assert event.object["data"]["k"] == big["data"]["k"]


async def test_watch_ends_when_the_server_times_it_out(client):
    events = [e async for e in client.watch(CONFIGMAPS, NS, resource_version="1", timeout_seconds=1)]
    assert all(e.type in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK") for e in events)


async def test_discovery_maps_kinds_to_resources(client):
    assert await client.resource_for(deployment("d")) == DEPLOYMENTS
    assert await client.resource_for({"apiVersion": "v1", "kind": "Namespace"}) == NAMESPACES
    with pytest.raises(ApiError) as e:
        await client.resource_for({"apiVersion": "v1", "kind": "Nothing"})
    assert e.value.code == 404
    with pytest.raises(ApiError) as e:
        await client.resource_for({"apiVersion": "nothing.example.com/v1", "kind": "Nothing"})
    assert e.value.code == 404


async def test_many_tasks_share_one_client(client):
    made = await asyncio.gather(*(client.create(CONFIGMAPS, configmap(f"c-{i}")) for i in range(40)))
    assert len({m["metadata"]["resourceVersion"] for m in made}) == 40
    listed = await client.list(CONFIGMAPS, NS)
    assert len(listed["items"]) == 40


async def test_unknown_resource_is_not_found(client):
    with pytest.raises(ApiError) as e:
        await client.list(Resource("example.com", "v1", "widgets"), NS)
    assert e.value.code == 404


async def test_user_agent_names_the_field_manager(server):
    async with Client(dataclasses.replace(server.admin, user_agent="timoneiro-scheduler/0.1")) as c:
        made = await c.create(CONFIGMAPS, configmap("ua"))
    assert made["metadata"]["managedFields"][0]["manager"] == "timoneiro-scheduler"


# TLS: CA verification, client certificate and bearer token, against a small TLS server


def _cert(subject: str, issuer_key, issuer_name, ca: bool = False, san_ip: str | None = None):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san_ip:
        import ipaddress

        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(san_ip))]),
                                        critical=False)
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key, cert, cert.public_bytes(serialization.Encoding.PEM), pem_key


@pytest.fixture
def pki():
    ca_key, ca_cert, ca_pem, _ = _cert("test-ca", None, None, ca=True)
    _, _, server_pem, server_key = _cert("server", ca_key, ca_cert.subject, san_ip="127.0.0.1")
    _, _, client_pem, client_key = _cert("alice", ca_key, ca_cert.subject)
    return {"ca": ca_pem, "server": (server_pem, server_key), "client": (client_pem, client_key)}


async def test_tls_with_client_certificate_and_token(pki, tmp_path):
    (tmp_path / "s.crt").write_bytes(pki["server"][0])
    (tmp_path / "s.key").write_bytes(pki["server"][1])
    (tmp_path / "ca.crt").write_bytes(pki["ca"])
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tmp_path / "ca.crt"))
    server_ctx.load_cert_chain(str(tmp_path / "s.crt"), str(tmp_path / "s.key"))
    server_ctx.verify_mode = ssl.CERT_REQUIRED

    async def who(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert")
        cn = dict(x[0] for x in peer["subject"])["commonName"]
        return web.json_response({"cn": cn, "auth": request.headers.get("Authorization")})

    app = web.Application()
    app.router.add_get("/whoami", who)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ctx).start()
    try:
        config = ClientConfig(f"https://127.0.0.1:{port}", ca_data=pki["ca"], cert_data=pki["client"][0],
                              key_data=pki["client"][1], token="s3cret")
        async with Client(config) as c:
            assert await c.request("GET", "/whoami") == {"cn": "alice", "auth": "Bearer s3cret"}
        async with Client(ClientConfig(f"https://127.0.0.1:{port}", cert_data=pki["client"][0],
                                       key_data=pki["client"][1])) as c:
            with pytest.raises(TransportError):  # the server's CA is not trusted
                await c.request("GET", "/whoami")
    finally:
        await runner.cleanup()


# kubeconfig


def test_kubeconfig_merge_and_load(pki, tmp_path, monkeypatch):
    path = str(tmp_path / "kube" / "config")
    merge_kubeconfig("timoneiro-a", "https://127.0.0.1:6443", ca_data=pki["ca"], cert_data=pki["client"][0],
                     key_data=pki["client"][1], path=path)
    merge_kubeconfig("timoneiro-b", "https://127.0.0.1:7443", token="tok", path=path, set_current=False)
    merge_kubeconfig("timoneiro-a", "https://127.0.0.1:8443", ca_data=pki["ca"], path=path, set_current=False)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert not os.path.exists(path + ".lock")

    current = load_kubeconfig(path)  # a replaced entry, still current
    assert (current.server, current.ca_data, current.cert_data) == ("https://127.0.0.1:8443", pki["ca"], None)
    other = load_kubeconfig(path, context="timoneiro-b")
    assert (other.server, other.token, other.namespace) == ("https://127.0.0.1:7443", "tok", "default")
    assert other.ssl_context() is not None

    monkeypatch.setenv("KUBECONFIG", path)
    assert merge_kubeconfig("timoneiro-c", "https://127.0.0.1:9443") == path  # writes where kubectl would
    assert load_kubeconfig().server == "https://127.0.0.1:9443"
    with pytest.raises(KubeconfigError):
        load_kubeconfig(context="missing")


def test_kubeconfig_files_merge_like_kubectl(pki, tmp_path, monkeypatch):
    (tmp_path / "ca.crt").write_bytes(pki["ca"])
    (tmp_path / "tok").write_text("from-file\n")
    first = tmp_path / "first.yaml"
    second = tmp_path / "second.yaml"
    first.write_text("""
apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: dev
  context: {cluster: dev, user: dev, namespace: apps}
users:
- name: dev
  user: {tokenFile: tok}
""")
    second.write_text("""
apiVersion: v1
kind: Config
current-context: ignored
clusters:
- name: dev
  cluster: {server: "https://10.0.0.1:6443", certificate-authority: ca.crt}
users:
- name: dev
  user: {token: shadowed}
""")
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    config = load_kubeconfig()
    assert config.server == "https://10.0.0.1:6443"
    assert config.ca_file == str(tmp_path / "ca.crt")
    assert (config.token, config.namespace) == ("from-file", "apps")
    assert isinstance(config.ssl_context(), ssl.SSLContext)
