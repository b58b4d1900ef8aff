"""OCI image layouts written from Python: one uncompressed layer, a config and a manifest, named by sha256.

Images are built here, not pulled, since the machines have no internet. The layer tar is deterministic
(sorted entries, owner root, time zero), so building the same files twice gives the same digests and a
registry or containerd that already holds them does no work.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass
class Entry:
    """One file, directory or symlink of a layer."""

    path: str  # inside the image, without the leading slash
    data: bytes | None = None  # a regular file's content
    mode: int = 0o755
    link: str | None = None  # a symlink's target

    def info(self) -> tarfile.TarInfo:
        info = tarfile.TarInfo(self.path)
        info.mode, info.mtime, info.uname, info.gname = self.mode, 0, "root", "root"
        if self.link is not None:
            info.type, info.linkname = tarfile.SYMTYPE, self.link
        elif self.data is None:
            info.type = tarfile.DIRTYPE
        else:
            info.size = len(self.data)
        return info


@dataclass
class ImageSpec:
    """What an image holds and runs: its files, and the runtime config containers start from."""

    entries: list[Entry]
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    working_dir: str = "/"
    exposed_ports: list[str] = field(default_factory=list)  # "80/tcp": documentation, as Docker's EXPOSE
    stop_signal: str = ""  # the signal containerd stops containers with (default SIGTERM)


def layer_tar(entries: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(entries, key=lambda e: e.path):
            tar.addfile(entry.info(), io.BytesIO(entry.data) if entry.data is not None else None)
    return buffer.getvalue()


def _digest(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def write_layout(directory: Path, spec: ImageSpec, tag: str) -> str:
    """Write the image as an OCI layout in directory (added to what is there); answers the manifest's digest."""
    layer = layer_tar(spec.entries)
    runtime = {"Env": spec.env, "Entrypoint": spec.entrypoint or None, "Cmd": spec.cmd or None,
               "WorkingDir": spec.working_dir}
    if spec.exposed_ports:
        runtime["ExposedPorts"] = {port: {} for port in spec.exposed_ports}
    if spec.stop_signal:
        runtime["StopSignal"] = spec.stop_signal
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
        "history": [{"created_by": "timoneiro.images", "created": "1970-01-01T00:00:00Z"}],
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": _digest(layer), "size": len(layer)}],
    }, sort_keys=True).encode()
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for blob in (layer, config, manifest):
        (blobs / _digest(blob).removeprefix("sha256:")).write_bytes(blob)
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    index_path = directory / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"schemaVersion": 2, "manifests": []}
    index["manifests"] = [m for m in index["manifests"] if (m.get("annotations") or {}).get(REF_NAME) != tag]
    index["manifests"].append({"mediaType": MANIFEST_TYPE, "digest": _digest(manifest), "size": len(manifest),
                               "annotations": {REF_NAME: tag}})
    index_path.write_text(json.dumps(index, sort_keys=True))
    return _digest(manifest)


def layout_digest(directory: Path, tag: str) -> str:
    """The manifest digest of image `tag` in the OCI layout at directory."""
    index = json.loads((directory / "index.json").read_text())
    for manifest in index["manifests"]:
        if (manifest.get("annotations") or {}).get(REF_NAME) == tag:
            return manifest["digest"]
    raise KeyError(f"no image {tag} in {directory}")
