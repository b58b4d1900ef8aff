"""/openapi/v2 and /openapi/v3 as kube-apiserver serves them, built from upstream's schemas and the CRDs.

Documents are built on first request and kept until the registry's kinds change, so that starting the
server costs nothing and kubectl's repeated downloads cost one lookup.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

import orjson

from timoneiro import KUBERNETES_VERSION
from timoneiro.api import schema
from timoneiro.api.kinds import Kind, Registry
from timoneiro.api.openapi import crd, v2proto
from timoneiro.api.openapi.paths import KindRoutes, Routes, discovery_routes, path_item_v3, root_routes
from timoneiro.api.openapi.schemas import closure, refs, v2_definitions, v3_definition

INFO = {"title": "Kubernetes", "version": KUBERNETES_VERSION}
BEARER = {"BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization",
                          "type": "apiKey"}}


def document_key(path: str) -> str:
    """Which /openapi/v3 document a path belongs to: api/v1, apis/apps, apis/apps/v1, version..."""
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        return "/".join(parts[:2])
    if parts[0] == "apis":
        return "/".join(parts[:3])
    return path.strip("/")


def _dump(doc: dict) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


@dataclass
class _Model:
    """All paths (Swagger 2.0 form) and the custom resources' definitions in both forms."""

    paths: dict[str, dict]
    custom_v2: dict[str, dict]
    custom_v3: dict[str, dict]


class OpenAPI:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._model: _Model | None = None
        self._v2: bytes | None = None
        self._v2_proto: tuple[bytes, bytes] | None = None  # (JSON document, its protobuf form)
        self._v3: dict[str, bytes] = {}
        self._index: bytes | None = None
        registry.listeners.append(self._invalidate)

    def _invalidate(self) -> None:
        with self._lock:
            self._model, self._v2, self._v3, self._index = None, None, {}, None

    def v2(self) -> bytes:
        with self._lock:
            if self._v2 is None:
                model = self._built()
                definitions = closure(refs(model.paths),
                                      lambda name: model.custom_v2.get(name) or v2_definitions().get(name))
                self._v2 = _dump({"definitions": definitions, "info": INFO, "paths": model.paths,
                                  "security": [{"BearerToken": []}], "securityDefinitions": BEARER,
                                  "swagger": "2.0"})
            return self._v2

    def v2_proto(self) -> bytes:
        """The v2 document as gnostic protobuf, made from the JSON one as kube-apiserver makes it."""
        document = self.v2()
        with self._lock:
            if self._v2_proto is None or self._v2_proto[0] is not document:
                self._v2_proto = (document, v2proto.document(orjson.loads(document)))
            return self._v2_proto[1]

    def v3_index(self) -> bytes:
        with self._lock:
            if self._index is None:
                docs = {key: self._v3_document(key) for key in self._keys()}
                self._index = _dump({"paths": {
                    key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={hashlib.sha512(doc).hexdigest().upper()}"}
                    for key, doc in docs.items()}})
            return self._index

    def v3_group_version(self, path: str) -> bytes | None:
        key = path.strip("/")
        with self._lock:
            return self._v3_document(key) if key in self._keys() else None

    def _keys(self) -> set[str]:
        return {document_key(path) for path in self._built().paths}

    def _v3_document(self, key: str) -> bytes:
        if key not in self._v3:
            model = self._built()
            paths = {path: path_item_v3(item) for path, item in model.paths.items() if document_key(path) == key}
            schemas = closure(refs(paths), lambda name: v3_definition(name, model.custom_v3))
            self._v3[key] = _dump({"components": {"schemas": schemas, "securitySchemes": BEARER}, "info": INFO,
                                   "openapi": "3.0.0", "paths": paths})
        return self._v3[key]

    def _built(self) -> _Model:
        if self._model is None:
            routes = Routes({})
            root_routes(routes)
            for group, versions in self.registry.groups().items():
                discovery_routes(routes, group, versions)
            custom_v2: dict[str, dict] = {}
            custom_v3: dict[str, dict] = {}
            for kind in self.registry.kinds():
                names = _definition_names(kind)
                if names is None:
                    continue
                if kind.crd is not None:
                    custom_v2.update(crd.definitions(kind.crd, kind.version, v2=True))
                    custom_v3.update(crd.definitions(kind.crd, kind.version, v2=False))
                KindRoutes(routes, kind, *names).add_all()
            self._model = _Model(routes.items(), custom_v2, custom_v3)
        return self._model


def _definition_names(kind: Kind) -> tuple[str, str] | None:
    """The definitions of a kind and its list, or None for a built-in kind upstream has no schema for."""
    if kind.crd is not None:
        return crd.definition_names(kind.crd, kind.version)
    object_def = schema.definition_name(kind.group, kind.version, kind.kind)
    list_def = schema.definition_name(kind.group, kind.version, f"{kind.kind}List")
    return (object_def, list_def or object_def) if object_def else None
