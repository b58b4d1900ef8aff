"""Writing a volume's files so that a container never sees half an update, as upstream's AtomicWriter does:
the files live in a hidden timestamped directory, `..data` links to it, and each visible name links into
`..data`. An update writes a new timestamped directory and swaps `..data` in one rename; names no longer
in the payload are removed after. Nothing is written when nothing changed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = "..data"
NEW_DATA_DIR = "..data_tmp"
MAX_FILE_NAME = 255
MAX_PATH = 4096


@dataclass
class FileProjection:
    data: bytes
    mode: int
    fs_user: int | None = None  # the file is made this user's (a token for a pod whose containers share a user)


def validate_path(path: str) -> None:
    """Upstream's rules for a payload's paths: relative, no '..' element, not starting with '..'."""
    if not path:
        raise ValueError(f'invalid path: must not be empty: "{path}"')
    if os.path.isabs(path):
        raise ValueError(f"invalid path: must be relative path: {path}")
    if len(path) > MAX_PATH:
        raise ValueError(f"invalid path: must be less than or equal to {MAX_PATH} characters")
    items = path.split("/")
    for item in items:
        if item == "..":
            raise ValueError(f"invalid path: must not contain '..': {path}")
        if len(item) > MAX_FILE_NAME:
            raise ValueError(f"invalid path: filenames must be less than or equal to {MAX_FILE_NAME} characters")
    if items[0].startswith("..") and len(items[0]) > 2:
        raise ValueError(f"invalid path: must not start with '..': {path}")


def write(target: Path, payload: dict[str, FileProjection]) -> bool:
    """Project payload into target (which exists); answers whether anything was written."""
    for path in payload:
        validate_path(path)
    clean = {os.path.normpath(path): projection for path, projection in payload.items()}
    data_link = target / DATA_DIR
    old = os.readlink(data_link) if data_link.is_symlink() else ""
    removed: set[str] = set()
    if old:
        removed = _paths_to_remove(clean, target / old)
        if not removed and not _changed(clean, target / old):
            return False
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    new = Path(tempfile.mkdtemp(prefix=stamp, dir=target))
    try:
        new.chmod(0o755)  # group and others must reach the files, whatever the umask
        _write_files(clean, new)
        _link_visible(clean, target)
        os.symlink(new.name, target / NEW_DATA_DIR)
        os.rename(target / NEW_DATA_DIR, data_link)  # the atomic step
    except OSError:
        (target / NEW_DATA_DIR).unlink(missing_ok=True)
        shutil.rmtree(new, ignore_errors=True)
        raise
    for path in removed:
        if "/" not in path:  # only the visible links at the top; what is below went with the old directory
            (target / path).unlink(missing_ok=True)
    if old:
        shutil.rmtree(target / old, ignore_errors=True)
    return True


def _changed(payload: dict[str, FileProjection], old: Path) -> bool:
    for path, projection in payload.items():
        try:
            if (old / path).read_bytes() != projection.data:
                return True
        except FileNotFoundError:
            return True
    return False


def _paths_to_remove(payload: dict[str, FileProjection], old: Path) -> set[str]:
    """What the old version has that the new one has not (with every parent of a new path kept)."""
    present = {str(Path(root, name).relative_to(old)) for root, dirs, files in os.walk(old)
               for name in dirs + files}
    wanted = set()
    for path in payload:
        while path:
            wanted.add(path)
            path = os.path.dirname(path)
    return present - wanted


def _write_files(payload: dict[str, FileProjection], directory: Path) -> None:
    for path, projection in payload.items():
        full = directory / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(projection.data)
        full.chmod(projection.mode)  # the mode asked for, whatever the umask
        if projection.fs_user is not None:
            os.chown(full, projection.fs_user, -1)


def _link_visible(payload: dict[str, FileProjection], target: Path) -> None:
    """NAME -> ..data/NAME for the first element of every path not linked yet."""
    for path in payload:
        top = path.split("/", 1)[0]
        if not (target / top).is_symlink():
            os.symlink(os.path.join(DATA_DIR, top), target / top)
