"""secret volumes: the Secret's keys as files; a missing Secret fails the mount unless optional."""

from __future__ import annotations

import base64

from timoneiro.client.resources import SECRETS
from timoneiro.kubelet.volumes import keys
from timoneiro.kubelet.volumes.atomic_writer import FileProjection
from timoneiro.kubelet.volumes.plugin import DEFAULT_MODE, MountContext, MountedVolume, read_object

PLUGIN = "kubernetes.io/secret"


async def payload(ctx: MountContext, source: dict, default_mode: int) -> dict[str, FileProjection]:
    """source: a secret volume's (secretName) or a projection's (name)."""
    optional = bool(source.get("optional"))
    name = source.get("secretName") or source.get("name") or ""
    found = await read_object(ctx.client, SECRETS, "secret", ctx.namespace, name, optional)
    data = {key: base64.b64decode(value) for key, value in ((found or {}).get("data") or {}).items()}
    return keys.payload(data, source.get("items"), default_mode, optional, "references non-existent secret key")


async def set_up(ctx: MountContext, volume: dict) -> MountedVolume:
    source = volume["secret"] or {}
    files = await payload(ctx, source, source.get("defaultMode", DEFAULT_MODE))
    return ctx.write(PLUGIN, volume["name"], files)
