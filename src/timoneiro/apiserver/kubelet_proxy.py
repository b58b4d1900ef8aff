"""The subresources the API server hands on to a node's kubelet: pods/log, pods/exec, pods/attach,
pods/portforward and nodes/proxy, as kube-apiserver's LogLocation, streamLocation and node proxy do.

The pod's container is checked here first (400 with upstream's words), then the request goes to the
kubelet at the node's InternalIP (else its other addresses) and the port its status names, over TLS with the
API server's kubelet-client certificate, the kubelet's serving certificate checked against the cluster
CA. A WebSocket (kubectl 1.32's exec, attach, cp and its SPDY-tunnelling port-forward) is relayed message
by message to a WebSocket with the kubelet, with the subprotocol the kubelet chose; anything else (kubectl's
SPDY fallback, plain requests, logs) is one HTTP request whose answer is handed back as the kubelet wrote
it, errors in upstream's shape (GenericHttpResponseChecker for logs, the kubelet's text for streams).
"""

from __future__ import annotations

import contextlib
import ssl
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from timoneiro.api.field import aggregate, forbidden, invalid
from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors
from timoneiro.apiserver.generic import decode
from timoneiro.apiserver.http import Request, forward, respond, stream_body, until_first
from timoneiro.apiserver.requestinfo import RequestInfo
from timoneiro.apiserver.websocket import dial

if TYPE_CHECKING:
    import httpx

    from timoneiro.apiserver.app import APIServer

ADDRESS_TYPES = ("InternalIP", "ExternalIP", "Hostname")  # kubeadm's --kubelet-preferred-address-types
ERROR_BODY_LIMIT = 64 * 1024
TRUE = ("1", "t", "T", "true", "True", "TRUE")
# PodExecOptions / PodAttachOptions query parameters and the kubelet's names for them
STREAM_FLAGS = (("stdin", "input"), ("stdout", "output"), ("stderr", "error"), ("tty", "tty"))
LOG_OPTIONS = ("follow", "previous", "timestamps", "sinceSeconds", "sinceTime", "tailLines", "limitBytes")


def kubelet_netloc(status: dict, preferred: tuple[str, ...]) -> str | None:
    """HOST:PORT of a node's kubelet from the Node's status: its first address of the first `preferred` type
    that it has (an IPv6 one in brackets) and the port its daemonEndpoints name; None if it has no such address."""
    by_type = {}
    for address in status.get("addresses") or ():
        by_type.setdefault(address.get("type"), address.get("address"))
    host = next((by_type[t] for t in preferred if by_type.get(t)), None)
    if host is None:
        return None
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 10250
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def container_names(pod: dict, field: str) -> list[str]:
    return [c.get("name", "") for c in (pod.get("spec") or {}).get(field) or ()]


def pick_container(pod: dict, wanted: str) -> str:
    """The container a request means: the one named (which must be the pod's), else the pod's only one."""
    name = pod["metadata"]["name"]
    if wanted:
        if wanted not in [*container_names(pod, "containers"), *container_names(pod, "initContainers"),
                          *container_names(pod, "ephemeralContainers")]:
            raise errors.bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted
    containers = container_names(pod, "containers")
    if len(containers) == 1:
        return containers[0]
    if not containers:
        raise errors.bad_request(f"a container name must be specified for pod {name}")
    message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
    if inits := container_names(pod, "initContainers"):
        message += f" or one of the init containers: [{' '.join(inits)}]"
    raise errors.bad_request(message)


