"""projected volumes: secrets, configMaps, downward API items and service-account tokens in one directory
(a later source's file wins over an earlier one's of the same path); every source's error is reported."""

from __future__ import annotations

from timoneiro.kubelet.volumes import configmap, downwardapi, secret, service_account_token
from timoneiro.kubelet.volumes.atomic_writer import FileProjection
from timoneiro.kubelet.volumes.plugin import DEFAULT_MODE, MountContext, MountedVolume, VolumeError, aggregate

PLUGIN = "kubernetes.io/projected"


async def _source(ctx: MountContext, source: dict, default_mode: int) -> dict[str, FileProjection]:
    if source.get("secret") is not None:
        return await secret.payload(ctx, source["secret"], default_mode)
    if source.get("configMap") is not None:
        return await configmap.payload(ctx, source["configMap"], default_mode)
    if source.get("downwardAPI") is not None:
        return downwardapi.payload(ctx, source["downwardAPI"], default_mode)
    if source.get("serviceAccountToken") is not None:
        return await service_account_token.payload(ctx, source["serviceAccountToken"], default_mode)
    raise VolumeError(f"projected source {', '.join(source) or '{}'} is not supported by this kubelet")


async def set_up(ctx: MountContext, volume: dict) -> MountedVolume:
    projected = volume["projected"] or {}
    default_mode = projected.get("defaultMode", DEFAULT_MODE)
    files: dict[str, FileProjection] = {}
    errors = []
    for source in projected.get("sources") or ():
        try:
            files.update(await _source(ctx, source, default_mode))
        except VolumeError as e:
            errors.append(e.message)
    if errors:
        raise VolumeError(aggregate(errors))
    return ctx.write(PLUGIN, volume["name"], files)
