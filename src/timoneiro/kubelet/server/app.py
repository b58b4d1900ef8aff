"""The kubelet's API as an ASGI application: /healthz, /pods, /stats/summary, /metrics/resource, /containerLogs,
/exec, /attach and /portForward, every request authenticated and authorized first (see auth). Errors are plain
text, with upstream's kubelet's words and statuses: the API server hands them on to the client as they are."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Protocol
from urllib.parse import parse_qsl, unquote

import orjson

from timoneiro.apiserver.http import stream_body
from timoneiro.kubelet.cri.streaming import StreamingError, remote_command
from timoneiro.kubelet.runtime.base import ContainerState, Runtime, RuntimeFailure, StreamOptions
from timoneiro.kubelet.server import logs, portforward, remotecommand
from timoneiro.kubelet.server.auth import AuthError, KubeletAuth
from timoneiro.kubelet.stats.provider import StatsProvider
from timoneiro.kubelet.streaming import channels
from timoneiro.kubelet.streaming.channels import WebSocket

log = logging.getLogger("timoneiro.kubelet.server")


class Host(Protocol):
    """What the API serves from: the kubelet's pods and its runtime."""

    node_name: str
    runtime: Runtime

    def pod(self, namespace: str, name: str) -> dict | None:
        """A pod bound to this node, as the kubelet knows it."""

    def pod_status(self, pod: dict) -> dict:
        """The pod's status as the kubelet last worked it out."""

    def pods(self) -> list[dict]: ...


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _multi_query(scope: dict) -> list[tuple[str, str]]:
    return parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


def _sender(scope: dict, send):
    """`send` for HTTP responses; on a WebSocket's handshake, the same messages as its denial response."""
    if scope["type"] == "http":
        return send

    async def deny(message: dict) -> None:
        await send({**message, "type": message["type"].replace("http.", "websocket.http.", 1)})
    return deny


