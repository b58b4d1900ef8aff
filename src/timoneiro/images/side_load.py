"""Side-loading images into nodes' containerds, as `kind load image-archive` does: from a docker archive
(`docker save`, `skopeo copy ... docker-archive:`), an OCI archive or an OCI layout directory, into every
node's image store (containerd's k8s.io namespace, where its CRI plugin finds images), with no registry.

Each node's containerd imports a docker archive with `ctr images import` on its socket: the image is on
the node at once, under the name it was saved with (as the CRI reports it: docker.io/library/app:1.0), so
pods run it with imagePullPolicy Never or IfNotPresent, whatever registry the name points at. OCI inputs
are turned into docker archives by skopeo first: ctr names an OCI archive's images only when their
ref.name is a whole reference, while skopeo writes one with the name given.
"""

from __future__ import annotations

import asyncio
import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from timoneiro.images.oci import REF_NAME
from timoneiro.kubelet.cri.containerd_config import NAMESPACE
from timoneiro.kubelet.runtime.image_names import normalize_image

CONTAINERD_IMAGE_NAME = "io.containerd.image.name"  # what ctr export and buildkit name images with


class LoadError(Exception):
    pass


@dataclass
class Images:
    """What an input holds: its kind (docker-archive, oci-archive or oci, as skopeo's transports are
    named) and its images' names (None for one it does not name; a docker archive's are its RepoTags)."""

    path: Path
    kind: str
    names: list[str | None]

    def transport(self, ref: str | None = None) -> str:
        return f"{self.kind}:{self.path}" + (f":{ref}" if ref else "")


def _read_member(archive: Path, member: str) -> bytes | None:
    with tarfile.open(archive) as tar:
        for candidate in (member, f"./{member}"):
            try:
                found = tar.extractfile(candidate)
            except KeyError:
                continue
            return found.read() if found is not None else None
    return None


def _index_names(index: dict) -> list[str | None]:
    return [(m.get("annotations") or {}).get(CONTAINERD_IMAGE_NAME) or (m.get("annotations") or {}).get(REF_NAME)
            for m in index.get("manifests") or ()]


def inspect(path: Path) -> Images:
    if path.is_dir():
        if not (path / "oci-layout").exists():
            raise LoadError(f"{path} is not an OCI layout (it has no oci-layout file)")
        return Images(path, "oci", _index_names(json.loads((path / "index.json").read_text())))
    if not path.is_file() or not tarfile.is_tarfile(path):
        raise LoadError(f"{path} is neither a tar archive nor an OCI layout directory")
    manifest = _read_member(path, "manifest.json")
    if manifest is not None:
        images = json.loads(manifest)
        return Images(path, "docker-archive", [t for i in images for t in i.get("RepoTags") or ()] or [None])
    index = _read_member(path, "index.json")
    if index is None or _read_member(path, "oci-layout") is None:
        raise LoadError(f"{path} is neither a docker archive nor an OCI archive")
    return Images(path, "oci-archive", _index_names(json.loads(index)))


def _whole(name: str | None) -> bool:
    """A name with a repository: app:1.0, registry/app; not a tag alone (1.0), which OCI layouts may use."""
    return name is not None and ("/" in name or ":" in name)


async def _run(*argv: str) -> None:
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode:
        raise LoadError(f"{argv[0]} failed: {(err or out).decode().strip()}")


async def _import(archive: Path, sockets: list[str]) -> None:
    """Import a docker archive into every containerd of sockets, unpacked for its CRI's snapshotter."""
    await asyncio.gather(*(_run("ctr", "--address", socket, "--namespace", NAMESPACE, "images", "import",
                                "--snapshotter", "overlayfs", str(archive)) for socket in sockets))


async def load(path: Path, sockets: list[str], name: str | None = None) -> list[str]:
    """Load the images of path into every containerd of sockets, named as they are in it, or name (for an
    input that holds one image); answers their names as the nodes have them (docker.io/library/app:1.0)."""
    images = inspect(path)
    if name is not None and len(images.names) != 1:
        raise LoadError(f"{path} holds {len(images.names)} images: --image-name names one")
    if name is None and not all(_whole(n) for n in images.names):
        raise LoadError(f"{path} holds an image without a whole name ({', '.join(map(str, images.names))}): "
                        "give it one with --image-name")
    if images.kind == "docker-archive" and name is None:
        await _import(path, sockets)
        return [normalize_image(n) for n in images.names if n]
    with tempfile.TemporaryDirectory(prefix="timoneiro-load-") as tmp:
        loaded = []
        for i, ref in enumerate(images.names):
            target, wanted = Path(tmp) / f"{i}.tar", normalize_image(name or ref or "")
            source = images.transport(ref if name is None and images.kind != "docker-archive" else None)
            await _run("skopeo", "--insecure-policy", "copy", "--quiet", source, f"docker-archive:{target}:{wanted}")
            await _import(target, sockets)
            loaded.append(wanted)
    return loaded
