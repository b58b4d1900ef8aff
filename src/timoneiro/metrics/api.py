"""The metrics.k8s.io/v1beta1 API as metrics-server serves it: discovery, NodeMetrics and PodMetrics (get and
list, with label and field selectors), every request authenticated and authorized first (see auth).

Objects carry the node's or pod's labels, a creationTimestamp of now, the usage (cpu in nanocores, memory in
bytes as a binary quantity), the timestamp of the last scrape they come from and the window between the two
scrapes their cpu rate is taken over. A pod or node with no usage yet is left out of lists and is
NotFound on its own, in metrics-server's words."""

from __future__ import annotations

from fractions import Fraction

import orjson

from timoneiro.api import quantity, selectors
from timoneiro.apiserver import errors
from timoneiro.apiserver.authz import forbidden_message
from timoneiro.apiserver.http import Request, respond, respond_error, respond_object
from timoneiro.apiserver.requestinfo import RequestInfo, parse
from timoneiro.client.store import Store
from timoneiro.kubelet.backoff import go_duration
from timoneiro.kubelet.times import rfc3339
from timoneiro.metrics import auth
from timoneiro.metrics.storage import Storage, Usage

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
RESOURCES = {"nodes": ("NodeMetrics", False), "pods": ("PodMetrics", True)}
METRIC_FIELDS = ("metadata.name", "metadata.namespace")


def resource_list() -> dict:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION, "resources": [
        {"name": plural, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["get", "list"]}
        for plural, (kind, namespaced) in RESOURCES.items()]}


def api_group() -> dict:
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": [version],
            "preferredVersion": version}


def usage(u: Usage) -> dict:
    return {"cpu": f"{u.nano_cores}n", "memory": str(quantity.Quantity(Fraction(u.memory_bytes), quantity.BINARY_SI))}


def not_found(plural: str, name: str, qualified: str | None = None) -> errors.APIError:
    """NotFound for `plural` of metrics.k8s.io (podmetrics, nodemetrics), or of another qualified resource."""
    resource = qualified or f"{plural}.{GROUP}"
    details: dict = {"name": name, "kind": resource.split(".", 1)[0]}
    if qualified is None:
        details["group"] = GROUP
    return errors.APIError(404, "NotFound", f'{resource} "{name}" not found', details)


class MetricsAPI:
    """`nodes` and `pods`: the informers' caches of nodes and of pods' metadata."""

    def __init__(self, storage: Storage, nodes: Store, pods: Store, authorizer: auth.Authorizer) -> None:
        self.storage = storage
        self.nodes = nodes
        self.pods = pods
        self.authorizer = authorizer

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        try:  # every request is a read: none has a body to fail on
            await self.route(Request(scope, receive), send)
        except errors.APIError as e:
            await respond_error(send, e)

    async def route(self, req: Request, send) -> None:
        info = parse(req.method, req.path, req.query)
        user = auth.authenticate(req)
        if not await self.authorizer.allowed(user, info):
            raise errors.request_forbidden(info, forbidden_message(user, info))
        path = req.path.rstrip("/") or "/"
        if path in auth.ALWAYS_ALLOWED:
            await respond(send, 200, b"ok", "text/plain; charset=utf-8")
        elif path == "/apis":
            group = {k: v for k, v in api_group().items() if k not in ("kind", "apiVersion")}
            await respond_object(send, 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]})
        elif path == f"/apis/{GROUP}":
            await respond_object(send, 200, api_group())
        elif path == f"/apis/{GROUP_VERSION}":
            await respond_object(send, 200, resource_list())
        elif info.is_resource and info.group == GROUP and info.version == VERSION and info.resource in RESOURCES \
                and not info.subresource and bool(info.namespace) <= RESOURCES[info.resource][1]:
            await respond(send, 200, orjson.dumps(self.serve(info, req.query)))
        else:
            raise errors.path_not_found(req.path)

    def serve(self, info: RequestInfo, query: dict[str, str]) -> dict:
        kind, _ = RESOURCES[info.resource]
        if info.verb not in ("get", "list"):
            raise errors.APIError(405, "MethodNotAllowed", f'{info.verb} is not supported on resources of kind '
                                  f'"{info.resource}.{GROUP}"', {"group": GROUP, "kind": info.resource})
        objects = self.node_metrics() if info.resource == "nodes" else self.pod_metrics(info.namespace)
        if info.verb == "get":
            return self._one(info, objects)
        try:
            labels = selectors.parse_labels(query.get("labelSelector", ""))
            fields = selectors.parse_fields(query.get("fieldSelector", ""), lambda f: f in METRIC_FIELDS)
        except ValueError as e:
            raise errors.bad_request(str(e)) from None
        items = [obj for _, obj in sorted(objects.items())
                 if selectors.matches(labels, obj["metadata"].get("labels") or {}) and selectors.fields_match(
                     fields, {"metadata.name": obj["metadata"]["name"],
                              "metadata.namespace": obj["metadata"].get("namespace", "")})]
        return {"kind": f"{kind}List", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}

    def _one(self, info: RequestInfo, objects: dict[str, dict]) -> dict:
        if info.resource == "nodes":
            if self.nodes.get(info.name) is None:
                raise not_found("nodes", info.name, "nodes")
            found = objects.get(info.name)
            if found is None:
                raise not_found("nodemetrics", info.name)
            return found
        key = f"{info.namespace}/{info.name}"
        if self.pods.get(key) is None:
            raise not_found("pods", info.name, "pods")
        found = objects.get(key)
        if found is None:
            raise not_found("podmetrics", key)
        return found

    def node_metrics(self) -> dict[str, dict]:
        now = rfc3339()
        found = {}
        for node in self.nodes.list():
            name = node["metadata"]["name"]
            u = self.storage.node(name)
            if u is not None:
                found[name] = {"kind": "NodeMetrics", "apiVersion": GROUP_VERSION,
                               "metadata": _meta(node, now), "timestamp": rfc3339(u.timestamp),
                               "window": go_duration(u.window), "usage": usage(u)}
        return found

    def pod_metrics(self, namespace: str) -> dict[str, dict]:
        now = rfc3339()
        found = {}
        for (ns, name), containers in self.storage.pods().items():
            key = f"{ns}/{name}"
            pod = self.pods.get(key)
            if pod is None or (namespace and ns != namespace):
                continue
            last = max(containers.values(), key=lambda u: u.timestamp)
            found[key] = {"kind": "PodMetrics", "apiVersion": GROUP_VERSION, "metadata": _meta(pod, now),
                          "timestamp": rfc3339(last.timestamp), "window": go_duration(last.window),
                          "containers": [{"name": c, "usage": usage(u)} for c, u in sorted(containers.items())]}
        return found


def _meta(obj: dict, now: str) -> dict:
    meta = obj.get("metadata") or {}
    out = {"name": meta.get("name", "")}
    if meta.get("namespace"):
        out["namespace"] = meta["namespace"]
    out["creationTimestamp"] = now
    if meta.get("labels"):
        out["labels"] = meta["labels"]
    return out
