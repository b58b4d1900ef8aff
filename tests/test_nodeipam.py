"""The node IPAM controller: each node gets a pod range of its own from the cluster CIDR, as upstream's range
allocator gives them; ranges nodes hold are kept across a restart of the controller manager, a deleted
node's range is free again, and a network with none left says so in an event."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from timoneiro.apiserver.server import ServerThread
from timoneiro.client import Client
from timoneiro.client.informer import InformerFactory
from timoneiro.client.resources import EVENTS, NODES
from timoneiro.controllers.manager import ControllerManager
from timoneiro.controllers.nodeipam import CIDRSet, NodeIpamController


def test_ranges_go_round_robin_and_come_back():
    cidrs = CIDRSet("10.244.0.0/22")
    assert cidrs.count == 4
    assert cidrs.occupy("10.244.1.0/24")
    assert [cidrs.allocate(), cidrs.allocate(), cidrs.allocate()] == ["10.244.0.0/24", "10.244.2.0/24",
                                                                      "10.244.3.0/24"]
    assert cidrs.allocate() is None
    cidrs.release("10.244.0.0/24")
    assert cidrs.allocate() == "10.244.0.0/24"
    assert not cidrs.occupy("10.245.0.0/24") and not cidrs.occupy("10.244.0.0/25") and not cidrs.occupy("x")
    with pytest.raises(ValueError, match="--node-cidr-mask-size 16 is smaller"):
        CIDRSet("10.244.0.0/24", 16)


@pytest.fixture
def server(tmp_path: Path):
    srv = ServerThread(str(tmp_path / "data"), controllers=False).start()
    yield srv
    srv.stop()


def node(name: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec}


async def ranges(client: Client) -> dict[str, list[str]]:
    return {n["metadata"]["name"]: n["spec"].get("podCIDRs", []) for n in (await client.list_all(NODES))["items"]}


async def until(check, timeout: float = 10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := await check()):
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return result


async def test_nodes_get_ranges_of_their_own(server):
    async with Client(server.admin) as client:
        await client.create(NODES, node("held", podCIDR="10.250.1.0/24", podCIDRs=["10.250.1.0/24"]))
        await client.create(NODES, node("a"))
        manager = ControllerManager(server.admin, cluster_cidr="10.250.0.0/23", lease_seconds=2)
        await manager.start()
        try:
            found = await until(lambda: _all_given(client, {"held", "a"}))
            assert found == {"held": ["10.250.1.0/24"], "a": ["10.250.0.0/24"]}  # the one held stays taken
            fetched = await client.get(NODES, "a")
            assert fetched["spec"]["podCIDR"] == "10.250.0.0/24"

            await client.create(NODES, node("b"))  # none left: an event says so, and b waits
            event = await until(lambda: _event(client, "b"))
            assert (event["type"], event["message"], event["source"]["component"]) == (
                "Normal", "Node b status is now: CIDRNotAvailable", "cidrAllocator")
            await client.delete(NODES, "a")
            assert (await until(lambda: _all_given(client, {"held", "b"})))["b"] == ["10.250.0.0/24"]
        finally:
            await manager.stop()

        # a restarted manager finds the ranges nodes hold, and gives a new node none of them
        await client.create(NODES, node("c"))
        manager = ControllerManager(server.admin, cluster_cidr="10.250.0.0/22", lease_seconds=2)
        await manager.start()
        try:
            found = await until(lambda: _all_given(client, {"held", "b", "c"}))
            assert found["c"][0] in ("10.250.2.0/24", "10.250.3.0/24")
        finally:
            await manager.stop()


async def _all_given(client: Client, names: set[str]) -> dict[str, list[str]] | None:
    found = await ranges(client)
    return found if set(found) == names and all(found.values()) else None


async def _event(client: Client, name: str) -> dict | None:
    return next((e for e in (await client.list_all(EVENTS, "default"))["items"]
                 if e["involvedObject"].get("name") == name and e["reason"] == "CIDRNotAvailable"), None)



async def test_a_node_is_given_one_range_while_the_cache_has_yet_to_see_it(server):
    """A second sync of a node before the informer sees the range it was given gives it no other (which the
    API server would refuse: a node's podCIDR changes only from empty), as upstream's nodesInProcessing."""
    async with Client(server.admin) as client:
        await client.create(NODES, node("n1"))
        informers = InformerFactory(client)
        controller = NodeIpamController(client, informers, cluster_cidr="10.244.0.0/16")
        informers.start()
        assert await informers.wait_for_sync(10)
        await informers.stop()  # the cache keeps n1 without a range from here on
        await controller.sync("n1")
        await controller.sync("n1")
        assert (await ranges(client))["n1"] == ["10.244.0.0/24"]
        assert controller.cidrs.allocate() == "10.244.1.0/24"  # nothing was taken and left
