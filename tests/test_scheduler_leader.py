"""Several schedulers: the one holding the kube-system/kube-scheduler Lease binds pods, a standby takes over once
it goes, and one that loses its Lease stops scheduling. As kube-scheduler.conf's identity, whose RBAC role
allows exactly this Lease."""

from __future__ import annotations

import asyncio

from test_scheduler import add_node, node_of
from test_scheduler_support import node, pod
from timoneiro.client import Client
from timoneiro.client.resources import LEASES, PODS
from timoneiro.scheduler import Scheduler


def scheduler(server, identity: str) -> Scheduler:
    return Scheduler(server.config("scheduler.conf"), identity=identity, lease_seconds=2, retry_period=0.2)


async def holder(client: Client) -> str:
    return (await client.get(LEASES, "kube-scheduler", "kube-system"))["spec"]["holderIdentity"]


async def test_the_leader_schedules_and_a_standby_takes_over(server, client):
    await add_node(client, node("n1"))
    first, second = scheduler(server, "first"), scheduler(server, "second")
    await first.start()
    standby = asyncio.create_task(second.start())
    try:
        await client.create(PODS, pod("early"))
        assert await node_of(client, "early") == "n1"
        assert not standby.done() and await holder(client) == "first"
        assert (first.stats["scheduled"], second.stats["scheduled"]) == (1, 0)
        await first.stop()  # a clean stop gives the Lease up
        await asyncio.wait_for(standby, 5)
        assert await holder(client) == "second"
        await client.create(PODS, pod("late"))
        assert await node_of(client, "late") == "n1"
        assert second.stats["scheduled"] == 1
    finally:
        standby.cancel()
        await second.stop()


async def test_a_scheduler_that_loses_its_lease_stops_scheduling(server, client):
    await add_node(client, node("n1"))
    s = scheduler(server, "mine")
    await s.start()
    try:
        lease = await client.get(LEASES, "kube-scheduler", "kube-system")
        lease["spec"].update(holderIdentity="usurper", leaseDurationSeconds=60)
        await client.update(LEASES, lease)  # another took it: renewing fails from now on

        for _ in range(100):  # the renew deadline is 2/3 of the lease: about 1.3 s
            if s.queue.closed:
                break
            await asyncio.sleep(0.05)
        assert s.queue.closed
        await client.create(PODS, pod("orphan"))
        await asyncio.sleep(0.5)
        assert "nodeName" not in (await client.get(PODS, "orphan", "default"))["spec"]
        assert await holder(client) == "usurper"  # a scheduler that lost does not give back what is not its own
    finally:
        await s.stop()


async def test_without_leader_election_no_lease_is_taken(server, client):
    s = Scheduler(server.config("scheduler.conf"), leader_elect=False)
    await s.start()
    try:
        await add_node(client, node("n1"))
        await client.create(PODS, pod("web"))
        assert await node_of(client, "web") == "n1"
        assert not [lease for lease in (await client.list(LEASES, "kube-system"))["items"]
                    if lease["metadata"]["name"] == "kube-scheduler"]
    finally:
        await s.stop()
