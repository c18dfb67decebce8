"""The jobs service's default job table: a SQLite file (WAL, ``synchronous=FULL``: a commit is on disk
when it returns), one table of jobs and one of schedules."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._store import JobStore

_JOB_COLUMNS = (
    "id, seq, name, state, payload, retries, backoff, timeout, not_before, key, created, attempts, lost, "
    "error, outcome, progress, worker, started, finished, schedule"
)
_TABLES = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, payload BLOB,
    retries INTEGER NOT NULL, backoff REAL NOT NULL, timeout REAL, not_before REAL NOT NULL, key TEXT UNIQUE,
    created REAL NOT NULL, attempts INTEGER NOT NULL, lost INTEGER NOT NULL, error TEXT, outcome BLOB,
    progress BLOB, worker TEXT NOT NULL, started REAL, finished REAL, schedule TEXT
);
CREATE TABLE IF NOT EXISTS schedules (id TEXT PRIMARY KEY, spec BLOB NOT NULL);
"""
_PUT_JOB = f"INSERT OR REPLACE INTO jobs ({_JOB_COLUMNS}) VALUES ({', '.join('?' * 20)})"


class SQLiteJobStore(JobStore):
    """The SQLite file at ``path`` (made with its folder when missing).

    Raises:
        OSError: the file cannot be opened or is not a job table (the message names it).
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.description = f"SQLite {self.path}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_TABLES)
        except (OSError, sqlite3.Error) as exc:
            raise OSError(f"jobs: the job table {self.path} cannot be opened: {exc}") from exc

    def _job_rows(self) -> Iterator[tuple[Any, ...]]:
        yield from self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY seq")

    def _schedule_rows(self) -> Iterator[tuple[str, bytes]]:
        yield from self._db.execute("SELECT id, spec FROM schedules")

    def _commit(self, jobs: list[tuple[Any, ...]], schedules: dict[str, bytes | None]) -> None:
        self._db.execute("BEGIN")
        try:
            self._db.executemany(_PUT_JOB, jobs)
            for schedule_id, spec in schedules.items():
                if spec is None:
                    self._db.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,))
                else:
                    self._db.execute("INSERT OR REPLACE INTO schedules VALUES (?, ?)", (schedule_id, spec))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _close(self) -> None:
        self._db.close()
