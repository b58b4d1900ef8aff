"""The operations kube-apiserver publishes for each kind, generated from the kind's verbs and subresources.

Operation ids, tags, actions and group-version-kinds follow upstream's installer and naming rules so that
kubectl (which looks for the PATCH operation of a kind and its fieldValidation parameter) finds them.
Paths are built in Swagger 2.0 form; path_item_v3 converts one to OpenAPI 3.0.
"""

from __future__ import annotations

from dataclasses import dataclass

from timoneiro.api import schema
from timoneiro.api.kinds import Kind
from timoneiro.api.openapi import parameters as p
from timoneiro.api.openapi.schemas import V2_PREFIX, to_v3
from timoneiro.apiserver.discovery import _sub_kind

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS, DELETE_OPTIONS, PATCH, WATCH_EVENT = (META + n for n in ("Status", "DeleteOptions", "Patch", "WatchEvent"))

OBJECT_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
STREAM_TYPES = [*OBJECT_TYPES, "application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"]
CUSTOM_TYPES = ["application/json", "application/yaml"]
PATCH_TYPES = ["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json"]
PROXY_METHODS = ("delete", "get", "head", "options", "patch", "post", "put")
UNAUTHORIZED = {"401": {"description": "Unauthorized"}}
_VERBS = ("get", "log", "read", "replace", "patch", "delete", "deletecollection", "watch", "connect", "proxy",
          "list", "create")


def _valid_id(s: str, capitalize: bool) -> str:
    out = []
    for i, ch in enumerate(s):
        if ch.isalpha() or ch == "_" or (i and ch.isdigit()):
            out.append(ch.upper() if capitalize else ch)
            capitalize = False
        else:
            capitalize = True
    return "".join(out)


def operation_id(name: str, path: str) -> tuple[str, list[str]]:
    """Upstream's operation id and tags: the verb, then the group and version, then the rest of the name."""
    verb = min((v for v in _VERBS if name.startswith(v)), key=len)
    prefix, rest = verb, name[len(verb):]
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        parts = ["apis", "core", *parts[1:]]
    tags = []
    if len(parts) >= 2 and parts[0] == "apis":
        group = parts[1].removesuffix(".k8s.io")
        prefix += _valid_id(group, True)
        tag = _valid_id(group, False)
        if len(parts) > 2:
            prefix += _valid_id(parts[2], True)
            tag += "_" + _valid_id(parts[2], False)
        tags.append(tag)
    elif parts[0]:
        tags.append(_valid_id(parts[0], False))
    return prefix + _valid_id(rest, True), tags


def _ref(name: str) -> dict:
    return {"$ref": V2_PREFIX + name}


def _article(noun: str) -> str:
    if noun.endswith("s") and not noun.endswith("ss"):
        return ""
    return "an " if noun[0].lower() in "aeiou" else "a "


def _gvk(group: str, version: str, kind: str) -> dict:
    return {"group": group, "kind": kind, "version": version}


@dataclass
class Routes:
    """Operations gathered by path; items() hoists the parameters all of a path's operations share."""

    by_path: dict[str, dict[str, dict]]

    def add(self, path: str, method: str, name: str, description: str, params: list[dict],
            responses: dict, consumes: list[str], produces: list[str], extensions: dict | None = None) -> None:
        op_id, tags = operation_id(name, path)
        path_params = [param for param in (p.NAMESPACE, p.PROXY_PATH) if f"{{{param['name']}}}" in path]
        op = {"consumes": consumes, "description": description, "operationId": op_id,
              "parameters": sorted([*path_params, *params], key=lambda q: q["name"]), "produces": produces,
              "responses": {**responses, **UNAUTHORIZED}, "schemes": ["https"], "tags": tags, **(extensions or {})}
        self.by_path.setdefault(path, {})[method] = op

    def items(self) -> dict[str, dict]:
        out = {}
        for path, ops in self.by_path.items():
            shared = [q for q in next(iter(ops.values()))["parameters"]
                      if q["in"] != "body" and all(q in op["parameters"] for op in ops.values())]
            item: dict = {m: {**op, "parameters": [q for q in op["parameters"] if q not in shared]}
                          for m, op in ops.items()}
            for op in item.values():
                if not op["parameters"]:
                    del op["parameters"]
            if shared:
                item["parameters"] = shared
            out[path] = item
        return out


