"""The aggregation layer (kube-aggregator inside kube-apiserver): APIServices that name a Service have their
group-version served by another server, which this one proxies to, and whose discovery it merges into its own.

A request for such a group-version, once authenticated and authorized here, goes to the Service as
kube-aggregator's default routing resolves it (a ClusterIP Service's cluster IP, an ExternalName Service's
name, at the APIService's port), over TLS checked against the APIService's caBundle for the name
SERVICE.NAMESPACE.svc, with the front-proxy client certificate and the user in X-Remote-User,
X-Remote-Group and X-Remote-Extra-* headers (--requestheader-* on the other side). The availability
controller asks each such server for its discovery document of the group-version every 30 seconds (and at
once when its APIService changes), as system:kube-aggregator, and writes the Available condition with
upstream's reasons; the documents it gets are what discovery shows of the group-version."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING
from urllib.parse import quote

from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors, meta
from timoneiro.apiserver.generic import Context, decode
from timoneiro.apiserver.http import Request, forward, respond

if TYPE_CHECKING:
    import httpx

    from timoneiro.apiserver.app import APIServer

log = logging.getLogger("timoneiro.apiserver.aggregation")
RECHECK_EVERY = 30.0
CHECK_TIMEOUT = 5.0
AGGREGATOR_USER, AGGREGATOR_GROUPS = "system:kube-aggregator", ("system:masters",)
FORWARDED_HEADERS = ("accept", "content-type", "user-agent", "accept-encoding")


class Aggregator:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.kind: Kind = server.registry.get("apiregistration.k8s.io", "v1", "apiservices")
        self.remote: dict[tuple[str, str], dict] = {}  # (group, version) -> the APIService naming a Service
        self.discovered: dict[tuple[str, str], dict] = {}  # (group, version) -> its APIResourceList
        self._clients: dict[bytes, httpx.AsyncClient] = {}  # by caBundle
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    # which APIServices there are

    def load(self) -> None:
        for entry in self.server.cache.list(self.kind.storage_prefix):
            self._index(decode(entry), None)

    def on_write(self, kind: Kind, new: dict | None, old: dict | None) -> None:
        if kind.storage_prefix != self.kind.storage_prefix:
            return
        self._index(new, old)
        if new is not None and (old is None or new.get("spec") != old.get("spec")):
            self._wake.set()

    def _index(self, new: dict | None, old: dict | None) -> None:
        served = new is not None and bool((new.get("spec") or {}).get("service"))
        if old is not None and (not served or _group_version(old) != _group_version(new)):
            key = _group_version(old)
            if self.remote.get(key, {}).get("metadata", {}).get("name") == old["metadata"]["name"]:
                self.remote.pop(key, None)
                self.discovered.pop(key, None)
        if served:
            self.remote[_group_version(new)] = new

    def serves(self, group: str, version: str | None = None) -> bool:
        return any(g == group and (version is None or v == version) for g, v in self.remote)

    # discovery

    def groups(self) -> dict[str, list[str]]:
        """The remote group-versions, highest versionPriority first within a group."""
        by_group: dict[str, list[tuple[int, str]]] = {}
        for (group, version), apiservice in self.remote.items():
            by_group.setdefault(group, []).append((-(apiservice["spec"].get("versionPriority") or 0), version))
        return {group: [v for _, v in sorted(versions)] for group, versions in by_group.items()}

    def api_group(self, group: str) -> dict | None:
        versions = self.groups().get(group)
        if not versions:
            return None
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs, "preferredVersion": gvs[0]}

    def aggregated_items(self) -> list[dict]:
        """APIGroupDiscovery items for the remote groups whose discovery is known: Current while the
        server is available, Stale once it stops answering."""
        items = []
        for group, versions in self.groups().items():
            entries = []
            for version in versions:
                resources = self.discovered.get((group, version))
                if resources is None:
                    continue
                fresh = _available(self.remote[(group, version)])
                entries.append({"version": version, "resources": _aggregated_resources(group, version, resources),
                                "freshness": "Current" if fresh else "Stale"})
            if entries:
                items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": entries})
        return items

    # proxying

    async def proxy(self, req: Request, send, group: str, version: str) -> None:
        import httpx  # loaded on first use: the server starts without it

        apiservice = self.remote[(group, version)]
        url = self._location(apiservice)
        if url is None or not _available(apiservice):
            await respond(send, 503, b"service unavailable\n", "text/plain; charset=utf-8")
            return
        query = req.scope.get("query_string", b"").decode("latin-1")
        headers = [(k, v) for k, v in req.headers.items() if k in FORWARDED_HEADERS]
        headers += _identity(req.scope["user"])
        body = await req.body() if req.method in ("POST", "PUT", "PATCH") else None
        client = self._client(apiservice)
        try:
            await forward(client, req, send, url + quote(req.path) + (f"?{query}" if query else ""), body,
                          {"content-type": None, "content-encoding": None}, headers=headers,
                          extensions={"sni_hostname": _service_host(apiservice)})
        except httpx.HTTPError as e:
            log.warning("proxying %s to %s failed: %s", req.path, url, e)
            await respond(send, 503, b"service unavailable\n", "text/plain; charset=utf-8")

    def _location(self, apiservice: dict) -> str | None:
        """https://HOST:PORT of the APIService's Service, as upstream's ResolveCluster finds it."""
        ref = apiservice["spec"]["service"]
        services = self.server.registry.get("", "v1", "services")
        entry = self.server.cache.get(services.key(ref.get("namespace"), ref.get("name")))
        if entry is None:
            return None
        spec = decode(entry).get("spec") or {}
        port = ref.get("port") or 443
        if spec.get("type") == "ExternalName":
            host = spec.get("externalName", "")
        elif spec.get("clusterIP") and spec.get("clusterIP") != "None":
            host = spec["clusterIP"]
        else:
            return None
        return f"https://{f'[{host}]' if ':' in host else host}:{port}"

    def _client(self, apiservice: dict) -> httpx.AsyncClient:
        import httpx  # loaded on first use: the server starts without it

        bundle = (apiservice["spec"].get("caBundle") or "").encode()
        insecure = bool(apiservice["spec"].get("insecureSkipTLSVerify"))
        key = b"insecure" if insecure else bundle
        client = self._clients.get(key)
        if client is None:
            ctx = ssl.create_default_context(cadata=base64.b64decode(bundle).decode() if bundle else None)
            if insecure:
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            if self.server.secure:
                pki = self.server.pki
                ctx.load_cert_chain(pki.path("front-proxy-client.crt"), pki.path("front-proxy-client.key"))
            client = self._clients[key] = httpx.AsyncClient(verify=ctx, trust_env=False,
                                                            timeout=httpx.Timeout(60.0, read=None))
        return client

    # the availability controller

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for client in self._clients.values():
            await client.aclose()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            for key in list(self.remote):
                try:
                    await self.check(*key)
                except Exception:  # noqa: BLE001 - one APIService's trouble must not stop the others' checks
                    log.exception("checking APIService %s/%s failed", *key)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RECHECK_EVERY)

    async def check(self, group: str, version: str) -> None:
        apiservice = self.remote.get((group, version))
        if apiservice is None:
            return
        reason, message = await self._probe(apiservice, group, version)
        await self._set_available(apiservice["metadata"]["name"], reason, message)

    async def _probe(self, apiservice: dict, group: str, version: str) -> tuple[str, str]:
        import httpx  # loaded on first use: the server starts without it

        ref = apiservice["spec"]["service"]
        url = self._location(apiservice)
        if url is None:
            return "ServiceNotFound", f'service/{ref.get("name")} in "{ref.get("namespace")}" is not present'
        discovery = f"{url}/apis/{group}/{version}"
        try:
            response = await self._client(apiservice).get(
                discovery, headers=_identity_of(AGGREGATOR_USER, AGGREGATOR_GROUPS), timeout=CHECK_TIMEOUT,
                extensions={"sni_hostname": _service_host(apiservice)})
        except httpx.HTTPError as e:
            return "FailedDiscoveryCheck", f"failing or missing response from {discovery}: Get \"{discovery}\": {e}"
        if response.status_code != 200:
            return "FailedDiscoveryCheck", f"failing or missing response from {discovery}: bad status from " \
                                           f"{discovery}: {response.status_code}"
        self.discovered[(group, version)] = response.json()
        return "Passed", "all checks passed"

    async def _set_available(self, name: str, reason: str, message: str) -> None:
        status = "True" if reason == "Passed" else "False"

        def change(current: dict) -> dict:
            conditions = list((current.get("status") or {}).get("conditions") or ())
            old = next((c for c in conditions if c.get("type") == "Available"), None)
            if old and (old.get("status"), old.get("reason"), old.get("message")) == (status, reason, message):
                return current  # unchanged: no write
            new = {"type": "Available", "status": status,
                   "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") == status
                   else meta.now(), "reason": reason, "message": message}
            current["status"] = {**(current.get("status") or {}),
                                 "conditions": [c for c in conditions if c.get("type") != "Available"] + [new]}
            return current

        with contextlib.suppress(errors.APIError):  # deleted meanwhile
            await self.server.generic.modify(Context(subresource="status"), self.kind, name, change)


