"""The images timoneiro builds on the machine, since none can be pulled from the internet: the pod sandbox
(pause) image, from our pause.c compiled statically, a busybox image, from Debian's busybox-static
(sh, sleep, echo, cat, nc, httpd... as applet symlinks; its wget crashes, use nc), and nginx, from
Debian's nginx (nginx.py).

The cluster's registry serves them under their official names too: nodes pull docker.io and
public.ecr.aws from it (MIRRORED), where busybox is library/busybox and nginx library/nginx and
nginx/nginx, at the tags NGINX_TAGS, which are all Debian's nginx whatever version they name.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from timoneiro.images.nginx import nginx_image, nginx_version
from timoneiro.images.oci import Entry, ImageSpec, write_layout
from timoneiro.images.registry import LocalRegistry
from timoneiro.images.rootfs import BUSYBOX, accounts, busybox_userland, merge

PAUSE_SOURCE = Path(__file__).with_name("pause.c")
PAUSE_TAG = "3.10"  # the sandbox image's tag, as upstream's current pause version
MIRRORED = ("docker.io", "public.ecr.aws")  # registries whose images nodes pull from the local one
# the tags manifests use (Kubernetes' docs, the seeds: nginx:1.14.2, public.ecr.aws/nginx/nginx:1.21-perl)
NGINX_TAGS = {"library/nginx": ("latest", "1.14.2"), "nginx/nginx": ("latest", "1.21-perl")}


def pause_image() -> ImageSpec:
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "pause"
        subprocess.run(["gcc", "-static", "-Os", "-s", "-o", str(binary), str(PAUSE_SOURCE)], check=True,
                       capture_output=True)
        data = binary.read_bytes()
    return ImageSpec([Entry("pause", data)], entrypoint=["/pause"])


def busybox_version() -> str:
    """1.35.0, from the binary's banner."""
    banner = subprocess.run([str(BUSYBOX)], capture_output=True, text=True).stdout
    match = re.match(r"BusyBox v([0-9.]+)", banner)
    if match is None:
        raise RuntimeError(f"{BUSYBOX} is not busybox: {banner[:80]!r}")
    return match.group(1)


def busybox_image() -> ImageSpec:
    return ImageSpec(merge(busybox_userland(), accounts([])), cmd=["sh"])


def build(directory: Path) -> dict[str, str]:
    """Write the local images into one OCI layout; answers their names in it, name:tag, by image
    ({"pause": "pause:3.10", "busybox": "busybox:1.35.0", "nginx": "nginx:1.22.1"})."""
    images = {f"pause:{PAUSE_TAG}": pause_image(), f"busybox:{busybox_version()}": busybox_image(),
              f"nginx:{nginx_version()}": nginx_image()}
    for name, spec in images.items():
        write_layout(directory, spec, name)
    return {name.partition(":")[0]: name for name in images}


def official_names(names: dict[str, str]) -> dict[str, str]:
    """The repository:tag (on a MIRRORED registry) each image is also pushed as -> its name in the layout."""
    busybox, nginx = names["busybox"], names["nginx"]
    official = {f"library/busybox:{tag}": busybox for tag in (busybox.partition(":")[2], "latest")}
    for repository, tags in NGINX_TAGS.items():
        official.update((f"{repository}:{tag}", nginx) for tag in (nginx.partition(":")[2], *tags))
    return official


async def publish(registry: LocalRegistry, layout: Path) -> dict[str, str]:
    """Build the local images into layout and push them to registry as timoneiro/NAME:TAG and under their
    official_names (an image the registry has from before is not pushed again); answers their references
    by image ({"pause": "127.0.0.1:PORT/timoneiro/pause:3.10", ...})."""
    names = build(layout)
    references = {image: await registry.push(layout, name, f"timoneiro/{name}") for image, name in names.items()}
    for repository, name in official_names(names).items():
        await registry.push(layout, name, repository)
    return references
