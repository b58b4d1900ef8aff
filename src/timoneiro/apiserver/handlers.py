"""Resource requests: one handler per verb, the same for every kind."""

from __future__ import annotations

import base64
import copy
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson

from timoneiro.api import selectors
from timoneiro.api.decoding import DecodeError, prune
from timoneiro.api.field import Rendered, not_supported, required
from timoneiro.api.kinds import Kind
from timoneiro.apiserver import errors
from timoneiro.apiserver.generic import Context, DeleteOptions, decode
from timoneiro.apiserver.http import BodyError, Request, respond, respond_object
from timoneiro.apiserver.managedfields import manager_from_user_agent
from timoneiro.apiserver.requestinfo import RequestInfo, flag
from timoneiro.storage.cache import Entry
from timoneiro.storage.interface import Compacted

if TYPE_CHECKING:
    from timoneiro.apiserver.app import APIServer

# kinds whose delete answers with the deleted object rather than a Status
OPTIONS_KINDS = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions",
                 "delete": "DeleteOptions", "deletecollection": "DeleteOptions"}
RETURNS_DELETED_OBJECT = {("", "pods"), ("", "services"), ("", "namespaces")}
FIELD_VALIDATION = ("Ignore", "Warn", "Strict")
MERGE_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def warning_headers(warnings: list[str]) -> list[tuple[bytes, bytes]]:
    """RFC 7234 warnings: code 299, agent "-", the text quoted with its quotes escaped."""
    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return [(b"warning", f"299 - {quoted(w)}".encode()) for w in warnings]


