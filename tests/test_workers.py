"""The worker pool that runs sync callbacks: few wake-ups for bursts, no call stuck behind a slow one."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable

import pytest

from mesh.node._workers import _QUEUED, FunctionJob, Job, WorkerPool

pytestmark = pytest.mark.timeout(30)


async def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def _pool(max_workers: int) -> AsyncIterator[tuple[WorkerPool, list[Job], threading.Event]]:
    """A pool on the running loop, the jobs it has finished, and an event that blocking jobs wait on."""
    workers = WorkerPool(max_workers, "mesh-test-pool", asyncio.get_running_loop())
    release = threading.Event()
    try:
        yield workers, [], release
    finally:
        release.set()
        workers.shutdown(wait=True)


def test_a_burst_of_short_jobs_is_run_by_few_threads() -> None:
    async def main() -> int:
        async with _pool(32) as (workers, done, _):
            for i in range(2000):
                workers.start(pow, (i, 2), done.append)
            await _wait_for(lambda: len(done) == 2000, 10)
            assert sorted(job.result() for job in done) == [i * i for i in range(2000)]
            return workers.threads

    # A thread pool that wakes a thread per job would start all 32.
    assert asyncio.run(main()) <= 4


def _spin(seconds: float) -> None:
    """Hold this thread (and the GIL) busy for ``seconds``."""
    deadline = time.thread_time() + seconds
    while time.thread_time() < deadline:
        pass


def test_the_watch_wakes_no_thread_for_an_interval_the_loop_spent_running() -> None:
    async def main() -> tuple[int, int]:
        async with _pool(4) as (workers, done, _):
            # A job queued with no thread for it and no progress since: what the watch looks for.
            workers._jobs.append(FunctionJob(workers, pow, (2, 2), done.append, ()))
            workers._watching = True
            workers._mark(workers._taken, time.thread_time(), time.monotonic())
            _spin(0.01)  # the loop busy: workers could not have taken a job, stalled or not
            workers._watch()
            after_busy = workers.threads
            workers._mark(workers._taken, time.thread_time(), time.monotonic())
            await asyncio.sleep(0.01)  # the loop idle: a queue that did not move is stalled
            workers._watch()
            after_idle = workers.threads
            await _wait_for(lambda: len(done) == 1, 5)
            return after_busy, after_idle

    assert asyncio.run(main()) == (0, 1)


def test_a_slow_job_does_not_hold_up_the_jobs_queued_behind_it() -> None:
    async def main() -> None:
        async with _pool(4) as (workers, done, release):
            slow = workers.start(release.wait, (10,), done.append)
            fast = [workers.start(pow, (i, 2), done.append) for i in range(3)]
            await _wait_for(lambda: all(job.done() for job in fast), 2)
            assert not slow.done()

    asyncio.run(main())


def test_a_job_queued_while_every_thread_runs_one_starts_no_thread_until_the_watch_does() -> None:
    """Starting a thread for each job queued while a worker ran another started up to max_workers
    threads in one flood of short calls. The watch still rescues a job queued behind a slow one, and
    a sleeping thread is still woken for a new job at once."""

    async def main() -> tuple[int, int, float, int]:
        async with _pool(4) as (workers, done, release):
            running = workers.start(release.wait, (10,), done.append)
            await _wait_for(lambda: running._state != _QUEUED, 2)
            queued_at = time.monotonic()
            short = workers.start(pow, (2, 2), done.append)
            threads_at_once = workers.threads
            await _wait_for(short.done, 2)
            waited = time.monotonic() - queued_at
            await _wait_for(lambda: len(workers._sleepers) == 1, 2)
            workers.start(pow, (3, 2), done.append)
            sleepers_after_next_job = len(workers._sleepers)
            await _wait_for(lambda: len(done) == 2, 2)
            return threads_at_once, workers.threads, waited, sleepers_after_next_job

    threads_at_once, threads_after, waited, sleepers = asyncio.run(main())
    assert threads_at_once == 1, "a thread was started for a job while the only thread ran another"
    assert threads_after == 2, "the watch did not start a thread for the job stuck behind a slow one"
    assert waited < 1.0
    assert sleepers == 0, "the sleeping thread was not woken at once for the next job"


def test_no_more_threads_than_max_workers_and_every_job_runs() -> None:
    async def main() -> int:
        async with _pool(2) as (workers, done, _):
            for _ in range(6):
                workers.start(time.sleep, (0.05,), done.append)
            await _wait_for(lambda: len(done) == 6, 5)
            return workers.threads

    assert asyncio.run(main()) == 2


def test_a_queued_job_can_be_cancelled_and_still_reports_done() -> None:
    async def main() -> None:
        async with _pool(1) as (workers, done, release):
            ran: list[int] = []
            running = workers.start(release.wait, (10,), done.append)
            await _wait_for(lambda: running._state != _QUEUED, 2)
            queued = workers.start(ran.append, (1,), done.append)
            assert queued.cancel()
            assert queued.cancelled() and queued.done()
            assert not running.cancel(), "a running job cannot be cancelled"
            release.set()
            await _wait_for(lambda: len(done) == 2, 2)
            assert ran == [], "a cancelled job must not run"

    asyncio.run(main())


def test_an_exception_is_kept_for_the_job() -> None:
    async def main() -> None:
        async with _pool(1) as (workers, done, _):
            workers.start(int, ("not a number",), done.append)
            await _wait_for(lambda: len(done) == 1, 2)
            assert isinstance(done[0].exception(), ValueError)
            with pytest.raises(ValueError, match="not a number"):
                done[0].result()

    asyncio.run(main())


def test_run_in_executor_works_and_shutdown_ends_every_thread() -> None:
    async def main() -> WorkerPool:
        loop = asyncio.get_running_loop()
        async with _pool(3) as (workers, _, _):
            values = await asyncio.gather(*(loop.run_in_executor(workers, pow, i, 3) for i in range(20)))
            assert values == [i**3 for i in range(20)]
            with pytest.raises(ZeroDivisionError):
                await loop.run_in_executor(workers, divmod, 1, 0)
        with pytest.raises(RuntimeError, match="shut down"):
            workers.start(pow, (1, 1))
        return workers

    workers = asyncio.run(main())
    assert workers.threads == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("mesh-test-pool")]


def test_a_lone_job_for_a_looking_thread_sets_no_timer() -> None:
    """Sequential calls (one job at a time) must not pay for a loop timer each."""

    async def main() -> None:
        async with _pool(4) as (workers, done, _):
            workers.start(pow, (2, 2), done.append)
            # The first job's thread has gone back to sleep; the next job wakes it.
            await _wait_for(lambda: len(done) == 1 and len(workers._sleepers) == 1, 2)
            workers.start(pow, (3, 2), done.append)
            assert not workers._watching
            await _wait_for(lambda: len(done) == 2, 2)

    asyncio.run(main())
