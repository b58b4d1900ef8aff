"""The API server: storage, watch cache and kinds behind one ASGI application."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable

import orjson

from timoneiro import KUBERNETES_VERSION
from timoneiro.api.builtin import builtin_registry
from timoneiro.api.kinds import Kind
from timoneiro.api.openapi.v2proto import negotiate as openapi_v2_media_type
from timoneiro.apiserver import clusterinfo, csr, discovery, errors, tokenreview, watch
from timoneiro.apiserver.admission import chain as admission
from timoneiro.apiserver.admission.namespace import refuse_protected_namespace_delete
from timoneiro.apiserver.admission.priority import system_priority_classes
from timoneiro.apiserver.admission.service_addresses import DEFAULT_SERVICE_RANGE, ServiceAddresses
from timoneiro.apiserver.aggregation import Aggregator
from timoneiro.apiserver.authn import Authentication, Everyone
from timoneiro.apiserver.authn.bootstrap import BootstrapTokenAuthenticator
from timoneiro.apiserver.authn.impersonation import impersonate
from timoneiro.apiserver.authn.serviceaccount import ServiceAccountAuthenticator, ServiceAccountTokens
from timoneiro.apiserver.authn.tokenfile import TokenFileAuthenticator
from timoneiro.apiserver.authn.webhook import DEFAULT_CACHE_TTL, WebhookTokenAuthenticator
from timoneiro.apiserver.authn.x509 import X509Authenticator
from timoneiro.apiserver.authz import AlwaysAllow, Authorization, attributes, forbidden_message
from timoneiro.apiserver.authz.bootstrap_policy import reconcile as reconcile_rbac_policy
from timoneiro.apiserver.authz.escalation import EscalationCheck
from timoneiro.apiserver.authz.modes import DEFAULT_MODE, authorization_chain
from timoneiro.apiserver.authz.rbac import RBACAuthorizer
from timoneiro.apiserver.authz.reviews import install as install_access_reviews
from timoneiro.apiserver.crds import CRDServing
from timoneiro.apiserver.generic import Context, GenericStore
from timoneiro.apiserver.handlers import Handlers
from timoneiro.apiserver.http import BodyError, Request, respond, respond_error, respond_object
from timoneiro.apiserver.kubelet_proxy import KubeletProxy
from timoneiro.apiserver.oidc import CONFIG_PATH, JWKS_PATH, IssuerDiscovery
from timoneiro.apiserver.requestinfo import RequestInfo, parse
from timoneiro.apiserver.subresources import Subresources
from timoneiro.apiserver.tokenrequest import TokenRequests
from timoneiro.pki.cluster import ClusterPKI
from timoneiro.storage import encryption
from timoneiro.storage.cache import WatchCache
from timoneiro.storage.interface import Undecodable
from timoneiro.storage.sqlite import SQLiteStore

log = logging.getLogger("timoneiro.apiserver")
BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
COMPACT_EVERY = 300.0
AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")


class APIServer:
    def __init__(self, data_dir: str, address: str = "127.0.0.1:6443", *, secure: bool = True,
                 encryption_provider_config: str | None = None, token_auth_file: str | None = None,
                 authorization_mode: str = DEFAULT_MODE, authentication_token_webhook_config_file: str | None = None,
                 authentication_token_webhook_cache_ttl: float = DEFAULT_CACHE_TTL,
                 service_cluster_ip_range: str = DEFAULT_SERVICE_RANGE) -> None:
        """`secure`: HTTPS with the cluster PKI under data_dir, and every request authenticated and
        authorized; else (only to measure what that costs) plain HTTP where everyone is the superuser.
        `encryption_provider_config`: an EncryptionConfiguration file (encryption at rest); a secure server
        without one encrypts Secrets with the key in DATA_DIR/pki/encryption-config.yaml (made once).
        `token_auth_file`: static bearer tokens (kube-apiserver's --token-auth-file).
        `authentication_token_webhook_config_file`: a kubeconfig naming the service that checks bearer tokens
        no other authenticator knows (--authentication-token-webhook-config-file), whose answers are kept
        `authentication_token_webhook_cache_ttl` seconds (--authentication-token-webhook-cache-ttl).
        `authorization_mode`: kube-apiserver's --authorization-mode, e.g. "Node,RBAC".
        `service_cluster_ip_range`: the CIDR Services' cluster IPs come from (--service-cluster-ip-range)."""
        self.data_dir = data_dir
        self.address = address
        self.secure = secure
        self.pki = ClusterPKI(data_dir)
        if encryption_provider_config is None and secure:
            encryption_provider_config = encryption.ensure_default(data_dir)
        transformers = encryption.load(encryption_provider_config) if encryption_provider_config else None
        self.store = SQLiteStore(os.path.join(data_dir, "state.db"), transformers)
        self.registry = builtin_registry()
        self._by_storage: dict[str, Kind] = {}
        self.registry.listeners.append(self._index_storage)
        self._index_storage()
        self.cache = WatchCache(self.store, self._describe)
        self.generic = GenericStore(self.store, self.cache)
        self.handlers = Handlers(self)
        self.subresources = Subresources(self)
        self.kubelets = KubeletProxy(self)
        self.crds = CRDServing(self)
        self.aggregator = Aggregator(self)
        self.service_addresses = ServiceAddresses(self.cache, service_cluster_ip_range)
        admission.install(self)
        csr.install(self)
        self.generic.after_write.append(self.crds.on_write)
        self.generic.after_write.append(self.aggregator.on_write)
        self.service_accounts = ServiceAccountTokens(self.pki.service_account_key())
        static_tokens = [TokenFileAuthenticator(token_auth_file)] if token_auth_file else []
        # upstream's order: certificates, local tokens, then the remote webhook last
        webhook = [WebhookTokenAuthenticator.from_file(authentication_token_webhook_config_file,
                                                       self.service_accounts.audiences,
                                                       authentication_token_webhook_cache_ttl)
                   ] if authentication_token_webhook_config_file else []
        self.authentication = Authentication([X509Authenticator(), *static_tokens,
                                              ServiceAccountAuthenticator(self.service_accounts, self.cache),
                                              BootstrapTokenAuthenticator(self.cache), *webhook]
                                             if secure else [Everyone()])
        self.rbac = RBACAuthorizer(self.cache)
        self.authorization = authorization_chain(self, authorization_mode) if secure else \
            Authorization([AlwaysAllow()])
        self.generic.validators.append(EscalationCheck(self.rbac, self.authorization, self.registry))
        # create-only kinds answered rather than stored, by (group, plural): see Handlers.review
        self.reviews: dict[tuple[str, str], Callable[[Context, dict], Awaitable[dict]]] = {}
        tokenreview.install(self)
        install_access_reviews(self)
        self.token_requests = TokenRequests(self)
        host, _, port = address.rpartition(":")
        external = host if host not in ("", "0.0.0.0") else "127.0.0.1"
        self.issuer_discovery = IssuerDiscovery(self.service_accounts, f"{external}:{port}")
        self._openapi = None
        self._compactor: asyncio.Task | None = None

    # lifecycle

    async def start(self) -> None:
        await self.store.start()
        await self.cache.start()
        self.crds.load()
        self.aggregator.load()
        await self._bootstrap()
        self.aggregator.start()
        self._compactor = asyncio.get_running_loop().create_task(self._compact_periodically())

    async def _bootstrap(self) -> None:
        """What kube-apiserver creates for itself: the system namespaces, the default RBAC policy, the kubernetes
        Service and the system PriorityClasses."""
        namespaces = self.registry.get("", "v1", "namespaces")
        for name in BOOTSTRAP_NAMESPACES:
            await self._ensure(namespaces, None, {"metadata": {"name": name}})
        await reconcile_rbac_policy(self)  # the rbac/bootstrap-roles post-start hook
        host, _, port = self.address.rpartition(":")
        labels = {"component": "apiserver", "provider": "kubernetes"}
        await self._ensure(self.registry.get("", "v1", "services"), "default", {
            "metadata": {"name": "kubernetes", "labels": labels},
            "spec": {"type": "ClusterIP", "clusterIP": self.service_addresses.first_ip(),
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": int(port)}],
                     "sessionAffinity": "None"}})
        # Its Endpoints would carry the address pods reach the server at; listening on loopback only, it has
        # none that Endpoints may hold, so none is written until the server listens on the pod network.
        priority_classes = self.registry.get("scheduling.k8s.io", "v1", "priorityclasses")
        for priority_class in system_priority_classes():
            await self._ensure(priority_classes, None, priority_class)
        if self.secure:  # a server with a CA is joinable, as after `kubeadm init`
            await clusterinfo.ensure(self)

    async def _ensure(self, kind: Kind, namespace: str | None, obj: dict) -> None:
        if self.cache.get(kind.key(namespace, obj["metadata"]["name"])) is None:
            await self.generic.create(Context(namespace=namespace), kind, obj)

    async def stop(self) -> None:
        if self._compactor:
            self._compactor.cancel()
        await self.kubelets.close()
        await self.aggregator.stop()
        await self.cache.close()
        await self.store.close()

    def close_watches(self) -> None:
        self.cache.close_watchers()

    async def compact(self, revision: int) -> None:
        await self.store.compact(revision)
        self.cache.forget_before(revision)

    async def _compact_periodically(self) -> None:
        """Keep about five minutes of history, as kube-apiserver's compaction of etcd does."""
        seen: list[tuple[float, int]] = []
        while True:
            await asyncio.sleep(COMPACT_EVERY / 5)
            now = time.monotonic()
            seen.append((now, self.store.revision))
            old = [rev for t, rev in seen if now - t >= COMPACT_EVERY]
            if old:
                await self.compact(old[-1])
                seen = [(t, r) for t, r in seen if now - t < COMPACT_EVERY]

    def _index_storage(self) -> None:
        self._by_storage = {k.storage_prefix: k for k in self.registry.kinds()
                            if k.storage_version == k.api_version}

    def _describe(self, key: str, obj: dict) -> dict:
        prefix = key[: key.index("/", key.index("/", 1) + 1) + 1]
        kind = self._by_storage.get(prefix)
        return kind.strategy.field_values(kind, obj) if kind else {}

    @property
    def openapi(self):
        if self._openapi is None:
            from timoneiro.api.openapi import OpenAPI

            self._openapi = OpenAPI(self.registry)
        return self._openapi

    # ASGI

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":  # exec, attach, port-forward: answered as HTTP until accepted
            if (await receive())["type"] != "websocket.connect":
                return
            scope, send = {**scope, "method": "GET"}, _websocket_sender(send)
        elif scope["type"] != "http":
            return
        req = Request(scope, receive)
        try:
            await self.route(req, send)
        except errors.APIError as e:
            await respond_error(send, e)
        except BodyError as e:
            await respond_error(send, errors.bad_request(e.detail))
        except Undecodable as e:  # a stored object no configured key decrypts (logged as it was read)
            await respond_error(send, errors.internal(str(e)))
        except Exception as e:  # a bug: answer as kube-apiserver does, and log it
            log.exception("request %s %s failed", req.method, req.path)
            await respond_error(send, errors.internal(str(e)))

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def route(self, req: Request, send) -> None:
        info = parse(req.method, req.path, req.query)
        user = await self.authentication.authenticate(req)
        if user is None:
            raise errors.unauthorized()
        user = impersonate(req, user, self.authorization)
        attrs = attributes(info, req.query)
        allowed, why = self.authorization.authorize(user, attrs)
        if not allowed:
            raise errors.request_forbidden(attrs, forbidden_message(user, attrs), why)
        req.scope["user"] = user
        path = req.path.rstrip("/") or "/"
        parts = info.parts
        group_version = (info.group, info.version) if info.is_resource else tuple(parts[1:3])
        if (info.is_resource or (len(parts) == 3 and parts[0] == "apis")) and \
                self.aggregator.serves(*group_version):
            await self.aggregator.proxy(req, send, *group_version)
            return
        if info.is_resource:
            await self.resource(req, send, info)
            return
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            await respond(send, 200, b"ok", "text/plain; charset=utf-8")
        elif path == "/version":
            await respond_object(send, 200, version_info())
        elif path in (CONFIG_PATH, JWKS_PATH):
            await self.issuer_discovery.serve(req.method, path, send)
        elif path in ("/api", "/apis"):
            await self.discovery_root(req, send, legacy=path == "/api")
        elif parts and parts[0] == "apis" and len(parts) == 2:
            group = discovery.api_group(self.registry, parts[1]) or self.aggregator.api_group(parts[1])
            if group is None:
                raise errors.path_not_found(req.path)
            await respond_object(send, 200, group)
        elif (parts and parts[0] == "api" and len(parts) == 2) or (parts and parts[0] == "apis" and len(parts) == 3):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            if not self.registry.in_group_version(group, version):
                raise errors.path_not_found(req.path)
            await respond_object(send, 200, discovery.resource_list(self.registry, group, version))
        elif path == "/openapi/v2":
            ctype = openapi_v2_media_type(req.accept)
            if ctype is None:
                await respond(send, 406, b"", "text/plain", [(b"vary", b"Accept")])
            else:
                body = self.openapi.v2() if ctype == "application/json" else self.openapi.v2_proto()
                await respond(send, 200, body, ctype, [(b"vary", b"Accept")])
        elif path == "/openapi/v3":
            await respond(send, 200, self.openapi.v3_index())
        elif path.startswith("/openapi/v3/"):
            doc = self.openapi.v3_group_version(path[len("/openapi/v3/"):])
            if doc is None:
                raise errors.path_not_found(req.path)
            await respond(send, 200, doc)
        else:
            await respond(send, 404, b"404 page not found\n", "text/plain; charset=utf-8")

    async def discovery_root(self, req: Request, send, legacy: bool) -> None:
        for ctype in AGGREGATED:
            if ctype in req.accept.replace(" ", ""):
                api_version = "apidiscovery.k8s.io/" + ctype.split("v=")[1].split(";")[0]
                doc = discovery.aggregated(self.registry, legacy, api_version)
                if not legacy:
                    doc["items"] += self.aggregator.aggregated_items()
                body = orjson.dumps(doc)
                await respond(send, 200, body, ctype)
                return
        doc = discovery.api_versions(self.address) if legacy else discovery.group_list(self.registry)
        if not legacy:
            doc["groups"] += [{k: v for k, v in group.items() if k not in ("kind", "apiVersion")}
                              for name in self.aggregator.groups() if (group := self.aggregator.api_group(name))]
        await respond_object(send, 200, doc)

    async def resource(self, req: Request, send, info: RequestInfo) -> None:
        kind = self.registry.get(info.group, info.version, info.resource)
        if kind is None or (info.namespace and not kind.namespaced):
            raise errors.path_not_found(req.path)
        if info.subresource:
            await self.subresource(req, send, info, kind)
            return
        h = self.handlers
        verb = info.verb
        if verb not in kind.verbs and not (kind.plural == "bindings" and verb == "create"):
            raise errors.method_not_supported(kind, verb)
        if verb == "get":
            await h.get(req, send, info, kind)
        elif verb == "list":
            await h.list(req, send, info, kind)
        elif verb == "watch":
            await watch.serve(h, req, send, info, kind)
        elif verb == "create" and kind.plural == "bindings":
            pods = self.registry.get("", "v1", "pods")
            body = await req.json()
            req._body = orjson.dumps(body)
            await self.subresources.bind(req, send, pods, h.context(req, info, pods),
                                         ((body or {}).get("metadata") or {}).get("name", ""))
        elif verb == "create" and (kind.group, kind.plural) in self.reviews:
            await h.review(req, send, info, kind, self.reviews[(kind.group, kind.plural)])
        elif verb == "create":
            await h.create(req, send, info, kind)
        elif verb == "update":
            await h.update(req, send, info, kind)
        elif verb == "patch":
            await h.patch(req, send, info, kind)
        elif verb == "delete":
            refuse_protected_namespace_delete(kind, info.name)
            await h.delete(req, send, info, kind)
        elif verb == "deletecollection":
            await h.deletecollection(req, send, info, kind)
        else:
            raise errors.method_not_supported(kind, verb)

    async def subresource(self, req: Request, send, info: RequestInfo, kind: Kind) -> None:
        sub, verb, h = info.subresource, info.verb, self.handlers
        if sub not in kind.subresources:
            raise errors.path_not_found(req.path)
        if sub in ("status", "approval") and verb in ("get", "update", "patch"):
            await {"get": h.get, "update": h.update, "patch": h.patch}[verb](req, send, info, kind)
        elif sub == "scale" and verb == "get":
            await self.subresources.get_scale(req, send, kind, info.namespace, info.name)
        elif sub == "scale" and verb == "update":
            await self.subresources.put_scale(req, send, kind, h.context(req, info, kind), info.name)
        elif sub == "scale" and verb == "patch":
            await h.patch(req, send, info, kind)
        elif sub == "binding" and verb == "create":
            await self.subresources.bind(req, send, kind, h.context(req, info, kind), info.name)
        elif sub == "eviction" and verb == "create":
            await self.subresources.evict(req, send, kind, h.context(req, info, kind), info.name)
        elif sub == "token" and verb == "create":
            await self.token_requests.create(req, send, kind, h.context(req, info, kind), info.name)
        elif sub == "finalize" and verb == "update":
            await self.subresources.finalize(req, send, kind, h.context(req, info, kind), info.name)
        elif kind.plural == "pods" and sub == "log" and verb == "get":
            await self.kubelets.log(req, send, info, kind)
        elif kind.plural == "pods" and sub in ("exec", "attach", "portforward") and verb in ("get", "create"):
            await self.kubelets.stream(req, send, info, kind)
        elif kind.plural == "nodes" and sub == "proxy":
            await self.kubelets.node_proxy(req, send, info)
        else:
            raise errors.method_not_supported(kind, f"{verb} on {sub}")


def _websocket_sender(send):
    """A WebSocket's send for the request's path through the server: HTTP responses (errors) become its
    handshake's denial, as kube-apiserver answers a refused upgrade with a plain response."""
    async def sending(message: dict) -> None:
        kind = message["type"]
        await send({**message, "type": "websocket." + kind} if kind.startswith("http.response.") else message)
    return sending


def version_info() -> dict:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    return {"major": major, "minor": minor, "emulationMajor": major, "emulationMinor": minor,
            "gitVersion": KUBERNETES_VERSION, "gitCommit": "timoneiro", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "python", "compiler": "cpython",
            "platform": "linux/amd64"}
