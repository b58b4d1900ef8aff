"""configMap volumes: the ConfigMap's keys as files (data and binaryData); a missing ConfigMap fails the
mount unless optional (then the volume is empty)."""

from __future__ import annotations

import base64

from timoneiro.client.resources import CONFIGMAPS
from timoneiro.kubelet.volumes import keys
from timoneiro.kubelet.volumes.atomic_writer import FileProjection
from timoneiro.kubelet.volumes.plugin import DEFAULT_MODE, MountContext, MountedVolume, read_object

PLUGIN = "kubernetes.io/configmap"


async def payload(ctx: MountContext, source: dict, default_mode: int) -> dict[str, FileProjection]:
    optional = bool(source.get("optional"))
    found = await read_object(ctx.client, CONFIGMAPS, "configmap", ctx.namespace, source.get("name", ""), optional)
    data = {key: value.encode() for key, value in ((found or {}).get("data") or {}).items()}
    data.update({key: base64.b64decode(value) for key, value in ((found or {}).get("binaryData") or {}).items()})
    return keys.payload(data, source.get("items"), default_mode, optional,
                        "configmap references non-existent config key")


async def set_up(ctx: MountContext, volume: dict) -> MountedVolume:
    source = volume["configMap"] or {}
    files = await payload(ctx, source, source.get("defaultMode", DEFAULT_MODE))
    return ctx.write(PLUGIN, volume["name"], files)
