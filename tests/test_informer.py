"""Informers against a real API server: events, indexes, resuming after a restart, relisting after compaction."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest
from aiohttp import web

from conftest import add_default_service_account
from timoneiro.apiserver.server import ServerThread, free_port
from timoneiro.client import Client
from timoneiro.client.informer import Backoff, Informer, InformerFactory, without_managed_fields
from timoneiro.client.resources import CONFIGMAPS, PODS
from timoneiro.client.store import by_field, split_key

NS = "default"
FAST = Backoff(0.02, 0.2)


@pytest.fixture
def server(tmp_path):
    srv = ServerThread(str(tmp_path), controllers=False).start()
    add_default_service_account(srv)
    yield srv
    srv.stop()


class Recorder:
    """Every notification an informer gives, as (event, name, data) tuples."""

    def __init__(self, informer: Informer) -> None:
        self.events: list[tuple[str, str, dict | None]] = []
        self._changed = asyncio.Event()
        informer.add_handler(lambda o: self._note("add", o), lambda old, new: self._note("update", new),
                             lambda o: self._note("delete", o))

    def _note(self, what: str, obj: dict) -> None:
        self.events.append((what, obj["metadata"]["name"], obj.get("data")))
        self._changed.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, str, dict | None]]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.events


@contextlib.asynccontextmanager
async def running(informer: Informer):
    informer.start()
    try:
        assert await informer.wait_for_sync(5)
        yield informer
    finally:
        await informer.stop()


def configmap(name: str, value: str = "1") -> dict:
    return {"metadata": {"name": name, "namespace": NS}, "data": {"k": value}}


def spy(client: Client, monkeypatch) -> dict[str, list]:
    """Record the informer's lists, and the resourceVersion each of its watches starts from."""
    calls: dict[str, list] = {"lists": [], "watches": []}
    list_all, watch = client.list_all, client.watch

    async def listing(*args, **kwargs):
        calls["lists"].append(args)
        return await list_all(*args, **kwargs)

    def watching(*args, **kwargs):
        calls["watches"].append(kwargs["resource_version"])
        return watch(*args, **kwargs)

    monkeypatch.setattr(client, "list_all", listing)
    monkeypatch.setattr(client, "watch", watching)
    return calls


async def test_adds_updates_deletes_and_indexes(client):
    await client.create(CONFIGMAPS, configmap("before"))
    informer = Informer(client, CONFIGMAPS, NS, backoff=FAST)
    seen = Recorder(informer)
    async with running(informer):
        assert seen.events == [("add", "before", {"k": "1"})]
        await client.create(CONFIGMAPS, configmap("during"))
        await client.patch(CONFIGMAPS, "during", {"data": {"k": "2"}}, NS)
        await client.delete(CONFIGMAPS, "before", NS)
        assert await seen.wait_for(4) == [("add", "before", {"k": "1"}), ("add", "during", {"k": "1"}),
                                          ("update", "during", {"k": "2"}), ("delete", "before", {"k": "1"})]
        assert informer.store.list_keys() == ["default/during"]
        assert informer.store.get("default/during")["data"] == {"k": "2"}
        assert [o["metadata"]["name"] for o in informer.store.by_index("namespace", NS)] == ["during"]
        assert informer.resource_version == (await client.list(CONFIGMAPS, NS))["metadata"]["resourceVersion"]


async def test_indexes_by_node_name(client):
    informer = Informer(client, PODS, indexers={"node": by_field("spec.nodeName")}, backoff=FAST)
    seen = Recorder(informer)
    async with running(informer):
        for name, node in (("a", "n1"), ("b", "n2"), ("c", None)):
            spec = {"containers": [{"name": "c", "image": "nginx"}], "nodeName": node}
            await client.create(PODS, {"metadata": {"name": name, "namespace": NS}, "spec": spec})
        await seen.wait_for(3)
        assert [o["metadata"]["name"] for o in informer.store.by_index("node", "n1")] == ["a"]
        await client.delete(PODS, "a", NS, grace_period_seconds=0)
        await seen.wait_for(4)
        assert informer.store.by_index("node", "n1") == []
        assert [split_key(k) for k in sorted(informer.store.list_keys())] == [(NS, "b"), (NS, "c")]


