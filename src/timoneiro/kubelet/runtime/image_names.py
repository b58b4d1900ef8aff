"""Image names as runtimes spell them: short Docker references in full."""

from __future__ import annotations


def normalize_image(image: str) -> str:
    """A Docker reference in full, as containerd reports it: nginx -> docker.io/library/nginx:latest."""
    name, at, digest = image.partition("@")
    first, slash, _ = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}" if slash else f"docker.io/library/{name}"
    if not at and ":" not in name.rpartition("/")[2]:
        name += ":latest"
    return f"{name}@{digest}" if at else name


def untagged(reference: str) -> str:
    """A reference without its tag or digest, as spelled: docker.io/library/nginx:1.27 -> docker.io/library/nginx."""
    name = reference.partition("@")[0]
    return name.rpartition(":")[0] if ":" in name.rpartition("/")[2] else name


def repository(image: str) -> str:
    """The image's repository in full, without tag or digest: nginx:1.0 -> docker.io/library/nginx."""
    return untagged(normalize_image(image))
