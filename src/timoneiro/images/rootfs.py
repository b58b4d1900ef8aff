"""The files of images built on the machine: a busybox userland (Debian's busybox-static, its applets as
symlinks), programs of the machine's Debian packages with the shared libraries the dynamic linker finds for
them (ldd), and /etc/passwd and /etc/group.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from timoneiro.images.oci import Entry

BUSYBOX = Path("/bin/busybox")  # busybox-static's binary
_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)$")


def shared_libraries(binary: Path) -> list[Path]:
    """The libraries binary loads, the dynamic linker first, as ldd resolves them on this machine."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    found = [Path(m.group(1)) for line in out.splitlines() if (m := _LDD_PATH.search(line.strip()))]
    return sorted(found, key=lambda p: "ld-linux" not in p.name)


def program(name: str) -> Path:
    """A program's path on this machine (as the package installed it)."""
    found = shutil.which(name, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (scripts/setup.sh installs it)")
    return Path(found)


def host_files(paths: list[Path], *, with_libraries: bool = True) -> list[Entry]:
    """Files of the machine at the same paths in the image, with their parent directories; binaries with
    their shared libraries (each at the path ldd names, its content the file a symlink leads to)."""
    files: dict[str, Path] = {}
    for path in paths:
        files[str(path)] = path
        if with_libraries:
            files.update((str(lib), lib) for lib in shared_libraries(path))
    entries = {str(parent)[1:]: Entry(str(parent)[1:]) for path in files for parent in Path(path).parents
               if str(parent) != "/"}
    for name, path in files.items():
        entries[name[1:]] = Entry(name[1:], path.resolve().read_bytes(), path.stat().st_mode & 0o7777)
    return list(entries.values())


def accounts(users: list[tuple[str, int, str, str]]) -> list[Entry]:
    """/etc/passwd and /etc/group for root, nobody and users (name, id, home, shell), each its own group."""
    everyone = [("root", 0, "/root", "/bin/sh"), *users, ("nobody", 65534, "/nonexistent", "/bin/false")]
    passwd = "".join(f"{name}:x:{uid}:{uid if name != 'nobody' else 65534}:{name}:{home}:{shell}\n"
                     for name, uid, home, shell in everyone)
    group = "".join(f"{name if name != 'nobody' else 'nogroup'}:x:{uid}:\n" for name, uid, _, _ in everyone)
    return [Entry("etc/passwd", passwd.encode(), 0o644), Entry("etc/group", group.encode(), 0o644)]


def busybox_userland() -> list[Entry]:
    """The usual directories, busybox and its applets (sh, cat, ls, nc, ...) as symlinks to it."""
    applets = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True)
    entries = [Entry(d) for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "var", "home")]
    entries += [Entry("tmp", mode=0o1777), Entry("bin/busybox", BUSYBOX.read_bytes())]
    entries += [Entry(path, link="/bin/busybox") for path in applets.stdout.split() if path != "bin/busybox"]
    return entries


def merge(*layers: list[Entry]) -> list[Entry]:
    """One list of entries, a later entry replacing an earlier one at the same path."""
    merged: dict[str, Entry] = {}
    for layer in layers:
        merged.update((entry.path, entry) for entry in layer)
    return list(merged.values())
