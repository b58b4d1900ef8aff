"""The files of a ConfigMap's or Secret's keys (upstream's MakePayload): every key as a file of its name
with the default mode, or only the listed items, each at its path with its own mode or the default."""

from __future__ import annotations

from timoneiro.kubelet.volumes.atomic_writer import FileProjection
from timoneiro.kubelet.volumes.plugin import VolumeError


def payload(data: dict[str, bytes], items: list[dict] | None, default_mode: int, optional: bool,
            missing_key: str) -> dict[str, FileProjection]:
    """missing_key: the error's text before the key, when a listed key is not there (and not optional)."""
    if not items:
        return {key: FileProjection(value, default_mode) for key, value in data.items()}
    files = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise VolumeError(f"{missing_key}: {key}")
        mode = item.get("mode")
        files[item.get("path") or key] = FileProjection(data[key], default_mode if mode is None else mode)
    return files
