"""Per-controller credentials (--use-service-account-credentials): each controller acts as its kube-system
ServiceAccount with tokens from TokenRequest, renewed before they expire and after the server refuses
them; under Node,RBAC the controllers can only do their work that way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conftest import Kubectl
from controller_testing import Api, eventually
from timoneiro.apiserver.server import ServerThread
from timoneiro.client import ApiError, Client, ClientConfig
from timoneiro.client.resources import PODS, SERVICE_ACCOUNTS
from timoneiro.controllers.clock import FakeClock
from timoneiro.controllers.credentials import Credentials, ServiceAccountToken
from timoneiro.controllers.manager import CONTROLLERS

UPSTREAM_ACCOUNTS = {
    "NamespaceController": "namespace-controller", "GarbageCollector": "generic-garbage-collector",
    "EndpointsController": "endpoint-controller", "EndpointSliceController": "endpointslice-controller",
    "ServiceAccountsController": "service-account-controller", "RootCAPublisher": "root-ca-cert-publisher",
    "NodeLifecycleController": "node-controller", "TaintEvictionController": "node-controller",
    "DisruptionController": "disruption-controller", "PodGCController": "pod-garbage-collector",
    "JobController": "job-controller", "TTLAfterFinishedController": "ttl-after-finished-controller",
    "CronJobController": "cronjob-controller", "DaemonSetController": "daemon-set-controller",
    "StatefulSetController": "statefulset-controller", "ReplicaSetController": "replicaset-controller",
    "ReplicationControllerController": "replication-controller", "DeploymentController": "deployment-controller",
}


@pytest.fixture
def bare(tmp_path):
    srv = ServerThread(str(tmp_path / "bare"), controllers=False).start()
    yield srv
    srv.stop()


def test_controllers_are_named_for_upstreams_service_accounts():
    accounts = {cls.__name__: cls.service_account for cls in CONTROLLERS}
    assert {name: accounts[name] for name in UPSTREAM_ACCOUNTS} == UPSTREAM_ACCOUNTS


async def reviewed_user(admin: Client, token: str) -> dict:
    review = await admin.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                                 body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                       "spec": {"token": token}})
    return review["status"]["user"]


async def test_a_controller_client_acts_as_its_account(bare):
    async with Client(bare.config("controller-manager.conf")) as manager, Client(bare.admin) as admin:
        credentials = Credentials(manager)
        assert credentials.client_for("") is manager
        jobs = credentials.client_for("job-controller")
        assert credentials.client_for("job-controller") is jobs
        assert jobs.config.cert_data is None and jobs.config.user_agent.endswith(
            "/system:serviceaccount:kube-system:job-controller")
        await jobs.list(PODS, "default")  # the first request makes the account and gets its token
        account = await admin.get(SERVICE_ACCOUNTS, "job-controller", "kube-system")
        user = await reviewed_user(admin, await jobs.config.token_source.token())
        assert user["username"] == "system:serviceaccount:kube-system:job-controller"
        assert user["uid"] == account["metadata"]["uid"]
        await credentials.close()


async def test_tokens_are_renewed_late_in_their_life_and_after_a_refusal(bare):
    async with Client(bare.config("controller-manager.conf")) as manager, Client(bare.admin) as admin:
        clock = FakeClock(datetime.now(UTC))
        source = ServiceAccountToken(manager, "cronjob-controller", clock=clock)
        first = await source.token()
        clock.step(1000)
        assert await source.token() == first
        clock.step(2000)  # past 80% of the hour it was issued for
        renewed = await source.token()
        assert renewed != first

        # the account deleted and made again: the token is refused once, and a new one works
        client = Client(ClientConfig(server=bare.url, ca_data=bare.admin.ca_data, token_source=source))
        await client.list(PODS, "default")
        await admin.delete(SERVICE_ACCOUNTS, "cronjob-controller", "kube-system")
        with pytest.raises(ApiError) as e:
            await client.list(PODS, "default")
        assert e.value.code == 401
        await client.list(PODS, "default")
        assert (await reviewed_user(admin, await source.token()))["username"] == \
            "system:serviceaccount:kube-system:cronjob-controller"
        await client.close()


def test_under_rbac_controllers_work_as_their_accounts_not_as_the_manager(tmp_path):
    srv = ServerThread(str(tmp_path / "data"), authorization_mode="Node,RBAC").start()
    api = Api(srv.admin)
    try:
        home = tmp_path / "admin"
        home.mkdir()
        Kubectl(home, srv.admin)("create", "deployment", "web", "--image", "nginx", "--replicas", "2")
        eventually(lambda: len(api.get("/api/v1/namespaces/default/pods")["items"]) == 2, timeout=30)
        accounts = {sa["metadata"]["name"] for sa in api.get("/api/v1/namespaces/kube-system/serviceaccounts")["items"]}
        assert {"deployment-controller", "replicaset-controller"} <= accounts
        # the pods cannot have been made with the manager's own identity
        home = tmp_path / "manager"
        home.mkdir()
        refused = Kubectl(home, srv.config("controller-manager.conf")).run("run", "x", "--image", "nginx", check=False)
        assert 'User "system:kube-controller-manager" cannot create resource "pods"' in refused.stderr
    finally:
        api.close()
        srv.stop()
