"""Where a jobs service keeps its jobs: :class:`JobStore`, the group commits every backend shares.

Every change to a job or schedule is queued as its whole row; one writer thread commits every row
queued at once in one transaction of the backend (SQLite: ``_sqlite.py``; Redis: ``_redis.py``), then
wakes the callers that wait for it. Many submits in flight thus share one commit (one fsync, or one
round trip). A row that no caller waits for wakes the writer only :data:`LINGER` seconds later, once
the answer it goes with has left. A commit that fails wakes its waiters with an ``OSError`` naming the
backend, and its rows are kept for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from ._model import Job

COMMIT_RETRY_AFTER = 0.5
"""Seconds between a failed commit and the next attempt."""

LINGER = 0.010
"""Seconds a row that no caller waits for may wait before the writer is woken for it: the job's answer
goes out first, and the writer thread takes the interpreter from the loop once for all the rows of
that time. Measured with ``run`` one job at a time: 0.99-1.03 ms a job with 2 ms, 0.89-0.93 with 5 or
10, 0.88 with 25. A service that dies loses at most this much of such rows (jobs then run again)."""


class JobStore:
    """A job table kept by a backend; subclasses say how to read it, commit to it and close it."""

    description = "a job store"

    def __init__(self) -> None:
        self._jobs: dict[str, tuple[Any, ...]] = {}
        self._schedules: dict[str, bytes | None] = {}
        self._waiting: list[asyncio.Future[None]] = []
        self._ready = threading.Condition()
        self._closed = False
        self._writer: threading.Thread | None = None
        self._lingering = False

    def jobs(self) -> Iterator[Job]:
        """Every job stored, in the order of submission."""
        for row in self._job_rows():
            yield Job.from_row(row)

    def schedules(self) -> Iterator[tuple[str, bytes]]:
        """Every schedule stored: its id and its pickled :class:`~mesh.services.jobs._recurring.Schedule`."""
        return self._schedule_rows()

    def put(self, job: Job) -> None:
        """Queue ``job``'s row for the next commit, made within :data:`LINGER` seconds (at once when a
        caller waits for it, :meth:`committed`). On the loop."""
        with self._ready:
            self._jobs[job.id] = job.row()
        self._linger()

    def put_schedule(self, schedule_id: str, spec: bytes | None) -> None:
        """Queue a schedule's row (``None``: its removal) for the next commit, as :meth:`put` does."""
        with self._ready:
            self._schedules[schedule_id] = spec
        self._linger()

    def committed(self) -> asyncio.Future[None]:
        """A future of the running loop, done once everything queued so far is committed."""
        future = asyncio.get_running_loop().create_future()
        with self._ready:
            self._waiting.append(future)
            self._ready.notify()
        return future

    def _linger(self) -> None:
        if not self._lingering:
            self._lingering = True
            asyncio.get_running_loop().call_later(LINGER, self._wake_writer)

    def _wake_writer(self) -> None:
        self._lingering = False
        with self._ready:
            self._ready.notify()

    def start(self) -> None:
        """Start the writer thread (the service does, on its first call)."""
        self._writer = threading.Thread(target=self._write_forever, name=f"jobs-store {self.description}", daemon=True)
        self._writer.start()

    def close(self) -> None:
        """Commit what is queued, stop the writer and close the backend."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        if self._writer is not None:
            self._writer.join(10)
        self._close()

    # ------------------------------------------------------------------ the backend's part

    def _job_rows(self) -> Iterator[tuple[Any, ...]]:
        raise NotImplementedError

    def _schedule_rows(self) -> Iterator[tuple[str, bytes]]:
        raise NotImplementedError

    def _commit(self, jobs: list[tuple[Any, ...]], schedules: dict[str, bytes | None]) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ the writer thread

    def _write_forever(self) -> None:
        while True:
            with self._ready:
                while not (self._jobs or self._schedules or self._waiting or self._closed):
                    self._ready.wait()
                jobs, self._jobs = self._jobs, {}
                schedules, self._schedules = self._schedules, {}
                waiting, self._waiting = self._waiting, []
                closed = self._closed
            error: OSError | None = None
            try:
                if jobs or schedules:
                    self._commit(list(jobs.values()), schedules)
            except Exception as exc:
                error = OSError(f"jobs store {self.description}: the commit failed: {exc}")
                self._keep(jobs, schedules)
            for future in waiting:
                with contextlib.suppress(RuntimeError):  # its loop closed: nobody waits any more
                    future.get_loop().call_soon_threadsafe(_settle, future, error)
            if closed:
                return
            if error is not None:
                with self._ready:
                    self._ready.wait(COMMIT_RETRY_AFTER)

    def _keep(self, jobs: dict[str, tuple[Any, ...]], schedules: dict[str, bytes | None]) -> None:
        """Put the rows of a failed commit back, under those queued since (which are newer)."""
        with self._ready:
            self._jobs = {**jobs, **self._jobs}
            self._schedules = {**schedules, **self._schedules}


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
