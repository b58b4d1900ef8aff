"""Reading container logs in the CRI file format: records, partial lines, --tail, and follow."""

from __future__ import annotations

import asyncio
from pathlib import Path

from timoneiro.kubelet.cri import logs

RECORDS = (b"2026-01-01T00:00:00.000000001Z stdout F one\n"
           b"2026-01-01T00:00:00.000000002Z stderr P a long \n"
           b"2026-01-01T00:00:00.000000003Z stderr F line\n"
           b"2026-01-01T00:00:00.000000004Z stdout F \n"
           b"2026-01-01T00:00:00.000000005Z stdout F last")  # its newline not written yet


async def _read(path: Path, **options) -> bytes:
    return b"".join([record.text async for record in logs.read(path, **options)])


def test_parse_records_and_skip_what_is_not_one():
    record = logs.parse(b"2026-01-01T00:00:00.000000002Z stderr P a long ")
    assert record == logs.LogRecord("2026-01-01T00:00:00.000000002Z", "stderr", True, b"a long ")
    assert record.text == b"a long "
    assert logs.parse(b"2026-01-01T00:00:00Z stdout F:x with spaces  ").text == b"with spaces  \n"
    assert logs.parse(b"2026-01-01T00:00:00Z stdout F").text == b"\n"
    assert logs.parse(b"garbage") is None and logs.parse(b"2026 stdin F x") is None


async def test_read_whole_and_tail(tmp_path: Path):
    path = tmp_path / "0.log"
    path.write_bytes(RECORDS)
    assert await _read(path) == b"one\na long line\n\nlast\n"
    assert await _read(path, tail=1) == b"last\n"
    assert await _read(path, tail=2) == b"\nlast\n"
    assert await _read(path, tail=4) == b"a long line\n\nlast\n"
    assert await _read(path, tail=100) == await _read(path)
    assert await _read(path, tail=0) == b""
    path.write_bytes(RECORDS + b"\n")
    assert await _read(path, tail=1) == b"last\n"


def test_tail_offset_across_chunks(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(logs, "CHUNK", 7)
    path = tmp_path / "0.log"
    path.write_bytes(b"".join(b"2026-01-01T00:00:00Z stdout F %d\n" % i for i in range(50)))
    offset = logs.tail_offset(path, 3)
    assert path.read_bytes()[offset:].startswith(b"2026-01-01T00:00:00Z stdout F 47\n")


async def test_follow_reads_what_is_written_until_the_container_stops(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(logs, "POLL", 0.01)
    monkeypatch.setattr(logs, "RECHECK", 0.02)
    path = tmp_path / "0.log"
    path.write_bytes(b"2026-01-01T00:00:00Z stdout F first\n")
    running = True

    async def still_running() -> bool:
        return running

    async def write_more() -> None:
        nonlocal running
        await asyncio.sleep(0.05)
        with open(path, "ab") as f:
            f.write(b"2026-01-01T00:00:01Z stdout F second\n2026-01-01T00:00:02Z std")
        await asyncio.sleep(0.05)
        with open(path, "ab") as f:
            f.write(b"out F third\n")
        running = False

    writer = asyncio.create_task(write_more())
    assert await _read(path, follow=True, running=still_running) == b"first\nsecond\nthird\n"
    await writer