def log_options_errors(query: dict[str, str]) -> list:
    """ValidatePodLogOptions' findings (the query's numbers already parsed)."""
    found = []
    for name, least, what in (("tailLines", 0, "must be greater than or equal to 0"),
                              ("limitBytes", 1, "must be greater than 0"),
                              ("sinceSeconds", 1, "must be greater than 0")):
        if name in query and int(query[name]) < least:
            found.append(invalid(name, int(query[name]), what))
    if "sinceSeconds" in query and "sinceTime" in query:
        found.append(forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
    return found


class KubeletProxy:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        self._tls: ssl.SSLContext | None = None
        self._http: httpx.AsyncClient | None = None

    def tls(self) -> ssl.SSLContext:
        """The API server's side of TLS with kubelets (--kubelet-client-certificate, and the cluster CA as
        --kubelet-certificate-authority); a server without security trusts any kubelet and shows none."""
        if self._tls is None:
            pki = self.server.pki
            if self.server.secure:
                ctx = ssl.create_default_context(cafile=pki.path("ca.crt"))
                ctx.load_cert_chain(pki.path("apiserver-kubelet-client.crt"), pki.path("apiserver-kubelet-client.key"))
            else:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._tls = ctx
        return self._tls

    @property
    def http(self) -> httpx.AsyncClient:
        import httpx  # loaded on first use: the server starts without it

        if self._http is None:
            self._http = httpx.AsyncClient(verify=self.tls(), timeout=httpx.Timeout(30.0, read=None),
                                           trust_env=False)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    # where a node's kubelet is

    def kubelet_url(self, node_name: str, path: str, query: list[tuple[str, str]] | None = None,
                    scheme: str = "https") -> str:
        nodes = self.server.registry.get("", "v1", "nodes")
        entry = self.server.cache.get(nodes.key(None, node_name))
        if entry is None:
            raise errors.not_found(nodes, node_name)
        status = decode(entry).get("status") or {}
        netloc = kubelet_netloc(status, ADDRESS_TYPES)
        if netloc is None:
            raise errors.internal(f"no preferred addresses found; known addresses: {status.get('addresses') or []}")
        return f"{scheme}://{netloc}{path}" + (f"?{urlencode(query)}" if query else "")

    async def _pod(self, pods: Kind, namespace: str, name: str) -> dict:
        return await self.server.generic.get(pods, namespace, name)

    # pods/log

    async def log(self, req: Request, send, info: RequestInfo, pods: Kind) -> None:
        import httpx  # loaded on first use: the server starts without it

        query = req.query
        for name in ("tailLines", "limitBytes", "sinceSeconds"):
            if name in query and not query[name].lstrip("-").isdigit():
                raise errors.bad_request(f'strconv.ParseInt: parsing "{query[name]}": invalid syntax')
        if found := log_options_errors(query):
            raise errors.APIError(422, "Invalid", f'PodLogOptions "{info.name}" is invalid: {aggregate(found)}',
                                  {"name": info.name, "kind": "PodLogOptions",
                                   "causes": [e.cause() for e in found]})
        pod = await self._pod(pods, info.namespace, info.name)
        container = pick_container(pod, query.get("container", ""))
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:  # not scheduled yet: an empty log, as upstream's empty location gives
            await respond(send, 200, b"", "text/plain")
            return
        options = [(k, "true" if k in ("follow", "previous", "timestamps") else query[k]) for k in LOG_OPTIONS
                   if k in query and (k not in ("follow", "previous", "timestamps") or query[k] in TRUE)]
        path = "/containerLogs/" + "/".join(quote(p, safe="") for p in (info.namespace, info.name, container))
        url = self.kubelet_url(node, path, options)
        try:
            async with self.http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise _log_error(response.status_code, (await response.aread())[:ERROR_BODY_LIMIT],
                                     info.name)
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"text/plain"), (b"cache-control", b"no-cache, private")]})
                await stream_body(response.aiter_raw(), req.receive, send)
        except httpx.HTTPError as e:
            raise errors.internal(f"Get \"{url}\": {e}") from None

    # pods/exec, pods/attach, pods/portforward

    async def stream(self, req: Request, send, info: RequestInfo, pods: Kind) -> None:
        pod = await self._pod(pods, info.namespace, info.name)
        sub, query = info.subresource, req.query
        node = (pod.get("spec") or {}).get("nodeName")
        params: list[tuple[str, str]] = []
        if sub == "portforward":
            path = f"/portForward/{quote(info.namespace, safe='')}/{quote(info.name, safe='')}"
        else:
            container = pick_container(pod, query.get("container", ""))
            params = [(kubelet, "1") for flag, kubelet in STREAM_FLAGS if query.get(flag) in TRUE]
            if sub == "exec":
                query_string = req.scope.get("query_string", b"").decode("latin-1")
                params += [("command", v) for k, v in parse_qsl(query_string, keep_blank_values=True)
                           if k == "command"]
            path = "/" + sub + "/" + "/".join(quote(p, safe="") for p in (info.namespace, info.name, container))
        if not node:
            raise errors.bad_request(f"pod {info.name} does not have a host assigned")
        if req.scope.get("type") == "websocket":
            await self._relay_websocket(req, send, self.kubelet_url(node, path, params, "wss"))
        else:
            await self._forward_request(req, send, self.kubelet_url(node, path, params), with_body=False)

    # nodes/proxy

    async def node_proxy(self, req: Request, send, info: RequestInfo) -> None:
        prefix = f"/api/v1/nodes/{info.name}/proxy"
        subpath = req.path[req.path.index(prefix) + len(prefix):] if prefix in req.path else "/"
        await self._forward_request(req, send, self.kubelet_url(info.name, subpath or "/", list(req.query.items())))

    # the wire

    async def _forward_request(self, req: Request, send, url: str, with_body: bool = True) -> None:
        """One request to the kubelet; its answer handed back as it is. `with_body`: the request's body goes
        too (a streaming request's upgrade has none to read)."""
        import httpx  # loaded on first use: the server starts without it

        body = await req.body() if with_body and req.method in ("POST", "PUT", "PATCH") else None
        try:
            await forward(self.http, req, send, url, body, {"content-type": "text/plain"})
        except httpx.HTTPError as e:
            raise errors.internal(f"error dialing backend: {e}") from None

    async def _relay_websocket(self, req: Request, send, url: str) -> None:
        offered = req.scope.get("subprotocols") or []
        try:
            upstream = await dial(url, offered, ssl=self.tls(), compression=None,
                                     max_size=None, ping_interval=None, open_timeout=30)
        except InvalidStatus as e:  # the kubelet refused: its status and words, as kubectl would have had them
            body = e.response.body or b""
            await respond(send, e.response.status_code, body, "text/plain; charset=utf-8")
            return
        except (OSError, WebSocketException, TimeoutError) as e:
            raise errors.internal(f"error dialing backend: {e}") from None
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        await _relay_messages(req.receive, send, upstream)


def _log_error(status: int, body: bytes, name: str) -> errors.APIError:
    """The kubelet's refusal as upstream's GenericHttpResponseChecker turns it into a Status."""
    text = body.decode(errors="replace")
    if status == 400:
        return errors.bad_request(text)
    if status == 500:
        return errors.internal(text)
    reason = "NotFound" if status == 404 else ""
    return errors.APIError(status, reason, text, {"name": name, "kind": "pods/log"})


async def _relay_messages(receive, send, upstream: ClientConnection) -> None:
    """Both ways, message for message, until either side closes; then close the other."""
    async def client_to_kubelet() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] == "websocket.receive":
                data = message.get("bytes")
                await upstream.send(data if data is not None else message.get("text") or "")

    async def kubelet_to_client() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in upstream:
                key = "bytes" if isinstance(message, bytes) else "text"
                await send({"type": "websocket.send", key: message})

    try:
        await until_first(client_to_kubelet(), kubelet_to_client())
    finally:
        with contextlib.suppress(Exception):
            await upstream.close()
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close", "code": 1000})
