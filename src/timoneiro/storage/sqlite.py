"""The embedded default Store: an append-only log of revisions in one SQLite file.

Each write appends a row whose id is its revision; the newest row of a key is its value (or a
tombstone). Writes are group-committed: everything queued while one transaction is being written
goes into the next, so one fsync acknowledges many writes and an acknowledged write survives kill -9.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from timoneiro.storage.interface import (
    Compacted,
    Event,
    KeyExists,
    KeyNotFound,
    KeyValue,
    RevisionConflict,
    Store,
    Unreadable,
    prefix_end,
)

if TYPE_CHECKING:
    from timoneiro.storage.encryption import Transformers

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv (name, id);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
"""
LATEST = "SELECT id, create_revision, deleted, value FROM kv WHERE name = ? ORDER BY id DESC LIMIT 1"
INSERT = "INSERT INTO kv (id, name, deleted, create_revision, prev_revision, value) VALUES (?, ?, ?, ?, ?, ?)"
HISTORY = """
SELECT k.id, k.name, k.deleted, k.create_revision, k.value, p.id, p.create_revision, p.value
FROM kv k LEFT JOIN kv p ON p.id = k.prev_revision
WHERE k.id > ? AND k.name >= ? AND k.name < ? ORDER BY k.id LIMIT ?
"""
LIST_AT = """
SELECT k.name, k.value, k.id, k.create_revision FROM kv k
WHERE k.name >= ? AND k.name < ? AND k.deleted = 0 AND k.id <= ?
  AND k.id = (SELECT MAX(n.id) FROM kv n WHERE n.name = k.name AND n.id <= ?)
ORDER BY k.name
"""
COMPACT = """
DELETE FROM kv WHERE id IN (
    SELECT k.id FROM kv k WHERE k.id <= ?1 AND (k.deleted = 1 OR EXISTS (
        SELECT 1 FROM kv n WHERE n.name = k.name AND n.id > k.id AND n.id <= ?1)))
"""
HISTORY_PAGE = 2000
log = logging.getLogger("timoneiro.storage")


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class SQLiteStore(Store):
    def __init__(self, path: str, transformers: Transformers | None = None) -> None:
        """`transformers`: encryption at rest, applied to values on their way into and out of the file."""
        self.path = path
        self._transformers = transformers
        self._stale: set[str] = set()  # keys whose latest value is stored with a key no longer first
        self._rev = 0
        self._compacted = 0
        self._pending: list[tuple[tuple, asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._subscribers: set[asyncio.Queue] = set()
        self._writer_task: asyncio.Task | None = None
        # one thread writes, another reads, so that reads never wait behind an fsync
        self._wexec = ThreadPoolExecutor(1, thread_name_prefix="sqlite-w")
        self._rexec = ThreadPoolExecutor(1, thread_name_prefix="sqlite-r")

    async def start(self) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._wconn = _connect(self.path)
        self._wconn.executescript(SCHEMA)
        self._rconn = _connect(self.path)
        row = self._wconn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'kv'").fetchone()
        self._rev = row[0] if row else 0
        row = self._wconn.execute("SELECT v FROM meta WHERE k = 'compacted'").fetchone()
        self._compacted = row[0] if row else 0
        self._writer_task = asyncio.get_running_loop().create_task(self._writer())

    async def close(self) -> None:
        if self._writer_task:
            while self._pending:
                await asyncio.sleep(0.001)
            self._writer_task.cancel()
            self._writer_task = None
        for q in list(self._subscribers):
            q.put_nowait(None)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._wexec, self._wconn.close)
        await loop.run_in_executor(self._rexec, self._rconn.close)
        self._wexec.shutdown()
        self._rexec.shutdown()

    @property
    def revision(self) -> int:
        return self._rev

    @property
    def compacted_revision(self) -> int:
        return self._compacted

    # reads

    async def _read(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._rexec, fn, *args)

    async def get(self, key: str) -> KeyValue | None:
        row = await self._read(lambda: self._rconn.execute(LATEST, (key,)).fetchone())
        if not row or row[2]:
            return None
        return KeyValue(key, self._open(key, row[3], True) if self._transformers else row[3], row[0], row[1])

    async def list(self, prefix: str, revision: int = 0, start: str = "", limit: int = 0
                   ) -> tuple[list[KeyValue], int]:
        at = revision or self._rev
        if revision and revision < self._compacted:
            raise Compacted(revision, self._compacted)
        lo = max(prefix, start) if start else prefix
        sql = LIST_AT + (f" LIMIT {int(limit)}" if limit else "")

        def run():
            rows = self._rconn.execute(sql, (lo, prefix_end(prefix), at, at)).fetchall()
            if self._transformers:
                rows = [(name, self._open(name, value, not revision), rid, crev)
                        for name, value, rid, crev in rows]
            return rows

        rows = await self._read(run)
        return [KeyValue(r[0], r[1], r[2], r[3]) for r in rows], at

    def _history(self, prefix: str, after: int) -> list[Event]:
        rows = self._rconn.execute(HISTORY, (after, prefix, prefix_end(prefix), HISTORY_PAGE)).fetchall()
        events = []
        for rid, name, deleted, crev, value, pid, pcrev, pvalue in rows:
            if self._transformers:
                value = self._open(name, value)
                pvalue = self._open(name, pvalue) if pid is not None else None
            prev = KeyValue(name, pvalue, pid, pcrev) if pid is not None else None
            events.append(Event("DELETE" if deleted else "PUT", KeyValue(name, value, rid, crev), prev))
        return events

    def _open(self, key: str, value: bytes, latest: bool = False) -> bytes:
        """A stored value as it was written (decrypted). A `latest` one read with a provider or key that is
        no longer first makes the key stale; one no provider reads is logged (older ones may well be
        unreadable after a key was dropped: they are history only)."""
        value, stale = self._transformers.from_storage(key, value)
        if latest:
            if stale:
                self._stale.add(key)
            elif isinstance(value, Unreadable):
                log.error("failed to decrypt data of %s: %s", key, value.error)
        return value

    def stale(self, key: str) -> bool:
        return key in self._stale

    async def watch(self, prefix: str, after: int) -> AsyncIterator[Event]:
        if after < self._compacted:
            raise Compacted(after, self._compacted)
        queue: asyncio.Queue = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            last = after
            while last < self._rev:
                page = await self._read(self._history, prefix, last)
                if not page:
                    break
                for ev in page:
                    yield ev
                last = page[-1].kv.mod_revision
                if len(page) < HISTORY_PAGE:
                    break
            while True:
                batch = await queue.get()
                if batch is None:
                    return
                for ev in batch:
                    if ev.kv.mod_revision > last and ev.kv.key.startswith(prefix):
                        last = ev.kv.mod_revision
                        yield ev
        finally:
            self._subscribers.discard(queue)

    # writes

    async def create(self, key: str, value: bytes) -> KeyValue:
        return (await self._submit(("create", key, value, 0))).kv

    async def update(self, key: str, value: bytes, expected_revision: int) -> KeyValue:
        return (await self._submit(("update", key, value, expected_revision))).kv

    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue:
        return (await self._submit(("delete", key, b"", expected_revision))).kv

    async def compact(self, revision: int) -> None:
        revision = min(revision, self._rev)
        if revision <= self._compacted:
            return

        def run():
            with self._wconn:
                self._wconn.execute(COMPACT, (revision,))
                self._wconn.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('compacted', ?)", (revision,))

        await asyncio.get_running_loop().run_in_executor(self._wexec, run)
        self._compacted = revision

    def _submit(self, op: tuple) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((op, fut))
        self._wake.set()
        return fut

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results, rev = await loop.run_in_executor(self._wexec, self._commit, [op for op, _ in batch])
                except Exception as exc:  # the transaction rolled back: every write in it failed
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                self._rev = rev
                events = [r for r in results if isinstance(r, Event)]
                if self._stale:  # rewritten with the first provider and key
                    self._stale.difference_update(ev.kv.key for ev in events)
                for q in self._subscribers:
                    q.put_nowait(events)
                for (_, fut), result in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(result, Exception):
                        fut.set_exception(result)
                    else:
                        fut.set_result(result)

    def _commit(self, ops: list[tuple]) -> tuple[list, int]:
        """Apply a batch of writes in one transaction (writer thread). Per-write failures are results."""
        conn = self._wconn
        rev = self._rev
        results: list = []
        t = self._transformers
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op, key, value, expected in ops:
                row = conn.execute(LATEST, (key,)).fetchone()
                live = row is not None and not row[2]
                current = KeyValue(key, self._open(key, row[3]) if t else row[3], row[0], row[1]) \
                    if live else None
                stored = t.to_storage(key, value) if t and op != "delete" else value
                if op == "create":
                    if live:
                        results.append(KeyExists(key))
                        continue
                    rev += 1
                    conn.execute(INSERT, (rev, key, 0, rev, row[0] if row else 0, stored))
                    results.append(Event("PUT", KeyValue(key, value, rev, rev), None))
                    continue
                if current is None:
                    results.append(KeyNotFound(key))
                    continue
                if expected and current.mod_revision != expected:
                    results.append(RevisionConflict(current))
                    continue
                rev += 1
                if op == "update":
                    conn.execute(INSERT, (rev, key, 0, current.create_revision, current.mod_revision, stored))
                    results.append(Event("PUT", KeyValue(key, value, rev, current.create_revision), current))
                else:
                    conn.execute(INSERT, (rev, key, 1, current.create_revision, current.mod_revision, row[3]))
                    deleted = KeyValue(key, current.value, rev, current.create_revision)
                    results.append(Event("DELETE", deleted, current))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return results, rev