def discovery_routes(routes: Routes, group: str, versions: list[str]) -> None:
    """The discovery documents of one group (the core group when group is "")."""
    types = {"consumes": OBJECT_TYPES, "produces": OBJECT_TYPES}
    if group:
        routes.add(f"/apis/{group}/", "get", "getAPIGroup", "get information of a group", [],
                   {"200": {"description": "OK", "schema": _ref(META + "APIGroup")}}, **types)
    else:
        routes.add("/api/", "get", "getAPIVersions", "get available API versions", [],
                   {"200": {"description": "OK", "schema": _ref(META + "APIVersions")}}, **types)
    for version in versions:
        prefix = f"/apis/{group}/{version}/" if group else f"/api/{version}/"
        routes.add(prefix, "get", "getAPIResources", "get available resources", [],
                   {"200": {"description": "OK", "schema": _ref(META + "APIResourceList")}}, **types)


def root_routes(routes: Routes) -> None:
    """The paths outside any group: the group list, the version and the service account issuer."""
    routes.add("/apis/", "get", "getAPIVersions", "get available API versions", [],
               {"200": {"description": "OK", "schema": _ref(META + "APIGroupList")}},
               consumes=OBJECT_TYPES, produces=OBJECT_TYPES)
    routes.add("/version/", "get", "getCodeVersion", "get the code version", [],
               {"200": {"description": "OK", "schema": _ref("io.k8s.apimachinery.pkg.version.Info")}},
               consumes=["application/json"], produces=["application/json"])
    text = {"200": {"description": "OK", "schema": {"type": "string"}}}
    routes.add("/.well-known/openid-configuration", "get", "getServiceAccountIssuerOpenIDConfiguration",
               "get the OpenID Connect discovery document of the service account token issuer", [],
               text, consumes=[], produces=["application/json"])
    routes.add("/openid/v1/jwks", "get", "getServiceAccountIssuerOpenIDKeyset",
               "get the keys that verify service account tokens, as a JSON Web Key Set",
               [], text, consumes=[], produces=["application/jwk-set+json"])


