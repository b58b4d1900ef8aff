"""Several controller managers: the one holding the kube-controller-manager Lease acts, another takes over."""

from __future__ import annotations

import asyncio

import pytest

from timoneiro.apiserver.server import ServerThread
from timoneiro.client import Client
from timoneiro.client.resources import LEASES
from timoneiro.controllers.manager import ControllerManager


@pytest.fixture
def bare_server(tmp_path):
    srv = ServerThread(str(tmp_path / "data"), controllers=False).start()
    yield srv
    srv.stop()


async def holder(client: Client) -> str:
    lease = await client.get(LEASES, "kube-controller-manager", "kube-system")
    return lease["spec"]["holderIdentity"]


async def test_one_manager_leads_and_another_takes_over(bare_server):
    first = ControllerManager(bare_server.admin, identity="first", lease_seconds=2, retry_period=0.2)
    second = ControllerManager(bare_server.admin, identity="second", lease_seconds=2, retry_period=0.2)
    async with Client(bare_server.admin) as client:
        await first.start()
        waiting = asyncio.create_task(second.start())
        await asyncio.sleep(1.0)
        assert not waiting.done()  # the Lease is live: the second one stands by
        assert await holder(client) == "first"
        await first.stop()  # a clean stop releases the Lease
        await asyncio.wait_for(waiting, 5)
        assert await holder(client) == "second"
        lease = await client.get(LEASES, "kube-controller-manager", "kube-system")
        assert lease["spec"]["leaseTransitions"] == 1
        await second.stop()


async def test_an_unrenewed_lease_expires(bare_server):
    async with Client(bare_server.admin) as client:
        await client.create(LEASES, {"metadata": {"name": "kube-controller-manager", "namespace": "kube-system"},
                                     "spec": {"holderIdentity": "gone", "leaseDurationSeconds": 1,
                                              "renewTime": "2026-01-01T00:00:00.000000Z"}}, "kube-system")
        manager = ControllerManager(bare_server.admin, identity="new", lease_seconds=2, retry_period=0.2)
        await asyncio.wait_for(manager.start(), 5)  # waits out one lease duration, by its own clock
        assert await holder(client) == "new"
        await manager.stop()
