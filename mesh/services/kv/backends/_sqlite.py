"""The kv service's default backend: one SQLite file in WAL mode, written with group commit.

::

    callbacks (node loop)          writer thread (_batches.py)        node loop
    set/delete/incr/cas ──put──▶  queue ──▶ BEGIN; op; op; ...; COMMIT ──▶ settle the futures,
                                   (every op waiting then: one fsync)        then tell the watches
    get ──────────────────────▶   the reader connection, on the loop (WAL: never waits for a writer)
    keys ─────────────────────▶   a connection of its own, in a thread

A write's future is settled only after the COMMIT that holds it, with ``synchronous=FULL``: a write
whose FG returned is on disk, and survives a SIGKILL (or a power cut) of the service. Writes that
arrive while a commit runs wait for the next one and share it, so a flood of BG or NO_RETURN writes
costs one fsync per batch, not one per write. Writes apply in the order they reach the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mesh import UsageError

from .._watchers import RawChange, Watch, Watchers
from . import Update
from ._batches import Batches, Outcome

# Seconds between sweeps of expired keys while no write comes.
SWEEP_EVERY = 1.0

_Run = Callable[[sqlite3.Connection, list[RawChange]], Any]
# The most rows one INSERT takes: 3 parameters each, within the 999 of SQLite before 3.32.
ROWS_A_STATEMENT = 333
_INSERT = "INSERT OR REPLACE INTO kv VALUES "
# The most keys one SELECT asks for, within the 999 parameters of SQLite before 3.32.
_KEYS_A_SELECT = 999
_Row = tuple[str, bytes, "float | None"]
"""A key's row: the key, its stored value and when it expires."""
_Write = _Run | list[_Row]
"""A write: the rows of a set, or a run of its own (delete, incr, cas)."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires) WHERE expires IS NOT NULL",
)


class SQLiteBackend:
    """The keys of one SQLite file (made when missing), in WAL mode with ``synchronous=FULL``.

    Raises:
        UsageError: the file cannot be opened or made, or is not a database.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.name = f"sqlite {self.path}"
        self.watchers = Watchers()
        self._reader: sqlite3.Connection | None = None
        self._connection = self._connect()
        for statement in _SCHEMA:
            self._connection.execute(statement)
        self._writes = Batches(
            "kv-sqlite-writer", self._commit, closed=f"kv: the backend {self.name} is closed", idle=self._sweep,
            every=SWEEP_EVERY,
        )  # fmt: skip

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            connection.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise UsageError(f"kv: cannot open the SQLite file {self.path!r}: {exc}") from exc
        if mode != "wal":
            connection.close()
            raise UsageError(f"kv: {self.path!r} cannot be in WAL mode (it is {mode!r}): give a file path")
        return connection

    # ------------------------------------------------------------------ the callbacks' side

    def set(self, items: list[tuple[str, bytes]], ttl: float | None) -> Awaitable[None]:
        # Rows, not a run: the writer inserts a batch's consecutive sets with multi-row INSERTs.
        expires = None if ttl is None else time.time() + ttl
        return self._writes.submit([(key, data, expires) for key, data in items])

    async def get(self, keys: list[str]) -> list[bytes | None]:
        if self._reader is None:
            self._reader = self._connect()
        found: dict[str, tuple[bytes, float | None]] = {}
        try:
            if len(keys) == 1:
                rows = self._reader.execute("SELECT key, value, expires FROM kv WHERE key = ?", keys).fetchall()
                found.update((key, (data, expires)) for key, data, expires in rows)
            else:
                for start in range(0, len(keys), _KEYS_A_SELECT):
                    chunk = keys[start : start + _KEYS_A_SELECT]
                    rows = self._reader.execute(
                        f"SELECT key, value, expires FROM kv WHERE key IN ({','.join('?' * len(chunk))})", chunk
                    ).fetchall()
                    found.update((key, (data, expires)) for key, data, expires in rows)
        except sqlite3.Error as exc:
            raise OSError(f"kv: the backend {self.name} could not be read: {exc}") from exc
        now = time.time()
        values: list[bytes | None] = []
        for key in keys:
            row = found.get(key)
            values.append(None if row is None or _expired(row[1], now) else bytes(row[0]))
        return values

    async def delete(self, key: str) -> bool:
        deleted: bool = await self._writes.submit(functools.partial(_delete, key))
        return deleted

    async def keys(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self._keys, prefix)

    async def update(self, key: str, fn: Update) -> Any:
        return await self._writes.submit(functools.partial(_update, key, fn))

    async def watch(self, prefix: str) -> Watch:
        return self.watchers.open(prefix)

    def statistics(self) -> dict[str, int]:
        """Counters: ``writes`` committed (or failed) and the ``commits`` that held them."""
        return {"writes": self._writes.applied, "commits": self._writes.batches}

    def close(self) -> None:
        """Commit what is queued, then close the file; idempotent."""
        self._writes.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._connection.close()

    # ------------------------------------------------------------------ the writer thread

    def _commit(self, writes: list[_Write]) -> tuple[list[Outcome], Callable[[], None] | None]:
        """Apply ``writes`` in one transaction: their outcomes, and the telling of their changes."""
        connection = self._connection
        changes: list[RawChange] = []
        outcomes: list[Outcome] = []
        rows: list[_Row] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for write in writes:
                if isinstance(write, list):
                    rows.extend(write)
                    outcomes.append((None, None))
                    continue
                _insert(connection, rows, changes)
                try:
                    outcomes.append((write(connection, changes), None))
                except sqlite3.Error:
                    raise  # the file's trouble (full, I/O): it may have ended the transaction, so fail it all
                except Exception as exc:
                    outcomes.append((None, exc))
            _insert(connection, rows, changes)
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            failure = OSError(f"kv: the backend {self.name} could not commit: {exc}")
            return [(None, failure)] * len(writes), None
        return outcomes, (functools.partial(self.watchers.publish, changes) if changes else None)

    def _sweep(self) -> None:
        # A busy or full file: the next sweep tries again, and reads skip expired keys anyway.
        with contextlib.suppress(sqlite3.Error):
            self._connection.execute("DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ?", (time.time(),))

    def _keys(self, prefix: str) -> list[str]:
        connection = sqlite3.connect(self.path, isolation_level=None)
        try:
            upper = _above(prefix)
            if upper is None:
                rows = connection.execute("SELECT key, expires FROM kv WHERE key >= ? ORDER BY key", (prefix,))
            else:
                rows = connection.execute(
                    "SELECT key, expires FROM kv WHERE key >= ? AND key < ? ORDER BY key", (prefix, upper)
                )
            now = time.time()
            return [key for key, expires in rows if not _expired(expires, now)]
        finally:
            connection.close()


