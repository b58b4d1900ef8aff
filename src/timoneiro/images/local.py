"""The images timoneiro builds on the machine, since none can be pulled from the internet: the pod sandbox
(pause) image, from our pause.c compiled statically, and a busybox image, from Debian's busybox-static
(sh, sleep, echo, cat, nc, httpd... as applet symlinks; its wget crashes, use nc).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from timoneiro.images.oci import Entry, ImageSpec, write_layout
from timoneiro.images.registry import LocalRegistry

PAUSE_SOURCE = Path(__file__).with_name("pause.c")
PAUSE_TAG = "3.10"  # the sandbox image's tag, as upstream's current pause version
BUSYBOX = Path("/bin/busybox")  # busybox-static's binary


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
    applets = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True)
    entries = [Entry(d) for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "var", "home")]
    entries += [Entry("tmp", mode=0o1777), Entry("bin/busybox", BUSYBOX.read_bytes()),
                Entry("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
                      0o644),
                Entry("etc/group", b"root:x:0:\nnobody:x:65534:\n", 0o644)]
    entries += [Entry(path, link="/bin/busybox") for path in applets.stdout.split() if path != "bin/busybox"]
    return ImageSpec(entries, cmd=["sh"])


def build(directory: Path) -> dict[str, str]:
    """Write the local images into one OCI layout; answers their names in it, name:tag, by image
    ({"pause": "pause:3.10", "busybox": "busybox:1.35.0"})."""
    images = {f"pause:{PAUSE_TAG}": pause_image(), f"busybox:{busybox_version()}": busybox_image()}
    for name, spec in images.items():
        write_layout(directory, spec, name)
    return {name.partition(":")[0]: name for name in images}


async def publish(registry: LocalRegistry, layout: Path) -> dict[str, str]:
    """Build the local images into layout and push them to registry as timoneiro/NAME:TAG (busybox also as
    library/busybox:TAG and :latest, which are docker.io/library/busybox for a containerd that mirrors
    docker.io there);
    answers their references by image ({"pause": "127.0.0.1:PORT/timoneiro/pause:3.10", ...})."""
    names = build(layout)
    references = {image: await registry.push(layout, name, f"timoneiro/{name}") for image, name in names.items()}
    for tag in (names["busybox"].partition(":")[2], "latest"):
        await registry.push(layout, names["busybox"], f"library/busybox:{tag}")
    return references
