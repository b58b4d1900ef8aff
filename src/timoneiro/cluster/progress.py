"""How the processes of a starting cluster tell `timoneiro up` what they have done: lines on a pipe.

The events: `apiserver URL` (serving), `control-plane` (the rest of it started), `node NAME` (registered
and Ready) for each node, then `ready JOIN-COMMAND` (kubectl's context written; the one-line command other
machines join with, or why there is none); or `failed WHY` at any point. A pipe, rather than polling the
API, costs nothing while waiting and ends (EOF) if every process of the cluster dies.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Iterator

LINE_MAX = select.PIPE_BUF  # one write of at most this many bytes is never interleaved with another's


class Notifier:
    """The writing end, inherited by every process of the cluster (or None when nobody listens)."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def send(self, event: str, detail: str = "") -> None:
        if self.fd is None:
            return
        line = f"{event} {detail}".strip().replace("\n", " ").encode()[: LINE_MAX - 1] + b"\n"
        try:
            os.write(self.fd, line)
        except OSError:  # `up` has gone: nobody listens any more
            self.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def read_events(fd: int, timeout: float, alive: Callable[[], bool]) -> Iterator[tuple[str, str]]:
    """(event, detail) as they arrive, until every writer has closed the pipe or `alive()` says the cluster
    has gone; TimeoutError after `timeout` seconds in all."""
    deadline = time.monotonic() + timeout
    buffer = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the cluster did not start in {timeout:.0f}s")
        if not select.select([fd], [], [], min(left, 0.5))[0]:
            if not alive():
                return
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        *lines, buffer = (buffer + chunk).split(b"\n")
        for line in lines:
            event, _, detail = line.decode().partition(" ")
            yield event, detail
