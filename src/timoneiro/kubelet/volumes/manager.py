"""The pod volumes of one node: set up before a pod's sandbox runs (each failure told as upstream's
FailedMount event tells it, and tried again after a back-off), the ones made from the API written again
once a resync period has passed (so ConfigMap, Secret and label updates and fresh tokens reach running
pods), and torn down when the pod is gone, with what a pod deleted while the kubelet was away left.

A runtime without a filesystem (pods_dir None: the simulated one) gets no directories; it only has the
ConfigMaps and Secrets a pod's configMap and secret volumes name checked, so that a missing one keeps the
pod in ContainerCreating there too.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from timoneiro.client import Client
from timoneiro.kubelet import mounts
from timoneiro.kubelet.security_context import fs_user
from timoneiro.kubelet.volumes import configmap, downwardapi, emptydir, hostpath, projected, pvc, secret
from timoneiro.kubelet.volumes.plugin import DEFAULT_MODE, MountContext, MountedVolume, VolumeError
from timoneiro.kubelet.volumes.service_account_token import ServiceAccountTokens

log = logging.getLogger("timoneiro.kubelet.volumes")
SetUp = Callable[[MountContext, dict], Awaitable[MountedVolume]]
PLUGINS: dict[str, SetUp] = {"emptyDir": emptydir.set_up, "hostPath": hostpath.set_up,
                             "configMap": configmap.set_up, "secret": secret.set_up,
                             "downwardAPI": downwardapi.set_up, "projected": projected.set_up,
                             "persistentVolumeClaim": pvc.set_up}
CHECKED = {"configMap": configmap.payload, "secret": secret.payload}  # what a runtime without files checks
_UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class MountResult:
    ready: bool  # every volume is set up: containers may start
    failures: list[str] = field(default_factory=list)  # FailedMount event messages


@dataclass
class _PodVolumes:
    volumes: dict[str, MountedVolume]
    written: float  # monotonic time of the last full setup


def _source(volume: dict) -> str:
    return next((key for key in volume if key != "name"), "")


class VolumeManager:
    def __init__(self, client: Client, pods_dir: Path | None, node: Callable[[], dict],
                 resync_period: float) -> None:
        self.client = client
        self.pods_dir = pods_dir
        self.node = node
        self.resync_period = resync_period
        self.tokens = ServiceAccountTokens(client)
        self._mounted: dict[str, _PodVolumes] = {}
        self._checked: set[str] = set()

    def volumes(self, uid: str) -> dict[str, MountedVolume]:
        """The pod's volumes as last set up."""
        known = self._mounted.get(uid)
        return dict(known.volumes) if known else {}

    async def mount(self, pod: dict) -> MountResult:
        uid = pod["metadata"]["uid"]
        if self.pods_dir is None:
            return await self._check(pod)
        known = self._mounted.get(uid)
        if known is not None and time.monotonic() - known.written < self.resync_period:
            return MountResult(True)
        spec = pod.get("spec") or {}
        ctx = MountContext(self.client, pod, self.pods_dir, (self.node().get("status") or {}).get("allocatable") or {},
                           self.tokens, (spec.get("securityContext") or {}).get("fsGroup"), fs_user(pod))
        volumes = dict(known.volumes) if known else {}
        failures = []
        for volume in spec.get("volumes") or ():
            name, kind = volume.get("name", ""), _source(volume)
            if name in volumes and not volumes[name].remount:
                continue
            try:
                set_up = PLUGINS.get(kind)
                if set_up is None:
                    raise VolumeError("no volume plugin matched")
                volumes[name] = await set_up(ctx, volume)
            except VolumeError as e:
                failures.append(f'MountVolume.SetUp failed for volume "{name}" : {e.message}')
        ready = all(v.get("name", "") in volumes for v in spec.get("volumes") or ())
        if ready or volumes:
            self._mounted[uid] = _PodVolumes(volumes, time.monotonic() if ready else 0.0)
        return MountResult(ready, failures)

    async def _check(self, pod: dict) -> MountResult:
        uid = pod["metadata"]["uid"]
        if uid in self._checked:
            return MountResult(True)
        ctx = MountContext(self.client, pod, Path(), {}, self.tokens)
        failures = []
        for volume in (pod.get("spec") or {}).get("volumes") or ():
            kind = _source(volume)
            if kind in CHECKED:
                try:
                    await CHECKED[kind](ctx, volume[kind] or {}, DEFAULT_MODE)
                except VolumeError as e:
                    failures.append(f'MountVolume.SetUp failed for volume "{volume.get("name")}" : {e.message}')
        if not failures:
            self._checked.add(uid)
        return MountResult(not failures, failures)

    async def unmount(self, uid: str) -> None:
        """The pod is gone: unmount its tmpfs and remove its directory."""
        self._checked.discard(uid)
        self.tokens.forget(uid)
        self._mounted.pop(uid, None)
        if self.pods_dir is not None:
            await asyncio.to_thread(_remove, self.pods_dir / uid)

    async def run(self, resync: Callable[[str], None], known: Callable[[str], bool]) -> None:
        """Until cancelled: remove the directories of pods that are gone, and ask for a sync of every pod
        with volumes once a resync period (which writes its API-made volumes again)."""
        if self.pods_dir is None:
            return
        while True:
            for directory in await asyncio.to_thread(self._orphans, known):
                log.info("removing the directory of pod %s, which is gone", directory.name)
                await asyncio.to_thread(_remove, directory)
            await asyncio.sleep(self.resync_period)
            for uid in list(self._mounted):
                resync(uid)

    def _orphans(self, known: Callable[[str], bool]) -> list[Path]:
        assert self.pods_dir is not None
        if not self.pods_dir.is_dir():
            return []
        return [d for d in self.pods_dir.iterdir()
                if _UID.match(d.name) and d.name not in self._mounted and not known(d.name)]


def _remove(directory: Path) -> None:
    for point in reversed(mounts.mounts_under(directory)):
        try:
            mounts.unmount(point)
        except OSError as e:
            log.warning("unmounting %s failed: %s", point, e)
    shutil.rmtree(directory, ignore_errors=True)
