"""The worker threads that run sync callbacks, woken as few at a time as keeps every call moving.

``concurrent.futures.ThreadPoolExecutor`` wakes an idle thread for every job it is given, so a
frame of a thousand short calls wakes up to ``max_workers`` threads, which then spend more time
handing the GIL to each other than running callbacks. A :class:`WorkerPool` wakes a thread only
when no thread is *looking* for work, and starts a new one for a new job only when no thread is
running one either, so a burst of short calls is run back to back by one thread.
A slow callback must not hold up the calls queued behind it: a watch on the node's loop wakes one
more thread whenever jobs are waiting and no thread has taken one for :data:`STALL` seconds (up to
``max_workers`` running at once), unless the loop itself held the GIL for most of that time.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("mesh")

# How long queued jobs may wait with no thread taking one before another thread is woken for them.
STALL = 0.001

_QUEUED, _RUNNING, _DONE, _CANCELLED = range(4)

JobT = TypeVar("JobT", bound="Job")


class Job:
    """One call in a worker thread; a future's read side, and ``cancel`` while queued.

    Subclasses say what runs (:meth:`_call`) and what follows it in the same worker thread
    (:meth:`_then`), holding what both need in slots of their own: one object per queued job.
    """

    __slots__ = ("_error", "_pool", "_state", "_value")

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self._state = _QUEUED
        self._value: Any = None
        self._error: BaseException | None = None

    def cancel(self) -> bool:
        """Drop the job if it has not started (its ``_then`` still runs); False once it runs."""
        with self._pool._lock:
            if self._state != _QUEUED:
                return self._state == _CANCELLED
            self._state = _CANCELLED
        self._finished()
        return True

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def done(self) -> bool:
        return self._state in (_DONE, _CANCELLED)

    def exception(self) -> BaseException | None:
        """The exception the function raised; call only once done."""
        return self._error

    def result(self) -> Any:
        """The function's value (or its exception, raised); call only once done and not cancelled."""
        if self._error is not None:
            raise self._error
        return self._value

    def _call(self) -> Any:
        """The work itself, in a worker thread."""
        raise NotImplementedError

    def _then(self) -> None:
        """Runs once the job is done, in its worker; or in the cancelling thread if cancelled while queued."""

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:
            self._error = exc
        self._state = _DONE
        self._finished()

    def _finished(self) -> None:
        try:
            self._then()
        except Exception:
            logger.exception("mesh: handing on the outcome of %r failed", self)


class FunctionJob(Job):
    """``fn(*args)``, then ``on_done(*done_args, job)``."""

    __slots__ = ("args", "done_args", "fn", "on_done")

    def __init__(
        self,
        pool: WorkerPool,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        on_done: Callable[..., None] | None,
        done_args: tuple[Any, ...],
    ) -> None:
        Job.__init__(self, pool)
        self.fn = fn
        self.args = args
        self.on_done = on_done
        self.done_args = done_args

    def __repr__(self) -> str:
        return f"<job {self.fn!r}>"

    def _call(self) -> Any:
        return self.fn(*self.args)

    def _then(self) -> None:
        if self.on_done is not None:
            self.on_done(*self.done_args, self)


