"""The client's HTTP/1.1 connection pool against a plain local server: keep-alive reuse, answers read whole
or streamed, connections the server closes, bodies without a length, timeouts."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
from aiohttp import web

from timoneiro.apiserver.server import free_port
from timoneiro.client import http
from timoneiro.client.http import ConnectionPool, HTTPError

BIG = b"x" * (3 * http.HIGH_WATER)


async def echo_query(request: web.Request) -> web.Response:
    """The query, and the client's port: which connection the request came on."""
    return web.json_response({"query": dict(request.query), "port": request.transport.get_extra_info("peername")[1]})


async def big(request: web.Request) -> web.Response:
    return web.Response(body=BIG)


async def close_after_answer(request: web.Request) -> web.Response:
    return web.Response(body=b"bye", headers={"Connection": "close"})


async def streamed(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    for i in range(3):
        await response.write(f"line {i}\n".encode())
        await asyncio.sleep(0.05)
    await response.write_eof()
    return response


async def echo_body(request: web.Request) -> web.Response:
    return web.Response(body=await request.read(), content_type="application/octet-stream")


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.Response(body=b"late")


@pytest.fixture
async def server():
    app = web.Application()
    app.router.add_get("/echo", echo_query)
    app.router.add_post("/echo", echo_body)
    app.router.add_get("/close", close_after_answer)
    app.router.add_get("/stream", streamed)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def get(pool: ConnectionPool, path: str, **kwargs) -> tuple[int, bytes]:
    with await pool.request("GET", path, timeout=5, **kwargs) as response:
        return response.status, await response.read(5)


async def test_connections_are_kept_alive_and_reused(server):
    pool = ConnectionPool(server, None, {"User-Agent": "t"})
    ports = set()
    for i in range(5):
        with await pool.request("GET", "/echo", params={"i": str(i), "q": "a b&c"}, timeout=5) as response:
            answer = orjson.loads(await response.read(5))
            assert response.status == 200 and response.content_type == "application/json"
        assert answer["query"] == {"i": str(i), "q": "a b&c"}
        ports.add(answer["port"])
    with await pool.request("POST", "/echo", body=b"payload", timeout=5) as response:
        assert await response.read(5) == b"payload"
    assert len(ports) == 1 and len(pool.connections) == 1
    pool.close()


async def test_an_answer_closed_twice_lends_its_connection_once(server):
    pool = ConnectionPool(server, None, {})
    response = await pool.request("GET", "/echo", timeout=5)
    await response.read(5)
    response.close()
    response.close()
    first, second = await asyncio.gather(get(pool, "/echo"), get(pool, "/echo"))
    assert first[1] != second[1]  # two connections (two client ports), not one shared by both
    pool.close()


async def test_a_connection_the_server_closes_is_not_reused(server):
    pool = ConnectionPool(server, None, {})
    assert await get(pool, "/close") == (200, b"bye")
    assert (await get(pool, "/echo"))[0] == 200
    pool.close()


async def test_streamed_and_large_bodies(server):
    pool = ConnectionPool(server, None, {})
    with await pool.request("GET", "/stream", timeout=5) as response:
        chunks = []
        while chunk := await response.read_chunk(5):
            chunks.append(chunk)
    assert b"".join(chunks) == b"line 0\nline 1\nline 2\n" and len(chunks) >= 2
    assert await get(pool, "/big") == (200, BIG)  # more than the pool lets wait unread: reading pauses
    pool.close()


async def test_timeouts_and_refused_connections(server):
    pool = ConnectionPool(server, None, {})
    with pytest.raises(HTTPError, match="timed out"):
        await pool.request("GET", "/slow", timeout=0.2)
    assert not pool.connections or all(c.closed for c in pool.connections)
    nowhere = ConnectionPool(f"http://127.0.0.1:{free_port()}", None, {})
    with pytest.raises(HTTPError, match="connecting to"):
        await nowhere.request("GET", "/", timeout=5)
    pool.close()


async def test_a_body_without_length_ends_with_the_connection():
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0, family=socket.AF_INET)
    port = listener.sockets[0].getsockname()[1]
    pool = ConnectionPool(f"http://127.0.0.1:{port}", None, {})
    assert await get(pool, "/") == (200, b"until the end")
    pool.close()
    listener.close()
