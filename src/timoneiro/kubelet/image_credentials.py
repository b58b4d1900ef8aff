"""The credentials a pod's images are pulled with: its imagePullSecrets (kubernetes.io/dockerconfigjson and
kubernetes.io/dockercfg Secrets, read as the node) made into a keyring, which answers the credentials for
an image's repository as upstream's credentialprovider does.

A keyring's keys are the config's registry locations without scheme, /v1/ or /v2/ (`localhost:5001`,
`registry.example.com/team`, `*.example.com`). A key matches a repository when the ports are the same, the
host names have as many dot-separated parts and each matches its glob, and the key's path is a prefix of
the repository's. Keys are tried most specific first (reverse sorted); with none matching, a docker.io
image takes the credentials of `index.docker.io` (`https://index.docker.io/v1/` in a docker config).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from timoneiro.client import ApiError, Client
from timoneiro.client.events import WARNING, EventRecorder
from timoneiro.client.resources import SECRETS
from timoneiro.kubelet import events
from timoneiro.kubelet.runtime.base import AuthConfig

DOCKER_CONFIG_JSON = ("kubernetes.io/dockerconfigjson", ".dockerconfigjson")
DOCKER_CFG = ("kubernetes.io/dockercfg", ".dockercfg")
DEFAULT_REGISTRY_HOST = "index.docker.io"
FAILED_TO_RETRIEVE = "FailedToRetrieveImagePullSecret"


class KeyringError(ValueError):
    """A pull secret that is not a docker config: the pull fails with this error, as upstream's."""


def _url(location: str) -> tuple[list[str], str, str]:
    """A schemeless location's host parts, port and path."""
    parts = urlsplit("https://" + location)
    host, colon, port = parts.netloc.rpartition(":")
    if not colon or not port.isdigit():
        host, port = parts.netloc, ""
    return host.split("."), port, parts.path


def urls_match(glob: str, target: str) -> bool:
    """Whether the key glob (wildcards in host names only) matches the repository target."""
    glob_parts, glob_port, glob_path = _url(glob)
    target_parts, target_port, target_path = _url(target)
    return (glob_port == target_port and len(glob_parts) == len(target_parts) and target_path.startswith(glob_path)
            and all(fnmatch.fnmatchcase(t, g) for g, t in zip(glob_parts, target_parts, strict=True)))


def is_default_registry(repository: str) -> bool:
    """Whether the repository is pulled from Docker Hub, by its first part."""
    first, slash, _ = repository.partition("/")
    if not first:
        return False
    return not slash or first in ("docker.io", DEFAULT_REGISTRY_HOST) or not any(c in first for c in ".:")


def _key(location: str) -> str:
    """The location without scheme, and without /v1/ or /v2/ (a registry's API paths, as the host alone)."""
    parts = urlsplit(location if location.startswith(("https://", "http://")) else "https://" + location)
    path = parts.path[3:] if parts.path.startswith(("/v1/", "/v2/")) else parts.path
    return parts.netloc + path if path not in ("", "/") else parts.netloc


def _entry(location: str, entry: dict) -> AuthConfig:
    """A docker config entry's credentials: its auth (base64 of USER:PASSWORD) wins over username/password."""
    if not isinstance(entry, dict):
        raise KeyringError(f"the docker config entry of {location} is not an object")
    auth = str(entry.get("auth") or "")
    if not auth:
        return AuthConfig(username=str(entry.get("username") or ""), password=str(entry.get("password") or ""))
    try:
        decoded = base64.b64decode(auth + "=" * (-len(auth) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise KeyringError(f"illegal base64 data in the auth of {location}: {e}") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise KeyringError(f"the auth of {location} is not a username:password pair")
    return AuthConfig(username=username, password=password)


@dataclass
class Keyring:
    """One docker config's credentials by key."""

    creds: dict[str, list[AuthConfig]] = field(default_factory=dict)

    def add(self, config: dict) -> None:
        for location, entry in config.items():
            self.creds.setdefault(_key(location), []).append(_entry(location, entry))

    def lookup(self, repository: str) -> list[AuthConfig]:
        found = [c for key in sorted(self.creds, reverse=True) if urls_match(key, repository) for c in self.creds[key]]
        if not found and is_default_registry(repository):
            return list(self.creds.get(DEFAULT_REGISTRY_HOST, ()))
        return found


def _decoded(secret: dict, key: str) -> dict:
    try:
        config = json.loads(base64.b64decode((secret.get("data") or {})[key]))
    except (ValueError, binascii.Error) as e:
        raise KeyringError(f"secret {secret['metadata']['name']}: {key} is not JSON: {e}") from None
    if not isinstance(config, dict):
        raise KeyringError(f"secret {secret['metadata']['name']}: {key} is not a JSON object")
    return config


def keyrings(secrets: list[dict]) -> list[Keyring]:
    """A keyring per docker config Secret (other Secrets give none)."""
    found = []
    for secret in secrets:
        data = secret.get("data") or {}
        for kind, key in (DOCKER_CONFIG_JSON, DOCKER_CFG):
            if secret.get("type") == kind and data.get(key):
                config = _decoded(secret, key)
                keyring = Keyring()
                keyring.add((config.get("auths") or {}) if kind == DOCKER_CONFIG_JSON[0] else config)
                found.append(keyring)
    return found


def credentials(secrets: list[dict], repository: str) -> list[AuthConfig]:
    """Every pull secret's credentials for the repository (docker.io/library/nginx, localhost:5001/app)."""
    return [c for keyring in keyrings(secrets) for c in keyring.lookup(repository)]


class PullSecrets:
    """A pod's imagePullSecrets, read from the API as the node (which may read those of its pods)."""

    def __init__(self, client: Client, recorder: EventRecorder) -> None:
        self.client = client
        self.recorder = recorder

    async def of(self, pod: dict) -> list[dict]:
        """The pod's pull secrets that exist; those that cannot be read are left out, with the Warning
        upstream's kubelet records."""
        found, failed = [], []
        namespace = pod["metadata"].get("namespace") or "default"
        for ref in (pod.get("spec") or {}).get("imagePullSecrets") or ():
            name = (ref or {}).get("name")
            if not name:  # validation lets empty names through; upstream ignores them
                continue
            try:
                found.append(await self.client.get(SECRETS, name, namespace=namespace))
            except ApiError:
                failed.append(name)
        if failed:
            self.recorder.record(events.pod_ref(pod), WARNING, FAILED_TO_RETRIEVE,
                                 f"Unable to retrieve some image pull secrets ({', '.join(failed)}); attempting "
                                 "to pull the image may not succeed.")
        return found