class WorkerPool(concurrent.futures.Executor):
    """Up to ``max_workers`` threads named ``<name>_N``, started as they are needed.

    Jobs are started from ``loop``'s thread (where the watch for stalled queues runs).
    """

    def __init__(self, max_workers: int, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._max_workers = max_workers
        self._name = name
        self._lock = threading.Lock()
        self._jobs: collections.deque[Job] = collections.deque()
        self._sleepers: list[threading.Lock] = []
        self._threads: list[threading.Thread] = []
        # Threads awake and not running a job: they take the next queued job without being woken.
        self._looking = 0
        # Jobs taken by threads so far, and the count the watch saw last; equal means no progress.
        self._taken = 0
        self._finished = 0
        self._taken_seen = 0
        # The loop thread's CPU time when the watch looked last (see _watch).
        self._loop_cpu_seen = 0.0
        self._watch_time = 0.0
        self._watching = False
        self._shutdown = False

    @property
    def threads(self) -> int:
        """Worker threads started and not ended (they stay, idle, until shutdown)."""
        return len(self._threads)

    @property
    def unfinished(self) -> int:
        """Jobs queued or running (a cancelled job counts until a thread drops it)."""
        return len(self._jobs) + self._taken - self._finished

    def start(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        on_done: Callable[..., None] | None = None,
        done_args: tuple[Any, ...] = (),
    ) -> FunctionJob:
        """Run ``fn(*args)`` in a worker; then ``on_done(*done_args, job)`` runs in that worker.

        Raises:
            RuntimeError: the pool is shut down.
        """
        return self.start_job(FunctionJob(self, fn, args, on_done, done_args))

    def start_job(self, job: JobT) -> JobT:
        """Queue ``job`` (made for this pool) to run in a worker.

        Raises:
            RuntimeError: the pool is shut down.
        """
        if self._shutdown:
            raise RuntimeError("cannot start a job after the worker pool was shut down")
        # No lock on this path: the loop thread must not wait for a worker that lost the GIL holding it.
        # A worker about to sleep counts itself out of ``_looking`` before it checks the queue again.
        self._jobs.append(job)
        if self._looking == 0:
            # A new thread only for an idle pool: a running job's thread looks again as soon as it ends,
            # and if the job is slow the watch starts one. Starting a thread here for each job queued
            # while a worker ran another cascaded: Thread.start() waits for the new thread, which can
            # take a job meanwhile, so the next job found nobody looking again, up to max_workers.
            self._wake_if_nobody_looks(start_thread=self._taken == self._finished)
        # A lone job with a thread looking for it is taken at once; only jobs queued behind another
        # (which may be slow), or with every thread busy, need the watch.
        if not self._watching and (len(self._jobs) > 1 or self._looking == 0):
            self._watching = True
            self._mark(self._taken, time.thread_time(), time.monotonic())
            self._loop.call_later(STALL, self._watch)
        return job

    def _wake_if_nobody_looks(self, start_thread: bool = True) -> None:
        with self._lock:
            if self._looking == 0:
                self._wake_one(start_thread)

    def _watch(self) -> None:
        """While jobs wait, wake one more thread each time none was taken for :data:`STALL` s."""
        if not self._jobs or self._shutdown:
            self._watching = False
            return
        loop_cpu, now = time.thread_time(), time.monotonic()
        # No job taken while the loop itself ran for most of the interval proves nothing: the workers
        # may only have waited for the GIL, and one more thread would only wait with them.
        loop_was_busy = loop_cpu - self._loop_cpu_seen >= (now - self._watch_time) / 2
        if self._taken == self._taken_seen and not loop_was_busy:
            self._wake_if_nobody_looks()
        self._mark(self._taken, loop_cpu, now)
        self._loop.call_later(STALL, self._watch)

    def _mark(self, taken: int, loop_cpu: float, now: float) -> None:
        """What the watch compares with next time: jobs taken, the loop thread's CPU time, the time."""
        self._taken_seen, self._loop_cpu_seen, self._watch_time = taken, loop_cpu, now

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        """``Executor.submit``, for ``loop.run_in_executor``."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)

        self.start(run, (), _cancel_if_dropped, (future,))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Let the threads end once the queue is empty; with ``cancel_futures`` drop what is queued."""
        with self._lock:
            self._shutdown = True
            dropped = list(self._jobs) if cancel_futures else []
            sleepers, self._sleepers = self._sleepers, []
            self._looking += len(sleepers)
            threads = list(self._threads)
        for job in dropped:
            job.cancel()
        for sleeper in sleepers:
            sleeper.release()
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _wake_one(self, start_thread: bool = True) -> None:
        """Make one more thread look for work: a sleeping one, else (with ``start_thread``) a new one.
        Called with the lock held."""
        if self._sleepers:
            self._looking += 1
            self._sleepers.pop().release()
        elif start_thread and len(self._threads) < self._max_workers:
            self._looking += 1
            thread = threading.Thread(target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        lock = self._lock
        jobs = self._jobs
        sleeper = threading.Lock()
        sleeper.acquire()
        # A job run is counted as finished in the same hold of the lock that takes the next one.
        ran = False
        while True:
            with lock:
                if ran:
                    self._looking += 1
                    self._finished += 1
                    ran = False
                job = jobs.popleft() if jobs else None
                if job is None:
                    self._looking -= 1
                    if self._shutdown:
                        self._threads.remove(threading.current_thread())
                        return
                    self._sleepers.append(sleeper)
                elif job._state == _QUEUED:
                    job._state = _RUNNING
                    self._looking -= 1
                    self._taken += 1
                else:
                    continue  # cancelled while queued
            if job is None:
                if jobs and self._unsleep(sleeper):
                    continue  # a job came as this thread stopped looking, and nobody was woken for it
                sleeper.acquire()  # released by _wake_one or shutdown, which count this thread as looking
                continue
            job._run()
            ran = True

    def _unsleep(self, sleeper: threading.Lock) -> bool:
        """Count a thread that was going to sleep as looking again, unless it was woken already."""
        with self._lock:
            if sleeper not in self._sleepers:
                return False
            self._sleepers.remove(sleeper)
            self._looking += 1
            return True


def _cancel_if_dropped(future: concurrent.futures.Future[Any], job: Job) -> None:
    if job.cancelled():
        future.cancel()