# ---------------------------------------------------------------------- the writes, in the writer thread


def _insert(connection: sqlite3.Connection, rows: list[_Row], changes: list[RawChange]) -> None:
    """Write the set ``rows`` that wait, and empty the list.

    Up to :data:`ROWS_A_STATEMENT` rows go in one multi-row INSERT: one step of SQLite with the GIL
    released once, where ``executemany`` would hand the GIL back and forth with the node's loop thread
    on every row.
    """
    for start in range(0, len(rows), ROWS_A_STATEMENT):
        chunk = rows[start : start + ROWS_A_STATEMENT]
        connection.execute(_INSERT + ",".join(["(?, ?, ?)"] * len(chunk)), [field for row in chunk for field in row])
    changes.extend((key, data) for key, data, _ in rows)
    rows.clear()


def _delete(key: str, connection: sqlite3.Connection, changes: list[RawChange]) -> bool:
    row = connection.execute("SELECT expires FROM kv WHERE key = ?", (key,)).fetchone()
    if row is None:
        return False
    connection.execute("DELETE FROM kv WHERE key = ?", (key,))
    if _expired(row[0], time.time()):
        return False
    changes.append((key, None))
    return True


def _update(key: str, fn: Update, connection: sqlite3.Connection, changes: list[RawChange]) -> Any:
    row = connection.execute("SELECT value, expires FROM kv WHERE key = ?", (key,)).fetchone()
    live = row is not None and not _expired(row[1], time.time())
    new, result = fn(bytes(row[0]) if live else None)
    if new is not None:
        connection.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, new, row[1] if live else None))
        changes.append((key, new))
    return result


def _expired(expires: float | None, now: float) -> bool:
    return expires is not None and expires <= now


def _above(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None: there is none)."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if last == 0xD800:
            last = 0xE000  # surrogates are not text SQLite can hold
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None
