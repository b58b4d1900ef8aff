"""The official kubernetes Python client against a started server."""

from __future__ import annotations

import os
import threading

import pytest
from kubernetes import client, watch
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from timoneiro.apiserver.server import ServerThread


def api_client(srv: ServerThread) -> client.ApiClient:
    """The official client configured from the server's admin.conf, as users load their kubeconfig."""
    config = client.Configuration()
    kube_config.load_kube_config(os.path.join(srv.data_dir, "admin.conf"), client_configuration=config)
    return client.ApiClient(config)


@pytest.fixture
def core(server):
    with api_client(server) as c:
        yield client.CoreV1Api(c)


def configmap(name: str, data: dict | None = None) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"app": "demo"}), data=data or {})


def test_crud_on_several_kinds(server, core):
    with api_client(server) as c:
        apps = client.AppsV1Api(c)
        created = core.create_namespaced_config_map("default", configmap("one", {"a": "1"}))
        assert created.metadata.uid and created.metadata.resource_version
        assert core.read_namespaced_config_map("one", "default").data == {"a": "1"}
        created.data["b"] = "2"
        updated = core.replace_namespaced_config_map("one", "default", created)
        assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
        secret = core.create_namespaced_secret("default", client.V1Secret(
            metadata=client.V1ObjectMeta(name="s"), string_data={"password": "hunter2"}))
        assert secret.metadata.name == "s"
        deploy = apps.create_namespaced_deployment("default", client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=2, selector=client.V1LabelSelector(match_labels={"app": "web"}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels={"app": "web"}),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx")])))))
        assert deploy.spec.replicas == 2
        scale = apps.read_namespaced_deployment_scale("web", "default")
        assert scale.spec.replicas == 2 and scale.status.selector == "app=web"
        apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 5}})
        assert apps.read_namespaced_deployment("web", "default").spec.replicas == 5
        listed = core.list_namespaced_config_map("default", label_selector="app=demo")
        assert [i.metadata.name for i in listed.items] == ["one"]
        core.delete_namespaced_config_map("one", "default")
        with pytest.raises(ApiException) as err:
            core.read_namespaced_config_map("one", "default")
        assert err.value.status == 404


def test_stale_update_conflicts(core):
    first = core.create_namespaced_config_map("default", configmap("c"))
    first.data = {"x": "1"}
    core.replace_namespaced_config_map("c", "default", first)
    first.data = {"x": "2"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("c", "default", first)
    assert err.value.status == 409
    assert "the object has been modified; please apply your changes to the latest version" in err.value.body
    assert core.read_namespaced_config_map("c", "default").data == {"x": "1"}


def test_compacted_resource_version_is_gone(server, core):
    first = core.create_namespaced_config_map("default", configmap("a"))
    for i in range(3):
        core.create_namespaced_config_map("default", configmap(f"b{i}"))
    server.call(server.api.compact(server.api.store.revision))
    with pytest.raises(ApiException) as err:
        list(watch.Watch().stream(core.list_namespaced_config_map, "default",
                                  resource_version=first.metadata.resource_version, timeout_seconds=2))
    assert err.value.status == 410
    assert "too old resource version" in err.value.reason


def test_watch_resumes_after_server_restart(tmp_path):
    data = str(tmp_path / "data")
    srv = first = ServerThread(data, controllers=False).start()  # only this test's writes
    port = srv.port
    seen: list[tuple[str, str]] = []
    last_rv = {"rv": ""}
    stop = threading.Event()

    def watcher() -> None:
        while not stop.is_set():
            try:
                with api_client(first) as c:  # the same data dir and port across the restart
                    core = client.CoreV1Api(c)
                    w = watch.Watch()
                    for ev in w.stream(core.list_namespaced_config_map, "default",
                                       resource_version=last_rv["rv"] or None, timeout_seconds=5):
                        obj = ev["object"]
                        seen.append((ev["type"], obj.metadata.name))
                        last_rv["rv"] = obj.metadata.resource_version
            except Exception:  # the server went away: resume from the last resourceVersion
                stop.wait(0.1)

    try:
        with api_client(srv) as c:
            core = client.CoreV1Api(c)
            last_rv["rv"] = core.list_namespaced_config_map("default").metadata.resource_version
            t = threading.Thread(target=watcher, daemon=True)
            t.start()
            for i in range(5):
                core.create_namespaced_config_map("default", configmap(f"before-{i}"))
        _wait(lambda: len(seen) >= 5)
        srv.stop()
        srv = ServerThread(data, port=port, controllers=False).start()
        with api_client(srv) as c:
            core = client.CoreV1Api(c)
            for i in range(5):
                core.create_namespaced_config_map("default", configmap(f"after-{i}"))
            core.delete_namespaced_config_map("before-0", "default")
        _wait(lambda: len(seen) >= 11)
    finally:
        stop.set()
        srv.stop()
    expected = [("ADDED", f"before-{i}") for i in range(5)] + [("ADDED", f"after-{i}") for i in range(5)] + \
        [("DELETED", "before-0")]
    assert seen == expected


def _wait(cond, timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)