async def respond(send, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class KubeletAPI:
    def __init__(self, host: Host, auth: KubeletAuth | None) -> None:
        """`auth`: None serves everyone (only for a kubelet whose API nobody else can reach, in tests)."""
        self.host = host
        self.auth = auth
        self.stats = StatsProvider(host.node_name, host.runtime)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return
        if scope["type"] == "websocket":
            if (await receive())["type"] != "websocket.connect":
                return
            method = "GET"
        else:
            method = scope["method"]
        path = scope["path"]
        try:
            if self.auth is not None:
                await self.auth.check(scope, method, path)
            await self.route(scope, receive, send, method, path)
        except (AuthError, HTTPError) as e:
            await respond(_sender(scope, send), e.status, e.message.encode())

    async def route(self, scope, receive, send, method: str, path: str) -> None:
        parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        head = parts[0] if parts else ""
        if path in ("/healthz", "/healthz/ping", "/healthz/syncloop"):
            await respond(_sender(scope, send), 200, b"ok")
        elif path == "/pods" or path == "/pods/":
            items = [{**pod, "status": self.host.pod_status(pod)} for pod in self.host.pods()]
            body = orjson.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
            await respond(_sender(scope, send), 200, body, "application/json")
        elif path == "/stats/summary" and method == "GET":
            await respond(_sender(scope, send), 200, orjson.dumps(await self.stats.summary()), "application/json")
        elif path == "/metrics/resource" and method == "GET":
            await respond(_sender(scope, send), 200, (await self.stats.resource_metrics()).encode(),
                          "text/plain; version=0.0.4; charset=utf-8")
        elif head == "containerLogs" and method == "GET" and scope["type"] == "http":
            await self.container_logs(scope, receive, send, parts[1:])
        elif head in ("exec", "attach") and method in ("GET", "POST"):
            await self.remote_command(scope, receive, send, head, parts[1:])
        elif head == "portForward" and method in ("GET", "POST"):
            await self.port_forward(scope, receive, send, parts[1:])
        else:
            await respond(_sender(scope, send), 404, b"404 page not found\n")

    # /containerLogs/NAMESPACE/POD/CONTAINER

    async def container_logs(self, scope, receive, send, parts: list[str]) -> None:
        namespace, name, container = (parts + ["", "", ""])[:3]
        if not namespace:
            raise HTTPError(400, "Missing podNamespace.")
        if not name:
            raise HTTPError(400, "Missing podID.")
        if not container:
            raise HTTPError(400, "Missing container name.")
        pod = self.host.pod(namespace, name)
        if pod is None:
            raise HTTPError(404, f'pod "{name}" does not exist\n')
        if not any(c.get("name") == container for c in _all_containers(pod)):
            raise HTTPError(404, f'container "{container}" not found in pod "{name}"\n')
        try:
            options = logs.options(dict(_multi_query(scope)))
            container_id = logs.container_id(name, self.host.pod_status(pod), container, options.previous)
        except logs.LogUnavailable as e:
            raise HTTPError(400, str(e)) from None
        try:
            lines = self.host.runtime.container_logs(container_id, follow=options.follow, tail=options.tail,
                                                     since=options.since, timestamps=options.timestamps)
        except NotImplementedError as e:
            raise HTTPError(400, str(e)) from None
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        try:
            await stream_body(_limited(lines, options.limit_bytes), receive, send)
        except RuntimeFailure as e:  # the container went while its log was read
            log.warning("reading the log of %s/%s/%s failed: %s", namespace, name, container, e)

    # /exec/NAMESPACE/POD/[UID/]CONTAINER?command=...&input=1&output=1&error=1&tty=1, and /attach likewise

    async def remote_command(self, scope, receive, send, kind: str, parts: list[str]) -> None:
        if len(parts) not in (3, 4):
            raise HTTPError(404, "404 page not found\n")
        namespace, name, container = parts[0], parts[1], parts[-1]
        uid = parts[2] if len(parts) == 4 else ""
        query = _multi_query(scope)
        flags = dict(query)
        tty = flags.get("tty") == "1"
        streams = StreamOptions(stdin=flags.get("input") == "1", stdout=flags.get("output") == "1",
                                stderr=flags.get("error") == "1" and not tty, tty=tty)
        if not (streams.stdin or streams.stdout or streams.stderr):
            raise HTTPError(400, "you must specify at least 1 of stdin, stdout, stderr")
        pod = self.host.pod(namespace, name)
        if pod is None or (uid and pod["metadata"].get("uid") != uid):
            raise HTTPError(404, "pod does not exist")
        container_id = await self._running_container(pod, container)
        runtime = self.host.runtime
        try:
            url = await (runtime.exec_url(container_id, [v for k, v in query if k == "command"], streams)
                         if kind == "exec" else runtime.attach_url(container_id, streams))
        except (RuntimeFailure, NotImplementedError) as e:
            raise HTTPError(500, str(e)) from None
        protocol = self._protocol(scope, channels.PROTOCOLS)
        try:
            command = await remote_command(url, streams)
        except (RuntimeFailure, StreamingError) as e:
            raise HTTPError(500, str(e)) from None
        ws = await WebSocket.accept(receive, send, protocol)
        await remotecommand.serve(ws, command, protocol, streams.stdout)

    # /portForward/NAMESPACE/POD[/UID]

    async def port_forward(self, scope, receive, send, parts: list[str]) -> None:
        if len(parts) not in (2, 3):
            raise HTTPError(404, "404 page not found\n")
        namespace, name = parts[0], parts[1]
        pod = self.host.pod(namespace, name)
        if pod is None:
            raise HTTPError(404, "pod does not exist")
        uid = pod["metadata"].get("uid", "")
        if len(parts) == 3 and parts[2] != uid:
            raise HTTPError(404, "pod not found")
        sandboxes = [s for s in await self.host.runtime.list_pod_sandboxes(uid) if s.ready]
        if not sandboxes:
            raise HTTPError(500, f'pod not found ("{name}_{namespace}")')
        sandbox = max(sandboxes, key=lambda s: s.created_at)
        protocol = self._protocol(scope, (portforward.TUNNELED,))
        ws = await WebSocket.accept(receive, send, protocol)

        async def connect(port: int):
            return await self.host.runtime.port_forward(sandbox.id, port)

        await portforward.PortForwarding(ws, connect, name, uid).run()

    # helpers

    def _protocol(self, scope: dict, spoken: tuple[str, ...]) -> str:
        if scope["type"] != "websocket":  # a SPDY upgrade (kubectl's fallback) or a plain request
            raise HTTPError(400, "Upgrade request required: this kubelet streams over WebSocket "
                                 f"({', '.join(spoken)}), not SPDY")
        offered = scope.get("subprotocols") or []
        chosen = next((p for p in spoken if p in offered), None)
        if chosen is None:
            raise HTTPError(403, f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                                 f"server accepts {list(spoken)}")
        return chosen

    async def _running_container(self, pod: dict, name: str) -> str:
        """The id of the pod's running container `name`, as upstream's findContainer looks for it."""
        runtime = self.host.runtime
        for sandbox in await runtime.list_pod_sandboxes(pod["metadata"].get("uid")):
            for container in await runtime.list_containers(sandbox.id):
                if container.name == name and container.state == ContainerState.RUNNING:
                    return container.id
        raise HTTPError(500, f'container not found ("{name}")')


def _all_containers(pod: dict) -> list[dict]:
    spec = pod.get("spec") or {}
    return [*(spec.get("initContainers") or ()), *(spec.get("containers") or ()),
            *(spec.get("ephemeralContainers") or ())]


async def _limited(chunks: AsyncIterator[bytes], limit: int | None) -> AsyncIterator[bytes]:
    """The first `limit` bytes of the chunks (all of them if None)."""
    sent = 0
    async for chunk in chunks:
        if limit is not None:
            chunk = chunk[:max(0, limit - sent)]
        if chunk:
            yield chunk
            sent += len(chunk)
        if limit is not None and sent >= limit:
            return