class Handlers:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.generic = server.generic
        self.cache = server.cache

    def context(self, req: Request, info: RequestInfo, kind: Kind) -> Context:
        dry = req.query.get("dryRun", "")
        options = OPTIONS_KINDS.get(info.verb, "CreateOptions")
        if dry and dry != "All":
            raise errors.options_invalid(options, [not_supported("dryRun", Rendered(f'[]string{{"{dry}"}}'),
                                                                 ["All"])])
        mode = req.query.get("fieldValidation", "")
        if mode not in ("", *FIELD_VALIDATION):
            raise errors.options_invalid(options, [not_supported("fieldValidation", mode,
                                                                 sorted(["", *FIELD_VALIDATION]))])
        manager = req.query.get("fieldManager") or manager_from_user_agent(req.headers.get("user-agent", ""))
        return Context(namespace=info.namespace if kind.namespaced else None, dry_run=dry == "All",
                       field_manager=manager, subresource=info.subresource,
                       user=req.scope.get("user"))

    # decoding

    async def decode_body(self, req: Request, kind: Kind, ctx: Context, as_kind: str | None = None) -> dict:
        try:
            obj = await req.json()
        except BodyError as e:
            raise errors.unrecognized(kind, e.detail, e.body, e.yaml) from None
        if not isinstance(obj, dict):
            raise errors.bad_request(f"the object provided is unrecognized: expected a JSON object, "
                                     f"got {type(obj).__name__}")
        want_kind = as_kind or kind.kind
        api_version, got_kind = obj.get("apiVersion"), obj.get("kind")
        if got_kind and got_kind != want_kind:
            internal = (kind.group.split(".")[0] or "core") if kind.group != "apiextensions.k8s.io" else "apiextensions"
            raise errors.bad_request(f'{got_kind} in version "{kind.version}" cannot be handled as a {want_kind}: '
                                     f"converting ({(api_version or kind.api_version).rpartition('/')[2]}.{got_kind})"
                                     f" to ({internal}.{want_kind}): unknown conversion")
        if api_version and as_kind is None and api_version != kind.api_version:
            raise errors.bad_request(f'{want_kind} in version "{kind.version}" cannot be handled as a {want_kind}: '
                                     f'no kind "{got_kind or want_kind}" is registered for version "{api_version}" '
                                     f'in scheme "pkg/api/legacyscheme/scheme.go:30"')
        if as_kind is None:
            obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
            self.prune_unknown(req, kind, ctx, obj)
        meta = obj.get("metadata")
        if meta is None:
            obj["metadata"] = {}
        elif not isinstance(meta, dict):
            raise errors.bad_request(f'{want_kind} in version "{kind.version}" cannot be handled as a '
                                     f"{want_kind}: json: cannot unmarshal into Go struct field "
                                     f"{want_kind}.metadata of type v1.ObjectMeta")
        ns = obj["metadata"].get("namespace")
        if kind.namespaced and ns and ctx.namespace and ns != ctx.namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                     "sent on the request")
        return obj

    def prune_unknown(self, req: Request, kind: Kind, ctx: Context, obj: dict) -> None:
        mode = req.query.get("fieldValidation") or "Warn"
        if kind.crd is not None:
            return  # custom resources are pruned against their schema when validated
        try:
            unknown = prune(obj, kind.object_schema())
        except DecodeError as e:
            raise errors.bad_request(f'{kind.kind} in version "{kind.version}" cannot be handled as a '
                                     f"{kind.kind}: {e}") from None
        if unknown and mode == "Strict":
            what = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise errors.bad_request(f'{kind.kind} in version "{kind.version}" cannot be handled as a '
                                     f"{kind.kind}: strict decoding error: {what}")
        if mode == "Warn":
            ctx.warnings.extend(f'unknown field "{u}"' for u in unknown)

    # encoding

    async def send_object(self, req: Request, send, status: int, kind: Kind, obj: dict,
                          ctx: Context | None = None) -> None:
        headers = warning_headers(ctx.warnings) if ctx else None
        if "as=Table" in req.accept:
            from timoneiro.api.printers import to_table

            table = to_table(kind, [obj], req.query.get("includeObject", "Metadata"),
                             {"resourceVersion": obj["metadata"].get("resourceVersion", "")})
            await respond_object(send, status, table, req.accept, headers)
        elif "as=PartialObjectMetadata" in req.accept:
            await respond_object(send, status, partial_metadata(obj), req.accept, headers)
        else:
            await respond_object(send, status, obj, req.accept, headers)

    # verbs

    async def get(self, req: Request, send, info: RequestInfo, kind: Kind) -> None:
        if _plain_json(req.accept) and kind.storage_version == kind.api_version:
            # the cached bytes are the answer: no decode, no encode
            await self.cache.fresh()
            entry = self.cache.get(kind.key(info.namespace or None, info.name))
            if entry is None:
                raise errors.not_found(kind, info.name)
            await respond(send, 200, entry.data)
            return
        obj = await self.generic.get(kind, info.namespace or None, info.name)
        await self.send_object(req, send, 200, kind, obj)

    def predicate(self, req: Request, kind: Kind):
        try:
            labels = selectors.parse_labels(req.query["labelSelector"]) if req.query.get("labelSelector") else None
            known = set(kind.strategy.field_values(kind, {"metadata": {}}))
            fields = selectors.parse_fields(req.query["fieldSelector"], known.__contains__) \
                if req.query.get("fieldSelector") else None
        except selectors.SelectorError as e:
            raise errors.bad_request(str(e)) from None
        if labels is None and fields is None:
            return None

        by_meta = fields is not None and any(f.startswith("metadata.") for f, _, _ in fields)

        def match(entry: Entry) -> bool:
            if labels is not None and not selectors.matches(labels, entry.labels):
                return False
            if fields is None:
                return True
            values = entry.fields
            if by_meta:  # name and namespace are read from the key, not kept per entry
                parts = entry.key.split("/")
                values = {**values, "metadata.name": parts[-1]}
                if kind.namespaced:
                    values["metadata.namespace"] = parts[-2]
            return selectors.fields_match(fields, values)
        return match

    async def list(self, req: Request, send, info: RequestInfo, kind: Kind) -> None:
        q = req.query
        predicate = self.predicate(req, kind)
        prefix = kind.list_prefix(info.namespace or None)
        limit = _int(q["limit"], "limit") if q.get("limit") else 0
        start, rv = "", 0
        if q.get("continue"):
            rv, start = _decode_continue(q["continue"])
        else:
            rv = await self.read_revision(q)
        if rv and rv != self.cache.rev:
            entries = await self.list_from_store(prefix, rv, start, predicate)
        else:
            rv = self.cache.rev
            entries = self.cache.list(prefix, predicate, start)
        list_meta: dict = {"resourceVersion": str(rv)}
        if limit and len(entries) > limit:
            rest = len(entries) - limit
            entries = entries[:limit]
            list_meta["continue"] = _encode_continue(rv, entries[-1].key + "\x00")
            if predicate is None:
                list_meta["remainingItemCount"] = rest
        await self.send_list(req, send, kind, entries, list_meta)

    async def read_revision(self, q: dict) -> int:
        """The revision a list reads at: resourceVersion and resourceVersionMatch, as upstream reads them."""
        rv_text, match = q.get("resourceVersion", ""), q.get("resourceVersionMatch", "")
        if match and match not in ("Exact", "NotOlderThan"):
            raise errors.bad_request(f'resourceVersionMatch: Unsupported value: "{match}": supported values: '
                                     '"Exact", "NotOlderThan"')
        if rv_text == "":
            if match:
                raise errors.bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
            await self.cache.fresh()
            return 0
        rv = _int(rv_text, "resourceVersion")
        if rv == 0:
            if match == "Exact":
                raise errors.bad_request('resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
            return 0
        if match == "Exact":
            if rv < self.cache.store.compacted_revision:
                raise errors.gone("The resourceVersion for the provided list is too old.")
            if rv > self.cache.store.revision:
                raise too_large_rv()
            return rv
        await self.wait_for(rv)
        return 0

    async def wait_for(self, rv: int) -> None:
        import asyncio

        if rv > self.cache.rev:
            try:
                await asyncio.wait_for(self.cache.wait_until(rv), 3)
            except TimeoutError:
                raise too_large_rv() from None

    async def list_from_store(self, prefix: str, rv: int, start: str, predicate) -> list[Entry]:
        try:
            kvs, _ = await self.cache.store.list(prefix, rv, start)
        except Compacted:
            raise errors.gone("The provided continue parameter is too old to display a consistent list result. "
                              "You can start a new list without the continue parameter, or use the continue "
                              "token in this response to retrieve the remainder of the results. Continuing "
                              "with the provided token results in an inconsistent list - objects that were "
                              "created, modified, or deleted between the time the first chunk was returned "
                              "and now may show up in the list.") from None
        out = []
        for kv in kvs:
            entry = self.cache.make_entry(kv.key, kv.value, kv.mod_revision, kv.create_revision)
            if entry and (predicate is None or predicate(entry)):
                out.append(entry)
        return out

    async def send_list(self, req: Request, send, kind: Kind, entries: list[Entry], list_meta: dict) -> None:
        accept = req.accept
        converts = kind.from_storage is not None and kind.storage_version != kind.api_version
        if "as=Table" in accept or "as=PartialObjectMetadata" in accept or converts or "yaml" in accept:
            objs = [self.generic.to_version(kind, decode(e)) for e in entries]
            if "as=Table" in accept:
                from timoneiro.api.printers import to_table

                body = to_table(kind, objs, req.query.get("includeObject", "Metadata"), list_meta)
            elif "as=PartialObjectMetadata" in accept:
                body = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                        "metadata": list_meta, "items": [partial_metadata(o) for o in objs]}
            else:
                body = {"kind": f"{kind.kind}List", "apiVersion": kind.api_version, "metadata": list_meta,
                        "items": objs}
            await respond_object(send, 200, body, accept)
            return
        head = orjson.dumps({"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                             "metadata": list_meta})[:-1]
        items = [e.data for e in entries]
        if kind.storage_version != kind.api_version:  # same bytes, other apiVersion (multi-version CRDs)
            old = f'"apiVersion":"{kind.storage_version}"'.encode()
            new = f'"apiVersion":"{kind.api_version}"'.encode()
            items = [i.replace(old, new, 1) for i in items]
        await respond(send, 200, head + b',"items":[' + b",".join(items) + b"]}")

    async def create(self, req: Request, send, info: RequestInfo, kind: Kind) -> None:
        if info.name:
            raise errors.method_not_supported(kind, "create")
        ctx = self.context(req, info, kind)
        obj = await self.decode_body(req, kind, ctx)
        obj = await self.generic.create(ctx, kind, obj)
        await self.send_object(req, send, 201, kind, obj, ctx)

    async def review(self, req: Request, send, info: RequestInfo, kind: Kind,
                     answer: Callable[[Context, dict], Awaitable[dict]]) -> None:
        """A create-only kind that is answered, not stored (access reviews, token reviews): the object sent
        comes back, defaulted and validated, with what `answer` fills in (its status)."""
        if info.name:
            raise errors.method_not_supported(kind, "create")
        ctx = self.context(req, info, kind)
        obj = await self.decode_body(req, kind, ctx)
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        kind.strategy.default(kind, obj)
        errs = kind.strategy.validate(kind, obj)
        if errs:
            raise errors.invalid(kind, obj.get("metadata", {}).get("name", ""), errs)
        await self.send_object(req, send, 201, kind, await answer(ctx, obj), ctx)

    async def update(self, req: Request, send, info: RequestInfo, kind: Kind) -> None:
        ctx = self.context(req, info, kind)
        body = await self.decode_body(req, kind, ctx)
        name = body["metadata"].get("name")
        if name and name != info.name:
            raise errors.bad_request(f"the name of the object ({name}) does not match the name on the URL "
                                     f"({info.name})")
        body["metadata"]["name"] = info.name
        if kind.namespaced:
            body["metadata"]["namespace"] = info.namespace

        def transform(current: dict | None) -> dict | None:
            if current is None:
                return copy.deepcopy(body) if kind.strategy.create_on_update(kind) else None
            if not body["metadata"].get("resourceVersion") and not kind.strategy.unconditional_update(kind):
                raise errors.invalid(kind, info.name, [_rv_required()])
            return copy.deepcopy(body)

        obj, created = await self.generic.update(ctx, kind, info.name, transform, create_on_missing=True)
        await self.send_object(req, send, 201 if created else 200, kind, obj, ctx)

    async def patch(self, req: Request, send, info: RequestInfo, kind: Kind) -> None:
        from timoneiro.apiserver import patch as patching

        ctx = self.context(req, info, kind)
        ctype = req.content_type
        if ctype not in MERGE_TYPES:
            raise errors.APIError(415, "UnsupportedMediaType",
                                  f"the server does not support media type {ctype!r}" if ctype else
                                  "the body of the request was in an unknown format")
        schema = kind.object_schema()
        if ctype == "application/strategic-merge-patch+json" and kind.crd is not None:
            raise errors.APIError(415, "UnsupportedMediaType", "strategic merge patch is not supported for "
                                  f"{kind.qualified_resource}; use a JSON merge patch or JSON patch instead")
        if ctype == "application/apply-patch+yaml":
            await self.apply(req, send, info, kind, ctx, schema)
            return
        raw = await req.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise errors.bad_request(f"error decoding patch: {e}") from None
        scale = info.subresource == "scale"

        def transform(current: dict | None) -> dict | None:
            if current is None:
                return None
            target = self.server.subresources.scale_of(kind, current) if scale else current
            try:
                patched = patching.apply_patch(ctype, target, body, None if scale else schema)
            except patching.PatchError as e:
                raise errors.APIError(e.status, e.reason, str(e)) from None
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch produced something other than an object")
            if scale:
                if not _patch_sets_rv(body):  # the Scale read carried the current resourceVersion
                    (patched.get("metadata") or {}).pop("resourceVersion", None)
                return self.server.subresources.with_scale(kind, current, patched)
            self.prune_unknown(req, kind, ctx, patched)
            patched["apiVersion"], patched["kind"] = kind.api_version, kind.kind
            pm = patched.setdefault("metadata", {})
            pm["name"] = info.name
            if kind.namespaced:
                pm["namespace"] = info.namespace
            if pm.get("resourceVersion") == current["metadata"]["resourceVersion"] and not _patch_sets_rv(body):
                pm.pop("resourceVersion", None)
            return patched

        if scale:
            ctx.subresource = "scale"
        obj, _ = await self.generic.update(ctx, kind, info.name, transform)
        if scale:
            await respond_object(send, 200, self.server.subresources.scale_of(kind, obj), req.accept)
            return
        await self.send_object(req, send, 200, kind, obj, ctx)

    async def apply(self, req: Request, send, info: RequestInfo, kind: Kind, ctx: Context, schema) -> None:
        from timoneiro.apiserver import managedfields

        if not req.query.get("fieldManager"):
            raise errors.options_invalid("PatchOptions", [required("fieldManager", "is required for apply patch")])
        req.headers["content-type"] = "application/yaml"
        try:
            applied = await req.json()
        except BodyError as e:
            raise errors.unrecognized(kind, e.detail, e.body, e.yaml) from None
        if not isinstance(applied, dict):
            raise errors.bad_request("error decoding YAML: the apply configuration must be an object")
        force = flag(req.query, "force")
        manager = ctx.field_manager
        reset = kind.reset_fields(info.subresource)

        def transform(current: dict | None) -> dict:
            return managedfields.apply(current, copy.deepcopy(applied), manager, kind.api_version, schema, force,
                                       kind=kind.kind, name=info.name, subresource=info.subresource,
                                       reset_fields=reset)

        ctx.field_manager = ""  # apply records its own managed fields
        obj, created = await self.generic.update(ctx, kind, info.name, transform, create_on_missing=True)
        await self.send_object(req, send, 201 if created else 200, kind, obj, ctx)

    async def delete_options(self, req: Request) -> DeleteOptions:
        body = {}
        if (await req.body()).strip():
            try:
                body = await req.json()
            except BodyError as e:
                raise errors.bad_request(e.detail) from None
            if not isinstance(body, dict):
                raise errors.bad_request("the body of the request was not a DeleteOptions object")
        q = req.query
        grace = body.get("gracePeriodSeconds", q.get("gracePeriodSeconds"))
        pre = body.get("preconditions") or {}
        propagation = body.get("propagationPolicy", q.get("propagationPolicy"))
        if body.get("orphanDependents") is True or flag(q, "orphanDependents"):
            propagation = propagation or "Orphan"
        if propagation and propagation not in ("Orphan", "Background", "Foreground"):
            raise errors.APIError(422, "Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: '
                                  f'Unsupported value: "{propagation}": supported values: "Foreground", '
                                  f'"Background", "Orphan", "nil"')
        dry = body.get("dryRun") or ([q["dryRun"]] if q.get("dryRun") else [])
        return DeleteOptions(grace_period=_int(grace, "gracePeriodSeconds") if grace is not None else None,
                             propagation=propagation, uid=pre.get("uid"),
                             resource_version=pre.get("resourceVersion"), dry_run="All" in dry)

    async def delete(self, req: Request, send, info: RequestInfo, kind: Kind) -> None:
        ctx = self.context(req, info, kind)
        opts = await self.delete_options(req)
        ctx.dry_run = ctx.dry_run or opts.dry_run
        obj, deleted = await self.generic.delete(ctx, kind, info.name, opts)
        if deleted and (kind.group, kind.plural) not in RETURNS_DELETED_OBJECT and kind.crd is None:
            status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": {"name": info.name, "kind": kind.plural, "uid": obj["metadata"].get("uid")}}
            if kind.group:
                status["details"]["group"] = kind.group
            await respond_object(send, 200, status, req.accept)
            return
        await self.send_object(req, send, 200, kind, obj, ctx)

    async def deletecollection(self, req: Request, send, info: RequestInfo, kind: Kind) -> None:
        ctx = self.context(req, info, kind)
        opts = await self.delete_options(req)
        ctx.dry_run = ctx.dry_run or opts.dry_run
        await self.cache.fresh()
        entries = self.cache.list(kind.list_prefix(info.namespace or None), self.predicate(req, kind))
        items = []
        for entry in entries:
            obj = decode(entry)
            ctx.namespace = obj["metadata"].get("namespace") if kind.namespaced else None
            try:
                obj, _ = await self.generic.delete(ctx, kind, obj["metadata"]["name"], opts)
            except errors.APIError as e:
                if e.code != 404:
                    raise
                continue
            items.append(obj)
        body = {"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": str(self.cache.rev)}, "items": items}
        await respond_object(send, 200, body, req.accept)


def _plain_json(accept: str) -> bool:
    return "as=" not in accept and "yaml" not in accept


def partial_metadata(obj: dict) -> dict:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def too_large_rv() -> errors.APIError:
    return errors.APIError(504, "Timeout", "Too large resource version",
                           {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                            "retryAfterSeconds": 1})


def _rv_required():
    from timoneiro.api.field import invalid

    return invalid("metadata.resourceVersion", "0", "must be specified for an update")


def _patch_sets_rv(body: object) -> bool:
    if isinstance(body, dict):
        return bool((body.get("metadata") or {}).get("resourceVersion"))
    if isinstance(body, list):
        return any(isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion" for op in body)
    return False


def _int(value: object, name: str) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise errors.bad_request(f'invalid value for {name}: "{value}"') from None


def _encode_continue(rv: int, start: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start})).decode()


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise errors.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                 "(version meta.k8s.io/v1)") from None
