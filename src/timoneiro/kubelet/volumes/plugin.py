"""What every volume plugin shares: where a volume lives, what setting it up answers, how it fails, and
reading the API objects it is made from as the node."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from timoneiro.client import ApiError, Client, TransportError
from timoneiro.client.resources import Resource
from timoneiro.kubelet.volumes import atomic_writer, ownership

if TYPE_CHECKING:
    from timoneiro.kubelet.volumes.service_account_token import ServiceAccountTokens

DEFAULT_MODE = 0o644  # the API's default for configMap, secret, downwardAPI and projected volumes


class VolumeError(Exception):
    """Setting a volume up failed; message is upstream's error text (shown in a FailedMount event)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def aggregate(messages: list[str]) -> str:
    """Several errors as one, printed as Go's utilerrors.NewAggregate prints them."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


@dataclass
class MountedVolume:
    path: Path  # on the node: what containers bind-mount
    read_only: bool = False  # mounted read-only whatever the volumeMount says (configMap, secret...)
    remount: bool = False  # made from the API: written again at each resync


@dataclass
class MountContext:
    """One pod's volume setup: the pod, the node's client and allocatable, where its directory is."""

    client: Client
    pod: dict
    pods_dir: Path
    allocatable: dict
    tokens: ServiceAccountTokens
    fs_group: int | None = None
    fs_user: int | None = None

    @property
    def namespace(self) -> str:
        return self.pod["metadata"]["namespace"]

    @property
    def uid(self) -> str:
        return self.pod["metadata"]["uid"]

    def volume_dir(self, plugin: str, name: str) -> Path:
        """PODS_DIR/UID/volumes/kubernetes.io~PLUGIN/NAME, as upstream names them (the / escaped as ~)."""
        return self.pods_dir / self.uid / "volumes" / plugin.replace("/", "~") / name

    def write(self, plugin: str, name: str, payload: dict[str, atomic_writer.FileProjection]) -> MountedVolume:
        """A volume of files from the API (configMap, secret, downwardAPI, projected): written atomically,
        given to the pod's fsGroup, mounted read-only."""
        target = self.volume_dir(plugin, name)
        target.mkdir(parents=True, exist_ok=True)
        try:
            atomic_writer.write(target, payload)
            ownership.set_volume_ownership(target, self.fs_group, read_only=True)
        except (OSError, ValueError) as e:
            raise VolumeError(str(e)) from e
        return MountedVolume(target, read_only=True, remount=True)


async def read_object(client: Client, resource: Resource, kind: str, namespace: str, name: str,
                      optional: bool) -> dict | None:
    """A ConfigMap or Secret; None if it is missing and optional. Missing and not optional fails with
    the kubelet's own not-found text (`configmap "NAME" not found`)."""
    try:
        return await client.get(resource, name, namespace=namespace)
    except ApiError as e:
        if e.code == 404 and optional:
            return None
        if e.code == 404:
            raise VolumeError(f'{kind} "{name}" not found') from e
        raise VolumeError(e.message or str(e)) from e
    except TransportError as e:
        raise VolumeError(str(e)) from e
