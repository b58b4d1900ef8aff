"""A server authorizing as kube-apiserver --authorization-mode=Node,RBAC does, with the ClusterRole
aggregation controller running as its own ServiceAccount (so `view`, `edit` and `admin` have rules), and
kubectl as any user."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from conftest import Kubectl
from controller_testing import Api, eventually
from timoneiro.apiserver.server import ServerThread
from timoneiro.client import Client, ClientConfig
from timoneiro.client.informer import InformerFactory
from timoneiro.controllers.clusterroleaggregation import ClusterRoleAggregationController

AGGREGATOR = "clusterrole-aggregation-controller"


async def run_aggregation(config) -> None:
    async with Client(config) as client:
        informers = InformerFactory(client)
        controller = ClusterRoleAggregationController(client, informers)
        informers.start()
        try:
            await informers.wait_for_sync()
            await controller.run()
        finally:
            controller.queue.shutdown()
            await informers.stop()


def service_account_config(srv: ServerThread, name: str, namespace: str = "kube-system") -> ClientConfig:
    """Client settings with a token of ServiceAccount `name` (made if missing)."""
    admin = Api(srv.admin)
    try:
        admin.post(f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": name}}, ok=(409,))
        answer = admin.post(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                             "spec": {"expirationSeconds": 3600}})
    finally:
        admin.close()
    return dataclasses.replace(srv.admin, cert_data=None, key_data=None, token=answer["status"]["token"])


@pytest.fixture
def server(tmp_path: Path):
    srv = ServerThread(str(tmp_path / "data"), controllers=False, authorization_mode="Node,RBAC").start()
    # no controller manager here: the "default" ServiceAccount pods run as is made now, as pods need it
    service_account_config(srv, "default", "default")
    aggregation = asyncio.run_coroutine_threadsafe(run_aggregation(service_account_config(srv, AGGREGATOR)),
                                                   srv.loop)
    yield srv
    srv.loop.call_soon_threadsafe(aggregation.cancel)
    srv.stop()


@pytest.fixture
def api(server: ServerThread):
    client = Api(server.admin)
    eventually(lambda: client.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/view").get("rules"))
    yield client
    client.close()


@pytest.fixture
def as_user(server: ServerThread, tmp_path: Path):
    """kubectl as a user with a new client certificate: as_user("jane", "group")."""
    def make(name: str, *groups: str) -> Kubectl:
        home = tmp_path / f"home-{name}"
        home.mkdir(exist_ok=True)
        return Kubectl(home, server.user(name, *groups))
    return make


def bind(api: Api, namespace: str | None, name: str, role: str, subject: dict, role_kind: str = "ClusterRole"
         ) -> None:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings" if namespace \
        else "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
    api.post(path, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", **subject}]})


def user(name: str) -> dict:
    return {"kind": "User", "name": name}


def group(name: str) -> dict:
    return {"kind": "Group", "name": name}