async def test_indexes_follow_updates(client):
    informer = Informer(client, CONFIGMAPS, NS, indexers={"value": by_field("data.k")}, backoff=FAST)
    seen = Recorder(informer)
    async with running(informer):
        await client.create(CONFIGMAPS, configmap("a", "old"))
        await client.patch(CONFIGMAPS, "a", {"data": {"k": "new"}}, NS)
        await seen.wait_for(2)
        assert informer.store.by_index("value", "old") == []
        assert [o["metadata"]["name"] for o in informer.store.by_index("value", "new")] == ["a"]


async def test_resumes_after_a_server_restart_without_relisting(tmp_path, monkeypatch):
    srv = ServerThread(str(tmp_path), controllers=False).start()
    client = Client(srv.admin)
    calls = spy(client, monkeypatch)
    informer = Informer(client, CONFIGMAPS, NS, backoff=Backoff(0.5, 1.0))
    seen = Recorder(informer)
    try:
        async with running(informer):
            listed_at = informer.resource_version
            await client.create(CONFIGMAPS, configmap("a"))
            last_seen = (await client.create(CONFIGMAPS, configmap("b")))["metadata"]["resourceVersion"]
            await seen.wait_for(2)
            await asyncio.to_thread(srv.stop)
            srv = ServerThread(str(tmp_path), port=srv.port, controllers=False).start()
            # written while the informer is still backing off: it must get them from the server's history
            await client.create(CONFIGMAPS, configmap("c"))
            await client.patch(CONFIGMAPS, "a", {"data": {"k": "2"}}, NS)
            await client.delete(CONFIGMAPS, "b", NS)
            events = await seen.wait_for(5)
            await asyncio.sleep(0.2)  # nothing more may come
            assert events == [("add", "a", {"k": "1"}), ("add", "b", {"k": "1"}), ("add", "c", {"k": "1"}),
                              ("update", "a", {"k": "2"}), ("delete", "b", {"k": "1"})]
            assert sorted(informer.store.list_keys()) == ["default/a", "default/c"]
            assert len(calls["lists"]) == 1
            assert calls["watches"][0] == listed_at and set(calls["watches"][1:]) == {last_seen}
    finally:
        await client.close()
        srv.stop()


async def test_relists_after_compaction_and_reports_the_difference(tmp_path, monkeypatch):
    srv = ServerThread(str(tmp_path), controllers=False).start()
    client = Client(srv.admin)
    calls = spy(client, monkeypatch)
    informer = Informer(client, CONFIGMAPS, NS, backoff=FAST)
    seen = Recorder(informer)
    try:
        async with running(informer):
            for name in ("a", "b", "c"):
                await client.create(CONFIGMAPS, configmap(name))
            await seen.wait_for(3)
            await asyncio.to_thread(srv.stop)
            # meanwhile, on another port the informer cannot reach: changes, then history compacted past them
            elsewhere = ServerThread(str(tmp_path), controllers=False).start()
            try:
                async with Client(elsewhere.admin) as other:
                    await other.create(CONFIGMAPS, configmap("d"))
                    await other.patch(CONFIGMAPS, "a", {"data": {"k": "2"}}, NS)
                    await other.delete(CONFIGMAPS, "b", NS)
                    last = await other.create(CONFIGMAPS, configmap("e"))
                    elsewhere.call(elsewhere.api.compact(int(last["metadata"]["resourceVersion"])))
            finally:
                elsewhere.stop()
            srv = ServerThread(str(tmp_path), port=srv.port, controllers=False).start()
            events = await seen.wait_for(7)
            assert events[:3] == [("add", n, {"k": "1"}) for n in ("a", "b", "c")]
            assert sorted(events[3:]) == [("add", "d", {"k": "1"}), ("add", "e", {"k": "1"}),
                                          ("delete", "b", {"k": "1"}), ("update", "a", {"k": "2"})]
            assert sorted(informer.store.list_keys()) == ["default/a", "default/c", "default/d", "default/e"]
            # the relist's revision: the server's own start-up writes (bootstrap objects) may follow `last`
            current = (await client.list(CONFIGMAPS, NS))["metadata"]["resourceVersion"]
            assert int(last["metadata"]["resourceVersion"]) <= int(informer.resource_version) == int(current)
            assert len(calls["lists"]) == 2
    finally:
        await client.close()
        srv.stop()


