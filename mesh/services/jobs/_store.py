"""The jobs service's SQLite file: one table of jobs, one of schedules, written in group commits.

Every change to a job or schedule is queued as its whole row; one writer thread commits every row
queued at once in one transaction (WAL, ``synchronous=FULL``: a commit is on disk when it returns),
then wakes the callers that wait for it. Many submits in flight thus share one fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._model import Job

_JOB_COLUMNS = (
    "id, seq, name, state, payload, retries, backoff, timeout, not_before, key, created, attempts, lost, "
    "error, outcome, progress, worker, started, finished, schedule"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, payload BLOB,
    retries INTEGER NOT NULL, backoff REAL NOT NULL, timeout REAL, not_before REAL NOT NULL, key TEXT UNIQUE,
    created REAL NOT NULL, attempts INTEGER NOT NULL, lost INTEGER NOT NULL, error TEXT, outcome BLOB,
    progress BLOB, worker TEXT NOT NULL, started REAL, finished REAL, schedule TEXT
);
CREATE TABLE IF NOT EXISTS schedules (id TEXT PRIMARY KEY, spec BLOB NOT NULL);
"""
_PUT_JOB = f"INSERT OR REPLACE INTO jobs ({_JOB_COLUMNS}) VALUES ({', '.join('?' * 20)})"


class JobStore:
    """The SQLite file at ``path`` (created with its folder when missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._jobs: dict[str, tuple[Any, ...]] = {}
        self._schedules: dict[str, bytes | None] = {}
        self._waiting: list[asyncio.Future[None]] = []
        self._ready = threading.Condition()
        self._closed = False
        self._writer: threading.Thread | None = None

    @property
    def description(self) -> str:
        return f"SQLite {self.path}"

    def jobs(self) -> Iterator[Job]:
        """Every job stored, in the order of submission."""
        for row in self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY seq"):
            yield Job.from_row(row)

    def schedules(self) -> Iterator[tuple[str, bytes]]:
        yield from self._db.execute("SELECT id, spec FROM schedules")

    def put(self, job: Job) -> None:
        """Queue ``job``'s row for the next commit."""
        with self._ready:
            self._jobs[job.id] = job.row()
            self._ready.notify()

    def put_schedule(self, schedule_id: str, spec: bytes | None) -> None:
        """Queue a schedule's row (``None``: its removal) for the next commit."""
        with self._ready:
            self._schedules[schedule_id] = spec
            self._ready.notify()

    def committed(self) -> asyncio.Future[None]:
        """A future of the running loop, done once everything queued so far is committed."""
        future = asyncio.get_running_loop().create_future()
        with self._ready:
            self._waiting.append(future)
            self._ready.notify()
        return future

    def start(self) -> None:
        self._writer = threading.Thread(target=self._write_forever, name=f"jobs-store {self.path}", daemon=True)
        self._writer.start()

    def close(self) -> None:
        """Commit what is queued, stop the writer and close the file."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        if self._writer is not None:
            self._writer.join(10)
        self._db.close()

    def _write_forever(self) -> None:
        while True:
            with self._ready:
                while not (self._jobs or self._schedules or self._waiting or self._closed):
                    self._ready.wait()
                jobs, self._jobs = self._jobs, {}
                schedules, self._schedules = self._schedules, {}
                waiting, self._waiting = self._waiting, []
                closed = self._closed
            error: BaseException | None = None
            try:
                self._commit(list(jobs.values()), schedules)
            except (sqlite3.Error, OSError) as exc:
                error = OSError(f"jobs store {self.path}: the commit failed: {exc}")
            for future in waiting:
                with contextlib.suppress(RuntimeError):  # its loop closed: nobody waits any more
                    future.get_loop().call_soon_threadsafe(_settle, future, error)
            if closed:
                return

    def _commit(self, jobs: list[tuple[Any, ...]], schedules: dict[str, bytes | None]) -> None:
        if not (jobs or schedules):
            return
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


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
