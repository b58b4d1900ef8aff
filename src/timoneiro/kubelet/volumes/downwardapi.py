"""downwardAPI volumes: the pod's metadata (name, namespace, uid, labels, annotations) and its containers'
requests and limits as files (upstream's CollectData: every item's error is reported, together)."""

from __future__ import annotations

import os

from timoneiro.kubelet.container_env import metadata_field, resource_value
from timoneiro.kubelet.containers import container_spec
from timoneiro.kubelet.volumes.atomic_writer import FileProjection
from timoneiro.kubelet.volumes.plugin import DEFAULT_MODE, MountContext, MountedVolume, VolumeError, aggregate

PLUGIN = "kubernetes.io/downward-api"


def payload(ctx: MountContext, source: dict, default_mode: int) -> dict[str, FileProjection]:
    files, errors = {}, []
    for item in source.get("items") or ():
        mode = item.get("mode")
        try:
            value = _value(ctx, item)
        except ValueError as e:
            errors.append(str(e))
            value = ""
        files[os.path.normpath(item.get("path", ""))] = FileProjection(value.encode(),
                                                                        default_mode if mode is None else mode)
    if errors:
        raise VolumeError(aggregate(errors))
    return files


def _value(ctx: MountContext, item: dict) -> str:
    if item.get("fieldRef"):
        return metadata_field(ctx.pod, item["fieldRef"].get("fieldPath", ""))
    ref = item.get("resourceFieldRef")
    if not ref:
        return ""
    name = ref.get("containerName", "")
    container = container_spec(ctx.pod, name)
    if container is None:
        raise ValueError(f"container {name} not found")
    return resource_value(container, ref, ctx.allocatable)


async def set_up(ctx: MountContext, volume: dict) -> MountedVolume:
    source = volume["downwardAPI"] or {}
    return ctx.write(PLUGIN, volume["name"], payload(ctx, source, source.get("defaultMode", DEFAULT_MODE)))