def _group_version(apiservice: dict) -> tuple[str, str]:
    spec = apiservice.get("spec") or {}
    return spec.get("group", ""), spec.get("version", "")


def _available(apiservice: dict) -> bool:
    return any(c.get("type") == "Available" and c.get("status") == "True"
               for c in (apiservice.get("status") or {}).get("conditions") or ())


def _service_host(apiservice: dict) -> str:
    ref = apiservice["spec"]["service"]
    return f"{ref.get('name')}.{ref.get('namespace')}.svc"


def _identity(user) -> list[tuple[str, str]]:
    headers = _identity_of(user.name, user.groups)
    for key, values in (user.extra or {}).items():
        headers += [(f"X-Remote-Extra-{quote(key, safe='')}", v) for v in values]
    return headers


def _identity_of(name: str, groups: tuple[str, ...]) -> list[tuple[str, str]]:
    return [("X-Remote-User", name)] + [("X-Remote-Group", g) for g in groups]


def _aggregated_resources(group: str, version: str, resource_list: dict) -> list[dict]:
    """A remote APIResourceList in the aggregated discovery form (subresources under their resource)."""
    out: dict[str, dict] = {}
    for r in resource_list.get("resources") or ():
        name = r.get("name", "")
        base, _, sub = name.partition("/")
        kind = {"group": r.get("group", group), "version": r.get("version", version), "kind": r.get("kind", "")}
        if sub:
            parent = out.setdefault(base, {"resource": base, "scope": "Namespaced" if r.get("namespaced") else "Cluster",
                                           "verbs": []})
            parent.setdefault("subresources", []).append({"subresource": sub, "responseKind": kind,
                                                          "verbs": r.get("verbs") or []})
            continue
        entry = out.setdefault(name, {"resource": name})
        entry.update({"responseKind": kind, "scope": "Namespaced" if r.get("namespaced") else "Cluster",
                      "singularResource": r.get("singularName") or "", "verbs": r.get("verbs") or []})
        for field, key in (("shortNames", "shortNames"), ("categories", "categories")):
            if r.get(field):
                entry[key] = r[field]
    return list(out.values())