class KindRoutes:
    """Adds one kind's operations, following its verbs and subresources."""

    def __init__(self, routes: Routes, kind: Kind, object_def: str, list_def: str) -> None:
        self.routes, self.kind, self.object_def, self.list_def = routes, kind, object_def, list_def
        self.custom = kind.crd is not None
        self.ns = "Namespaced" if kind.namespaced else ""
        prefix = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        self.prefix = prefix
        self.collection = (f"{prefix}/namespaces/{{namespace}}/{kind.plural}" if kind.namespaced
                           else f"{prefix}/{kind.plural}")
        self.item = self.collection + "/{name}"
        self.produces = CUSTOM_TYPES if self.custom else OBJECT_TYPES
        self.consumes = CUSTOM_TYPES if self.custom else ["*/*"]
        self.patch_types = PATCH_TYPES[:3] if self.custom else PATCH_TYPES
        self.gvk = _gvk(kind.group, kind.version, kind.kind)

    def add_all(self) -> None:
        verbs, k = set(self.kind.verbs), self.kind.kind
        if "list" in verbs:
            self._list()
        if "watch" in verbs and not self.custom:
            self._watch()
        if "create" in verbs:
            self._write(self.collection, "post", f"create{self.ns}{k}", f"create {_article(k)}{k}",
                        self.object_def, self.gvk, created=True)
        if "deletecollection" in verbs:
            self._delete(self.collection, f"deletecollection{self.ns}{k}", f"delete collection of {k}",
                         p.DELETE_COLLECTION, {"200": {"description": "OK", "schema": _ref(STATUS)}})
        if "get" in verbs:
            self._read(self.item, f"read{self.ns}{k}", f"read the specified {k}", self.object_def, self.gvk)
        if "update" in verbs:
            self._write(self.item, "put", f"replace{self.ns}{k}", f"replace the specified {k}", self.object_def,
                        self.gvk)
        if "patch" in verbs:
            self._patch(self.item, f"patch{self.ns}{k}", f"partially update the specified {k}", self.object_def,
                        self.gvk)
        if "delete" in verbs:
            status = _ref(STATUS)
            self._delete(self.item, f"delete{self.ns}{k}", f"delete {_article(k)}{k}", p.DELETE,
                         {"200": {"description": "OK", "schema": status},
                          "202": {"description": "Accepted", "schema": status}})
        for sub in self.kind.subresources:
            self._subresource(sub)

    def _extensions(self, action: str, gvk: dict) -> dict:
        return {"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk}

    def _list(self) -> None:
        k = self.kind.kind
        what = "list objects" if self.custom else "list or watch objects"
        produces = self.produces if self.custom else STREAM_TYPES
        ok = {"200": {"description": "OK", "schema": _ref(self.list_def)}}
        paths = [(self.collection, f"list{self.ns}{k}")]
        if self.kind.namespaced:
            paths.append((f"{self.prefix}/{self.kind.plural}", f"list{k}ForAllNamespaces"))
        for path, name in paths:
            self.routes.add(path, "get", name, f"{what} of kind {k}", [p.PRETTY, *p.LIST], ok, self.consumes,
                            produces, self._extensions("list", self.gvk))

    def _watch(self) -> None:
        k, plural = self.kind.kind, self.kind.plural
        ok = {"200": {"description": "OK", "schema": _ref(WATCH_EVENT)}}
        base = f"{self.prefix}/watch/namespaces/{{namespace}}/{plural}" if self.kind.namespaced \
            else f"{self.prefix}/watch/{plural}"
        deprecated = "(deprecated: list with the watch parameter instead)"
        watches = [
            (base, f"watch{self.ns}{k}List", "watchlist", f"watch changes to a list of {k} {deprecated}"),
            (base + "/{name}", f"watch{self.ns}{k}", "watch", f"watch changes to one object of kind {k} {deprecated}"),
        ]
        if self.kind.namespaced:
            watches.append((f"{self.prefix}/watch/{plural}", f"watch{k}ListForAllNamespaces", "watchlist",
                            f"watch changes to a list of {k} {deprecated}"))
        for path, name, action, description in watches:
            self.routes.add(path, "get", name, description, self._name(path, [p.PRETTY, *p.LIST]), ok,
                            self.consumes, STREAM_TYPES,
                            self._extensions(action, self.gvk))

    def _name(self, path: str, params: list[dict]) -> list[dict]:
        if "{name}" in path:
            return [p.path_param("name", f"name of the {self.kind.kind}"), *params]
        return params

    def _read(self, path: str, name: str, description: str, definition: str, gvk: dict) -> None:
        self.routes.add(path, "get", name, description, self._name(path, [p.PRETTY]),
                        {"200": {"description": "OK", "schema": _ref(definition)}}, self.consumes, self.produces,
                        self._extensions("get", gvk))

    def _write(self, path: str, method: str, name: str, description: str, definition: str, gvk: dict,
               created: bool = False) -> None:
        body = {"in": "body", "name": "body", "required": True, "schema": _ref(definition)}
        responses = {"200": {"description": "OK", "schema": _ref(definition)},
                     "201": {"description": "Created", "schema": _ref(definition)}}
        if created:
            responses["202"] = {"description": "Accepted", "schema": _ref(definition)}
        self.routes.add(path, method, name, description, self._name(path, [p.PRETTY, body, *p.WRITE]), responses,
                        self.consumes, self.produces, self._extensions("post" if created else "put", gvk))

    def _patch(self, path: str, name: str, description: str, definition: str, gvk: dict) -> None:
        body = {"in": "body", "name": "body", "required": True, "schema": _ref(PATCH)}
        responses = {"200": {"description": "OK", "schema": _ref(definition)},
                     "201": {"description": "Created", "schema": _ref(definition)}}
        self.routes.add(path, "patch", name, description, self._name(path, [p.PRETTY, body, *p.PATCH]), responses,
                        self.patch_types, self.produces, self._extensions("patch", gvk))

    def _delete(self, path: str, name: str, description: str, params: list[dict], responses: dict) -> None:
        body = {"in": "body", "name": "body", "schema": _ref(DELETE_OPTIONS)}
        action = "delete" if "{name}" in path else "deletecollection"
        self.routes.add(path, "delete", name, description, self._name(path, [p.PRETTY, body, *params]), responses,
                        self.consumes, self.produces, self._extensions(action, self.gvk))

    def _subresource(self, sub: str) -> None:
        k = self.kind.kind
        title = sub.capitalize()
        path = f"{self.item}/{sub}"
        if sub in ("status", "scale", "ephemeralcontainers", "finalize", "approval"):
            definition, gvk = self.object_def, self.gvk
            if sub == "scale":
                definition, gvk = "io.k8s.api.autoscaling.v1.Scale", _gvk("autoscaling", "v1", "Scale")
            if sub != "finalize":
                self._read(path, f"read{self.ns}{k}{title}", f"read {sub} of the specified {k}", definition, gvk)
                self._patch(path, f"patch{self.ns}{k}{title}", f"partially update {sub} of the specified {k}",
                            definition, gvk)
            self._write(path, "put", f"replace{self.ns}{k}{title}", f"replace {sub} of the specified {k}",
                        definition, gvk)
        elif sub in ("binding", "eviction", "token"):
            gvk = _gvk(*_sub_kind(self.kind, sub))
            definition = schema.definition_name(gvk["group"], gvk["version"], gvk["kind"])
            if definition:
                self._write(path, "post", f"create{self.ns}{k}{title}", f"create {sub} of {_article(k)}{k}",
                            definition, gvk, created=True)
        elif sub == "log":
            self.routes.add(path, "get", f"read{self.ns}{k}Log", f"read log of the specified {k}",
                            self._name(path, [p.PRETTY, *p.LOG]),
                            {"200": {"description": "OK", "schema": {"type": "string"}}}, ["*/*"],
                            ["text/plain", *OBJECT_TYPES], self._extensions("get", self.gvk))
        elif sub in ("exec", "attach", "portforward", "proxy"):
            self._connect(sub)

    def _connect(self, sub: str) -> None:
        k, title = self.kind.kind, sub.capitalize()
        gvk = _gvk(*_sub_kind(self.kind, sub))
        params = {"exec": p.EXEC, "attach": p.ATTACH, "portforward": p.PORT_FORWARD, "proxy": p.PROXY}[sub]
        ok = {"200": {"description": "OK", "schema": {"type": "string"}}}
        targets = [(f"{self.item}/{sub}", "", params)]
        methods: tuple[str, ...] = ("get", "post")
        if sub == "proxy":
            methods = PROXY_METHODS
            targets.append((f"{self.item}/{sub}/{{path}}", "WithPath", p.PROXY))
        for path, suffix, query in targets:
            for method in methods:
                name = f"connect{method.capitalize()}{self.ns}{k}{title}{suffix}"
                self.routes.add(path, method, name, f"connect {method.upper()} requests to {sub} of {k}",
                                self._name(path, [*query] if not suffix else []), ok, ["*/*"], ["*/*"],
                                self._extensions("connect", gvk))


def _param_v3(param: dict) -> dict:
    out = {k: param[k] for k in ("description", "in", "name", "required") if k in param}
    out["schema"] = {"type": param["type"], "uniqueItems": True}
    return out


def _operation_v3(op: dict) -> dict:
    out = {k: v for k, v in op.items() if k not in ("consumes", "produces", "schemes", "parameters", "responses")}
    params = []
    for param in op.get("parameters", []):
        if param["in"] == "body":
            body = {"content": {t: {"schema": to_v3(param["schema"])} for t in op["consumes"]}}
            out["requestBody"] = {**body, "required": True} if param.get("required") else body
        else:
            params.append(_param_v3(param))
    if params:
        out["parameters"] = params
    out["responses"] = {}
    for code, response in op["responses"].items():
        converted = {"description": response["description"]}
        if "schema" in response:
            converted["content"] = {t: {"schema": to_v3(response["schema"])} for t in op["produces"]}
        out["responses"][code] = converted
    return out


def path_item_v3(item: dict) -> dict:
    return {k: [_param_v3(q) for q in v] if k == "parameters" else _operation_v3(v) for k, v in item.items()}
