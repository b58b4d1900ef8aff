"""persistentVolumeClaim volumes: the claim's bound PersistentVolume, when it is a hostPath or a local
volume (the node's path itself is mounted; a local volume is given to the pod's fsGroup)."""

from __future__ import annotations

import os
from pathlib import Path

from timoneiro.client import ApiError, Resource, TransportError
from timoneiro.client.resources import PVCS
from timoneiro.kubelet.volumes import ownership
from timoneiro.kubelet.volumes.hostpath import host_path
from timoneiro.kubelet.volumes.plugin import MountContext, MountedVolume, VolumeError

PVS = Resource("", "v1", "persistentvolumes", namespaced=False)


async def set_up(ctx: MountContext, volume: dict) -> MountedVolume:
    source = volume["persistentVolumeClaim"] or {}
    name = source.get("claimName", "")
    try:
        claim = await ctx.client.get(PVCS, name, namespace=ctx.namespace)
    except (ApiError, TransportError) as e:
        raise VolumeError(f"failed to fetch PVC from API server: {getattr(e, 'message', '') or e}") from e
    if claim["metadata"].get("deletionTimestamp"):
        raise VolumeError(f"can't start pod because PVC {ctx.namespace}/{name} is being deleted")
    phase, bound = (claim.get("status") or {}).get("phase", ""), (claim.get("spec") or {}).get("volumeName", "")
    if phase != "Bound" or not bound:
        raise VolumeError(f'PVC {ctx.namespace}/{name} has non-bound phase ("{phase}") or empty '
                          f'pvc.Spec.VolumeName ("{bound}")')
    try:
        pv = await ctx.client.get(PVS, bound)
    except (ApiError, TransportError) as e:
        raise VolumeError(f"failed to fetch PV {bound} from API server: {getattr(e, 'message', '') or e}") from e
    spec = pv.get("spec") or {}
    read_only = bool(source.get("readOnly"))
    if spec.get("hostPath") is not None:
        mounted = host_path(spec["hostPath"])
        mounted.read_only = read_only
        return mounted
    if spec.get("local") is not None:
        path = spec["local"].get("path", "")
        if not os.path.isdir(path):
            raise VolumeError(f"path {path!r} does not exist or is not a directory")
        try:
            ownership.set_volume_ownership(Path(path), ctx.fs_group, read_only=read_only)
        except OSError as e:
            raise VolumeError(str(e)) from e
        return MountedVolume(Path(path), read_only=read_only)
    raise VolumeError(f"PersistentVolume {bound} is neither a hostPath nor a local volume: the only kinds "
                      "this kubelet mounts")
