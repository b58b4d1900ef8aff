"""Container logs in the CRI's file format, as containerd writes them for the kubelet to read:

    2016-10-06T00:17:09.669794202Z stdout F the whole line
    2016-10-06T00:17:09.669794203Z stderr P a long line's first part, continued by the next record

one record per line of the file (F: full, the line ends here; P: partial). --tail counts records, as
upstream's kubelet does; follow reads on while the container runs.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

CHUNK = 64 * 1024
POLL = 0.1  # seconds between reads of a followed log
RECHECK = 1.0  # seconds between asking whether a followed container still runs
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)$")


@dataclass
class LogRecord:
    timestamp: str  # RFC 3339 with nanoseconds
    stream: str  # stdout or stderr
    partial: bool
    message: bytes

    @property
    def seconds(self) -> float:
        """The time it was written, in seconds since the epoch (to the microsecond)."""
        found = _RFC3339.match(self.timestamp)
        if found is None:
            return 0.0
        zone = "+00:00" if found[3] in ("Z", "z") else found[3]
        return datetime.fromisoformat(found[1] + (found[2] or "")[:7] + zone).timestamp()

    @property
    def text(self) -> bytes:
        """The bytes the container wrote: a full record's line gets its newline back."""
        return self.message if self.partial else self.message + b"\n"


def parse(line: bytes) -> LogRecord | None:
    """One line of the file, without its newline; None if it is not a CRI log record."""
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr"):
        return None
    tag = parts[2].split(b":")[0]  # tags are colon-separated; the first is F or P
    return LogRecord(parts[0].decode(), parts[1].decode(), tag == b"P", parts[3] if len(parts) == 4 else b"")


def tail_offset(path: Path, lines: int) -> int:
    """Where the last `lines` lines of the file start."""
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        if lines <= 0:
            return end
        position, found = end, 0
        while position > 0:
            start = max(0, position - CHUNK)
            f.seek(start)
            block = f.read(position - start)
            if position == end and block.endswith(b"\n"):
                block = block[:-1]  # the last line's own newline does not start a line
            index = len(block)
            while True:
                index = block.rfind(b"\n", 0, index)
                if index < 0:
                    break
                found += 1
                if found == lines:
                    return start + index + 1
            position = start
        return 0


async def read(path: Path, *, tail: int | None = None, follow: bool = False,
               running: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[LogRecord]:
    """The records of a log file (its last `tail`), then, if follow, those written while running() says
    the container runs."""
    offset = tail_offset(path, tail) if tail is not None else 0
    pending = b""
    last_check = asyncio.get_running_loop().time()
    with open(path, "rb") as f:
        f.seek(offset)
        while True:
            chunk = f.read(CHUNK)
            if chunk:
                *complete, pending = (pending + chunk).split(b"\n")
                for line in complete:
                    record = parse(line)
                    if record is not None:
                        yield record
                continue
            if not follow:
                break
            now = asyncio.get_running_loop().time()
            if running is not None and now - last_check >= RECHECK:
                last_check = now
                if not await running():
                    follow = False  # one more read for what it wrote last
                    continue
            await asyncio.sleep(POLL)
    if pending:
        record = parse(pending)
        if record is not None:
            yield record
