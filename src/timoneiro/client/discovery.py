"""From an object's apiVersion and kind to the resource that serves it, via cached discovery documents."""

from __future__ import annotations

from typing import TYPE_CHECKING

from timoneiro.client.errors import ApiError
from timoneiro.client.resources import Resource

if TYPE_CHECKING:
    from timoneiro.client.rest import Client


class Discovery:
    """Caches one APIResourceList per group-version; a kind not found there is looked up again once,
    since a CustomResourceDefinition may have been added since the cache was filled."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._kinds: dict[str, dict[str, Resource]] = {}  # apiVersion -> kind -> resource

    async def resource_for(self, api_version: str, kind: str) -> Resource:
        found = self._kinds.get(api_version, {}).get(kind)
        if found is None:
            found = (await self._fetch(api_version)).get(kind)
        if found is None:
            raise ApiError({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                            "reason": "NotFound", "message": f'no matches for kind "{kind}" in version '
                                                             f'"{api_version}"'})
        return found

    async def _fetch(self, api_version: str) -> dict[str, Resource]:
        group, _, version = api_version.rpartition("/")
        doc = await self._client.request("GET", f"/apis/{api_version}" if group else f"/api/{version}")
        kinds = {r["kind"]: Resource(group, version, r["name"], bool(r.get("namespaced")))
                 for r in doc.get("resources", ()) if "/" not in r["name"]}
        self._kinds[api_version] = kinds
        return kinds
