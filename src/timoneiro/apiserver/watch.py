"""Watch streams: newline-delimited watch events over one chunked response."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import TYPE_CHECKING

import orjson

from timoneiro.apiserver import errors
from timoneiro.apiserver.http import Request
from timoneiro.apiserver.requestinfo import RequestInfo, flag
from timoneiro.storage.interface import Compacted

if TYPE_CHECKING:
    from timoneiro.api.kinds import Kind
    from timoneiro.apiserver.handlers import Handlers

BOOKMARK_EVERY = 60.0
MIN_TIMEOUT = 1800  # upstream's --min-request-timeout: a watch lasts between this and twice this


async def serve(h: Handlers, req: Request, send, info: RequestInfo, kind: Kind) -> None:
    q = req.query
    predicate = h.predicate(req, kind)
    if info.name:  # a watch of one object by name
        name = info.name
        inner = predicate

        def predicate(entry, inner=inner):
            return entry.key.rpartition("/")[2] == name and (inner is None or inner(entry))

    prefix = kind.list_prefix(info.namespace or None)
    rv_text = q.get("resourceVersion", "")
    send_initial = flag(q, "sendInitialEvents")
    bookmarks = flag(q, "allowWatchBookmarks")
    timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else MIN_TIMEOUT * (1 + random.random())
    cache = h.cache
    initial: list = []
    if rv_text in ("", "0") or send_initial:
        if rv_text == "":
            await cache.fresh()
        start = cache.rev
        if rv_text in ("", "0") or send_initial:
            initial = cache.list(prefix, predicate)
    else:
        start = _rv(rv_text)
        await h.wait_for(start)
    try:
        watcher = cache.watch(prefix, start, predicate)
    except Compacted:
        # past authorization and parsing, upstream reports a watch failure as an ERROR event
        await _error_stream(send, errors.gone(f"too old resource version: {start} ({cache.rev})"))
        return
    table = "as=Table" in req.accept
    include = q.get("includeObject", "Metadata")

    def frame(kind_name: str, data: bytes) -> bytes:
        if table or kind.storage_version != kind.api_version:
            obj = h.generic.to_version(kind, orjson.loads(data))
            if table:
                from timoneiro.api.printers import to_table

                obj = to_table(kind, [obj], include, {"resourceVersion": obj["metadata"]["resourceVersion"]})
            data = orjson.dumps(obj)
        return b'{"type":"' + kind_name.encode() + b'","object":' + data + b"}\n"

    def bookmark(extra: dict | None = None) -> bytes:
        obj = {"kind": kind.kind, "apiVersion": kind.api_version,
               "metadata": {"resourceVersion": str(cache.rev), **(extra or {})}}
        return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"

    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-cache, private"),
                            (b"transfer-encoding", b"chunked")]})
    disconnected = asyncio.Event()

    async def wait_disconnect() -> None:
        while True:
            message = await req.receive()
            if message["type"] == "http.disconnect":
                disconnected.set()
                watcher.close()
                return

    listener = asyncio.get_running_loop().create_task(wait_disconnect())
    deadline = time.monotonic() + timeout
    try:
        if initial:
            await send({"type": "http.response.body", "body": b"".join(frame("ADDED", e.data) for e in initial),
                        "more_body": True})
        if send_initial and bookmarks:
            await send({"type": "http.response.body", "more_body": True,
                        "body": bookmark({"annotations": {"k8s.io/initial-events-end": "true"}})})
        next_bookmark = time.monotonic() + BOOKMARK_EVERY
        while not disconnected.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            batch = await watcher.next_batch(min(deadline, next_bookmark) - now)
            if batch is None:
                break
            chunks = [frame(t, e.data) for t, e in batch]
            if bookmarks and time.monotonic() >= next_bookmark:
                chunks.append(bookmark())
                next_bookmark = time.monotonic() + BOOKMARK_EVERY
            if chunks:
                await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
        if watcher.overflowed:
            status = errors.gone("watch channel was closed because the client was too slow")
            body = orjson.dumps({"type": "ERROR", "object": status.status()}) + b"\n"
            await send({"type": "http.response.body", "body": body, "more_body": True})
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b""})
    finally:
        watcher.close()
        listener.cancel()


async def _error_stream(send, err: errors.APIError) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-cache, private")]})
    await send({"type": "http.response.body", "body": orjson.dumps({"type": "ERROR", "object": err.status()}) + b"\n"})


def _rv(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise errors.bad_request(f'invalid resourceVersion: "{text}"') from None

