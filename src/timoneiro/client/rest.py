"""The async REST client every component talks to the API server with: a pool of keep-alive connections."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from timoneiro.client.config import ClientConfig
from timoneiro.client.discovery import Discovery
from timoneiro.client.errors import ApiError, TransportError
from timoneiro.client.http import ConnectionPool, HTTPError, Response
from timoneiro.client.resources import Resource
from timoneiro.client.watch import Watch

PATCH_TYPES = {"json": "application/json-patch+json", "merge": "application/merge-patch+json",
               "strategic": "application/strategic-merge-patch+json", "apply": "application/apply-patch+yaml"}
Params = Mapping[str, str | int | bool | None]


class Client:
    """Requests for (resource, namespace, name), answering decoded JSON or raising ApiError / TransportError.

    Safe to share between tasks of one event loop: connections are made on first use, in the loop that uses
    them. Close it (or use `async with`) to release the connections.
    """

    def __init__(self, config: ClientConfig | str) -> None:
        self.config = ClientConfig(config) if isinstance(config, str) else config
        self.discovery = Discovery(self)
        self._pool: ConnectionPool | None = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
            await asyncio.sleep(0)  # let the transports finish closing

    # verbs

    async def get(self, resource: Resource, name: str, namespace: str | None = None, *,
                  subresource: str | None = None) -> dict:
        return await self.request("GET", resource.path(namespace, name, subresource))

    async def list(self, resource: Resource, namespace: str | None = None, *, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None, continue_token: str | None = None,
                   resource_version: str | None = None) -> dict:
        """One page of a list; see pages() and list_all() for all of it."""
        return await self.request("GET", resource.path(namespace), params={
            "labelSelector": label_selector, "fieldSelector": field_selector, "limit": limit,
            "continue": continue_token, "resourceVersion": resource_version})

    async def pages(self, resource: Resource, namespace: str | None = None, *, label_selector: str | None = None,
                    field_selector: str | None = None, page_size: int = 500) -> AsyncIterator[dict]:
        """Every page of a list, following continue tokens; all pages are one snapshot of the collection."""
        token = None
        while True:
            page = await self.list(resource, namespace, label_selector=label_selector,
                                   field_selector=field_selector, limit=page_size, continue_token=token)
            yield page
            token = page.get("metadata", {}).get("continue")
            if not token:
                return

    async def list_all(self, resource: Resource, namespace: str | None = None, *,
                       label_selector: str | None = None, field_selector: str | None = None,
                       page_size: int = 500) -> dict:
        """The whole list as one, read in pages; if a continue token expires midway (410), one unpaged
        list instead, as client-go's pager does."""
        first: dict | None = None
        items: list[dict] = []
        try:
            async for page in self.pages(resource, namespace, label_selector=label_selector,
                                         field_selector=field_selector, page_size=page_size):
                first = first or page
                items.extend(page.get("items") or ())
        except ApiError as e:
            if e.code != 410 or first is None:
                raise
            return await self.list(resource, namespace, label_selector=label_selector,
                                   field_selector=field_selector)
        assert first is not None
        meta = {"resourceVersion": first.get("metadata", {}).get("resourceVersion", "")}
        return {**first, "metadata": meta, "items": items}

    async def create(self, resource: Resource, body: dict, namespace: str | None = None, *,
                     field_manager: str | None = None, dry_run: bool = False) -> dict:
        namespace = namespace or body.get("metadata", {}).get("namespace")
        return await self.request("POST", resource.path(namespace), body=body,
                                  params=_write_params(field_manager, dry_run))

    async def update(self, resource: Resource, body: dict, *, subresource: str | None = None,
                     field_manager: str | None = None, dry_run: bool = False) -> dict:
        """PUT the object where its metadata says it lives; its resourceVersion makes it a compare-and-swap."""
        meta = body.get("metadata", {})
        return await self.request("PUT", resource.path(meta.get("namespace"), meta["name"], subresource),
                                  body=body, params=_write_params(field_manager, dry_run))

    async def update_status(self, resource: Resource, body: dict, *, field_manager: str | None = None,
                            dry_run: bool = False) -> dict:
        return await self.update(resource, body, subresource="status", field_manager=field_manager,
                                 dry_run=dry_run)

    async def patch(self, resource: Resource, name: str, patch: dict | list, namespace: str | None = None, *,
                    patch_type: str = "merge", field_manager: str | None = None, force: bool | None = None,
                    subresource: str | None = None, dry_run: bool = False) -> dict:
        """patch_type is json, merge, strategic, or apply (server-side apply: field_manager is required)."""
        params = {**_write_params(field_manager, dry_run), "force": force}
        return await self.request("PATCH", resource.path(namespace, name, subresource), body=patch,
                                  params=params, content_type=PATCH_TYPES[patch_type])

    async def delete(self, resource: Resource, name: str, namespace: str | None = None, *,
                     grace_period_seconds: int | None = None, propagation_policy: str | None = None,
                     preconditions: dict | None = None, dry_run: bool = False) -> dict:
        """Answers the deleted object (or the object marked for deletion), or a Status for some kinds.

        preconditions is {"uid": ..., "resourceVersion": ...}: the delete fails with 409 if either differs.
        """
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if preconditions:
            options["preconditions"] = preconditions
        if dry_run:
            options["dryRun"] = ["All"]
        return await self.request("DELETE", resource.path(namespace, name), body=options)

    def watch(self, resource: Resource, namespace: str | None = None, *, resource_version: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              allow_bookmarks: bool = True, timeout_seconds: int | None = None) -> Watch:
        """Changes after resource_version (none: the current state as ADDED events first, then changes).

        The stream raises ApiError for an ERROR event (410 when resource_version is no longer in history).
        """
        params = {"watch": True, "resourceVersion": resource_version, "allowWatchBookmarks": allow_bookmarks,
                  "labelSelector": label_selector, "fieldSelector": field_selector,
                  "timeoutSeconds": timeout_seconds}
        read = timeout_seconds + self.config.timeout if timeout_seconds else None  # between two reads
        return Watch(lambda: self.open("GET", resource.path(namespace), params=params), read)

    async def resource_for(self, obj: dict) -> Resource:
        """The resource serving an object, from its apiVersion and kind (discovery, cached)."""
        return await self.discovery.resource_for(obj["apiVersion"], obj["kind"])

    # the wire

    async def request(self, method: str, path: str, *, params: Params | None = None, body: object = None,
                      content_type: str = "application/json") -> Any:
        """Any request, e.g. subresources (binding, eviction, scale): the answer as JSON, or bytes if not JSON."""
        deadline = time.monotonic() + self.config.timeout
        response = await self.open(method, path, params=params, body=body, content_type=content_type)
        with response:
            raw = await _read(response, path, deadline - time.monotonic())
        if response.content_type == "application/json":
            return orjson.loads(raw) if raw else None
        return raw

    async def open(self, method: str, path: str, *, params: Params | None = None, body: object = None,
                   content_type: str = "application/json") -> Response:
        """A response whose status says success, its body unread (watches stream it): close it when done."""
        data = body if body is None or isinstance(body, bytes) else orjson.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        source = self.config.token_source
        if source is not None:
            headers["Authorization"] = f"Bearer {await source.token()}"
        try:
            response = await self._connections().request(method, path, params=_query(params), headers=headers,
                                                           body=data, timeout=self.config.timeout)
        except HTTPError as e:
            raise TransportError(f"{method} {path}: {e}") from e
        if response.status == 401 and source is not None:
            source.reset()
        if response.status >= 400:
            with response:
                raw = await _read(response, path, self.config.timeout)
            raise ApiError.from_response(response.status, raw)
        return response

    def _connections(self) -> ConnectionPool:
        if self._pool is None:
            headers = {"Accept": "application/json", "User-Agent": self.config.user_agent}
            if self.config.token and self.config.token_source is None:
                headers["Authorization"] = f"Bearer {self.config.token}"
            self._pool = ConnectionPool(self.config.server, self.config.ssl_context(), headers)
        return self._pool


async def _read(response: Response, path: str, timeout: float) -> bytes:
    try:
        return await response.read(max(timeout, 0.001))
    except HTTPError as e:
        raise TransportError(f"reading the answer to {response.method} {path}: {e}") from e


def _write_params(field_manager: str | None, dry_run: bool) -> dict[str, str | None]:
    return {"fieldManager": field_manager, "dryRun": "All" if dry_run else None}


def _query(params: Params | None) -> dict[str, str]:
    """Query parameters as the server reads them: unset ones left out, booleans as true/false."""
    out = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out
