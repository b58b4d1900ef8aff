"""The thin ASGI edge: reading requests and writing responses, nothing Kubernetes-specific."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import orjson
import yaml

from timoneiro.apiserver import errors

if TYPE_CHECKING:
    import httpx

MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's MaxRequestBodyBytes


class Request:
    def __init__(self, scope: dict, receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: dict[str, str] = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                                                    keep_blank_values=True))
        self.headers: dict[str, str] = {k.decode("latin-1").lower(): v.decode("latin-1")
                                        for k, v in scope.get("headers", ())}
        self._body: bytes | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def accept(self) -> str:
        return self.headers.get("accept", "")

    async def body(self) -> bytes:
        if self._body is None:
            length = self.headers.get("content-length")
            if length and length.isdigit() and int(length) > MAX_BODY:
                raise errors.too_large(MAX_BODY)
            chunks, size = [], 0
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY:
                    raise errors.too_large(MAX_BODY)
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> object:
        """The body as JSON or YAML, whichever its content type says (JSON when unsure).

        Raises BodyError with the decoder's words, which callers put in context.
        """
        raw = await self.body()
        if self.content_type == "application/vnd.kubernetes.protobuf":
            from timoneiro.apiserver import protobuf

            try:
                return protobuf.decode(raw)
            except protobuf.ProtobufError as e:
                raise errors.APIError(415, "UnsupportedMediaType", str(e)) from None
        if "protobuf" in self.content_type or "cbor" in self.content_type:
            raise errors.APIError(415, "UnsupportedMediaType", "the body of the request was in an unknown "
                                  "format - accepted media types include: application/json, application/yaml")
        if "yaml" in self.content_type:
            try:
                return yaml.safe_load(raw) if raw.strip() else _empty_json(raw)
            except yaml.MarkedYAMLError as e:
                line = e.problem_mark.line + 1 if e.problem_mark else 0
                problem = (e.problem or "").replace(" here", " in this context")
                raise BodyError(f"yaml: line {line}: {problem}", raw, True) from None
            except yaml.YAMLError as e:
                raise BodyError(f"yaml: {e}", raw, True) from None
        try:
            return orjson.loads(raw) if raw.strip() else _empty_json(raw)
        except orjson.JSONDecodeError as e:
            raise BodyError(f"couldn't get version/kind; json parse error: {go_json_error(e, raw)}", raw,
                            False) from None


class BodyError(Exception):
    """A request body that does not decode: the decoder's message and the bytes it choked on."""

    def __init__(self, detail: str, body: bytes, yaml: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.body = body
        self.yaml = yaml


def _empty_json(raw: bytes):
    raise BodyError("couldn't get version/kind; json parse error: unexpected end of JSON input", raw, False)


def go_json_error(e: orjson.JSONDecodeError, raw: bytes) -> str:
    """What Go's encoding/json says where orjson failed."""
    pos = min(e.pos, len(raw))
    rest = raw[pos:].lstrip()
    if not rest or "unexpected end" in e.msg or "EOF" in e.msg:
        return "unexpected end of JSON input"
    return f"invalid character {chr(rest[0])!r} looking for beginning of value"


def wants_yaml(accept: str) -> bool:
    return "application/yaml" in accept and "application/json" not in accept


async def respond(send, status: int, body: bytes, content_type: str = "application/json",
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    hdrs = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-cache, private")]
    if headers:
        hdrs.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


async def respond_object(send, status: int, obj: object, accept: str = "",
                         headers: list[tuple[bytes, bytes]] | None = None) -> None:
    if wants_yaml(accept):
        await respond(send, status, yaml.safe_dump(obj, sort_keys=False).encode(), "application/yaml", headers)
    else:
        await respond(send, status, orjson.dumps(obj), "application/json", headers)


async def respond_error(send, err: errors.APIError) -> None:
    await respond(send, err.code, orjson.dumps(err.status()))


async def stream_body(chunks: AsyncIterator[bytes], receive, send) -> None:
    """A response's body from `chunks` as they come (a followed log never ends), until they end or the client
    goes; then the body ends. An error of `chunks` is raised after that."""
    async def copy() -> None:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        copying, _ = await until_first(copy(), disconnected())
    finally:
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b""})
    if not copying.cancelled() and copying.exception() is not None:
        raise copying.exception()


async def forward(client: httpx.AsyncClient, req: Request, send, url: str, body: bytes | None,
                  keep: dict[str, str | None], **options: object) -> None:
    """Send req on to url with client and hand its answer back as it comes (the aggregation layer's proxy, the
    kubelet's). `keep`: the answer's headers handed back, each with the value it gets when the answer has
    none (None: then left out). httpx's errors are the caller's to answer."""
    async with client.stream(req.method, url, content=body, **options) as response:
        headers = [(name, response.headers.get(name, default)) for name, default in keep.items()]
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers if v is not None]})
        await stream_body(response.aiter_raw(), req.receive, send)


async def until_first(*awaitables: Awaitable) -> list[asyncio.Future]:
    """Run `awaitables` together until the first of them ends (or this is cancelled); the others are then
    cancelled, and all of them awaited. Answers their futures, every one done."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return tasks