async def test_relists_on_an_error_event_410():
    """A watch that fails mid-stream with ERROR 410 (what a too-slow watcher gets) makes the informer relist."""
    def item(name: str, rv: str) -> dict:
        return {"metadata": {"name": name, "namespace": NS, "resourceVersion": rv}}

    lists = [[item("x", "5"), item("y", "6")], [item("y", "9"), item("z", "10")]]
    served: list[str] = []

    async def collection(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "true":
            served.append("list")
            items = lists[min(served.count("list"), len(lists)) - 1]
            return web.json_response({"kind": "ConfigMapList", "metadata": {"resourceVersion": "10"}, "items": items})
        served.append(f"watch from {request.query['resourceVersion']}")
        response = web.StreamResponse()
        await response.prepare(request)
        if served.count("list") == 1:
            gone = {"kind": "Status", "status": "Failure", "reason": "Expired", "message": "too slow", "code": 410}
            await response.write(orjson.dumps({"type": "ERROR", "object": gone}) + b"\n")
            return response
        await asyncio.sleep(30)
        return response

    app = web.Application()
    app.router.add_get(CONFIGMAPS.path(NS), collection)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with Client(f"http://127.0.0.1:{port}") as client:
            informer = Informer(client, CONFIGMAPS, NS, backoff=FAST)
            seen = Recorder(informer)
            async with running(informer):
                events = await seen.wait_for(5)
                assert events == [("add", "x", None), ("add", "y", None), ("delete", "x", None),
                                  ("update", "y", None), ("add", "z", None)]
                assert served[:3] == ["list", "watch from 10", "list"]
    finally:
        await runner.cleanup()


async def test_resync_and_late_handlers(client):
    await client.create(CONFIGMAPS, configmap("a"))
    informer = Informer(client, CONFIGMAPS, NS, resync_period=0.05, backoff=FAST)
    updates: list[tuple[str, str]] = []
    informer.add_handler(on_update=lambda old, new: updates.append((old["metadata"]["resourceVersion"],
                                                                     new["metadata"]["resourceVersion"])))
    async with running(informer):
        await asyncio.sleep(0.2)
        assert len(updates) >= 2 and all(old == new for old, new in updates)
        late = Recorder(informer)  # told of what is cached already
        assert late.events == [("add", "a", {"k": "1"})]


async def test_a_failing_handler_does_not_stop_the_others(client):
    informer = Informer(client, CONFIGMAPS, NS, backoff=FAST)

    def broken(obj: dict) -> None:
        raise RuntimeError("handler bug")

    informer.add_handler(on_add=broken)
    seen = Recorder(informer)
    async with running(informer):
        await client.create(CONFIGMAPS, configmap("a"))
        await client.create(CONFIGMAPS, configmap("b"))
        assert [e[1] for e in await seen.wait_for(2)] == ["a", "b"]


async def test_factory_shares_informers(client):
    factory = InformerFactory(client, NS, backoff=FAST)
    first = factory.informer(CONFIGMAPS)
    assert factory.informer(CONFIGMAPS, indexers={"k": by_field("data.k")}) is first
    assert factory.informer(CONFIGMAPS, label_selector="app=x") is not first
    pods = factory.informer(PODS)
    await client.create(CONFIGMAPS, configmap("a"))
    factory.start()
    try:
        assert await factory.wait_for_sync(5)
        assert first.has_synced() and pods.has_synced()
        assert [o["metadata"]["name"] for o in first.store.by_index("k", "1")] == ["a"]
    finally:
        await factory.stop()


async def test_a_transform_shapes_what_is_cached_and_handed_out(client):
    await client.create(CONFIGMAPS, configmap("listed"))
    factory = InformerFactory(client, NS, backoff=FAST)
    informer = factory.informer(CONFIGMAPS, transform=without_managed_fields)
    assert factory.informer(CONFIGMAPS, transform=without_managed_fields) is informer
    with pytest.raises(ValueError):
        factory.informer(CONFIGMAPS)
    seen = Recorder(informer)
    handed: list[dict] = []
    informer.add_handler(handed.append, lambda old, new: handed.append(new))
    async with running(informer):
        await client.create(CONFIGMAPS, configmap("watched"))
        await client.patch(CONFIGMAPS, "watched", {"data": {"k": "2"}}, NS)
        await seen.wait_for(3)
    assert [o["metadata"]["name"] for o in handed] == ["listed", "watched", "watched"]
    assert all("managedFields" not in o["metadata"] for o in handed + informer.store.list())
    assert informer.store.get(f"{NS}/watched")["data"] == {"k": "2"}
