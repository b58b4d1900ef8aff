"""Files that hold credentials (kubeconfigs, keys, certificates): written private and atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile


def write_private(path: str, data: bytes) -> None:
    """Replace `path` with `data` in one step, as a file only its owner can read (0600): a reader sees the
    old file or the new one, never half of one, and a failed write leaves no temporary file behind."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=f".{os.path.basename(path)}-")
    try:
        with os.fdopen(fd, "wb") as f:  # mkstemp creates the file 0600
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
