"""The jobs service's callbacks (:class:`JobsService`), and :func:`serve_jobs`, which offers them from one
node under a dotted prefix (``jobs.submit``, ``jobs.status``, ...).

Everything runs on the hosting node's event loop (the callbacks are async), so the table of jobs
needs no lock; only the store's writer runs in a thread of its own. A job is kept in the store before
``submit`` returns (``run`` waits for no commit: it answers with the job's end), and its state after
each change; on start the service takes the stored jobs back, and puts those that were running in the
queue again (at-least-once).
"""

from __future__ import annotations

import asyncio
import builtins
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from mesh import CallCancelled, Caller, Global, UnknownCallback, UsageError, current_caller

from ._model import CANCELLED, DONE, FINAL, QUEUED, RUNNING, STATES, Job, JobStatus, dumps, loads
from ._options import check_submission, seconds
from ._recurring import Schedule, check_cron
from ._runner import Runner
from ._store import JobStore
from ._workers import Workers

CONCURRENCY = 16
"""Jobs of this service that one worker runs at once, by default."""

OFFER_GRACE = 1.0
"""Seconds ``submit`` waits for a node offering the job's callback (one that has just joined or registered
it reaches the service's view within a second) before it raises ``UnknownCallback``."""


def serve_jobs(g: Global, store: JobStore, prefix: str = "jobs", concurrency: int = CONCURRENCY) -> list[str]:
    """Offer a jobs service kept in ``store`` from ``g``'s node only, as ``<prefix>.submit`` and the rest,
    and start dispatching the jobs it holds. Call it from sync code (not on the node's loop).

    Returns the names offered.

    Raises:
        UsageError: called on a running event loop (it waits for the node): in async code, run it in a
            thread, ``await asyncio.to_thread(serve_jobs, g, store)``; or a ``concurrency`` under 1.
    """
    if _on_a_loop():
        raise UsageError(
            "serve_jobs waits for the node to start the service and cannot run on an event loop; "
            "in async code call it in a thread: await asyncio.to_thread(serve_jobs, g, store)"
        )
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise UsageError(f"concurrency must be an int of 1 or more, not {concurrency!r}")
    service = JobsService(g, store, prefix, concurrency)
    names = g.register(service, prefix=prefix)
    g.add_gauges(service._gauges)
    g.wait_function(f"{prefix}.statistics", timeout=10)
    # The first call starts the dispatcher on the node's loop, where every callback runs.
    remote: Any = g.call
    for part in prefix.split("."):
        remote = getattr(remote, part)
    remote.statistics().fg(receiver=g.process_name)
    return names


def _on_a_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class JobsService:
    """The callbacks of a jobs service over ``store``; :class:`~mesh.services.Jobs` calls them."""

    def __init__(self, g: Global, store: JobStore, prefix: str, concurrency: int) -> None:
        self._g = g
        self._store = store
        self._jobs: dict[str, Job] = {}
        self._keys: dict[str, str] = {}
        self._schedules: dict[str, Schedule] = {}
        self._seq = itertools.count(1)
        # A job's id is its sequence number then this nonce: 32 hex digits, unique across services and
        # restarts, and in submission order, so that the job table's index grows at its end.
        self._nonce = uuid.uuid4().hex[:16]
        self._workers = Workers(g, concurrency, prefix)
        self._runner: Runner | None = None
        self._prefix = prefix

    # ------------------------------------------------------------------ the callbacks

    async def submit(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], retries: int = 0, backoff: float = 1.0,
        timeout: float | None = None, at: float | None = None, key: str | None = None,
    ) -> str:  # fmt: skip
        """Keep a job of callback ``name`` and return its id once it is on disk; a ``key`` already
        submitted returns the id of that job instead."""
        job_id = await self._keep(name, args, kwargs, retries, backoff, timeout, at, key)
        # The job may start while its record is being written: the worker's round trip overlaps the
        # fsync. A failed write raises to the caller, yet the job is kept and may run (at-least-once).
        await self._store.committed()
        return job_id

    async def run(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], retries: int = 0, backoff: float = 1.0,
        timeout: float | None = None, key: str | None = None,
    ) -> Any:  # fmt: skip
        """:meth:`submit` then :meth:`result` in one call: the job is kept on disk, run (and retried) as any
        other, and its value returned; the caller's cancelling leaves the job running.

        Unlike ``submit`` it waits for no commit: its answer is the job's end, and until then the caller
        holds no promise that a commit would keep (a service that dies first fails the call either way).
        """
        caller = current_caller()
        job_id = await self._keep(name, args, kwargs, retries, backoff, timeout, None, key, caller)
        try:
            return await self.result(job_id)
        finally:
            job = self._jobs[job_id]
            if job.answer is caller:  # not another run's, of the same key
                job.answer = None

    async def _keep(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], retries: int, backoff: float,
        timeout: float | None, at: float | None, key: str | None, answer: Caller | None = None,
    ) -> str:  # fmt: skip
        """The id of a new job of ``name``, queued for its commit and handed to a free worker at once if
        there is one; of the job submitted before with ``key`` if there is one. A new job's worker sends
        its value to ``answer`` too, the caller of the ``run`` call that waits for it."""
        runner = self._running()
        check_submission(name, retries, backoff, timeout, key)
        if key not in self._keys:
            await self._check_offered(name)
        if key is not None and key in self._keys:  # submitted before, or while this call waited for a worker
            return self._keys[key]
        payload = dumps((args, kwargs))  # what cannot be kept is refused here, not when the job runs
        job = self._new_job(name, args, kwargs, retries, backoff, timeout, at, key, payload=payload)
        job.answer = answer
        runner.submit(job)
        return job.id

    async def submit_many(
        self, name: str, arguments: builtins.list[tuple[Any, ...]], retries: int = 0, backoff: float = 1.0,
        timeout: float | None = None, at: float | None = None,
    ) -> builtins.list[str]:  # fmt: skip
        """Keep one job of callback ``name`` for each tuple of positional ``arguments`` and return their
        ids, in order, once all are on disk (in one commit). Nothing is kept if one cannot be."""
        runner = self._running()
        check_submission(name, retries, backoff, timeout, None)
        if not isinstance(arguments, builtins.list) or not all(isinstance(a, tuple) for a in arguments):
            raise UsageError("submit_many takes a list of argument tuples, one for each job")
        await self._check_offered(name)
        payloads = [dumps((args, {})) for args in arguments]
        jobs = [
            self._new_job(name, args, {}, retries, backoff, timeout, at, None, payload=payload)
            for args, payload in zip(arguments, payloads, strict=True)
        ]
        for job in jobs:
            runner.submit(job)
        await self._store.committed()
        return [job.id for job in jobs]

    async def status(self, job_id: str) -> JobStatus:
        """Where the job stands: its state, attempts, last error and progress."""
        self._running()
        return self._job(job_id).status()

    async def result(self, job_id: str, timeout: float | None = None) -> Any:
        """The job's value once it is done; the exception it failed with, raised; ``CallCancelled`` if it
        was cancelled; ``TimeoutError`` if it has not ended within ``timeout`` seconds."""
        self._running()
        job = self._job(job_id)
        if timeout is not None:
            timeout = seconds("timeout", timeout)
        if job.state not in FINAL:
            # The waiter is this call's own: cancelling the call may cancel it too (no shield).
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            job.waiters.append(waiter)
            try:
                await (waiter if timeout is None else asyncio.wait_for(waiter, timeout))
            except asyncio.TimeoutError:
                raise TimeoutError(f"job {job_id} is still {job.state} after {timeout} s") from None
            finally:
                if waiter in job.waiters:
                    job.waiters.remove(waiter)
        if job.state == CANCELLED:
            raise CallCancelled(f"job {job_id} ({job.name}) was cancelled")
        if job.state != DONE:
            raise job.outcome
        return job.outcome

    async def results(self, job_ids: builtins.list[str], timeout: float | None = None) -> builtins.list[Any]:
        """The values of the jobs ``job_ids``, in order, once all are done; the first failure, in that
        order, raised as :meth:`result` raises it; ``TimeoutError`` if they have not all ended within
        ``timeout`` seconds."""
        self._running()
        if not isinstance(job_ids, builtins.list):
            raise UsageError(f"results takes a list of job ids, not {type(job_ids).__name__}")
        for job_id in job_ids:
            self._job(job_id)
        deadline = None if timeout is None else time.monotonic() + seconds("timeout", timeout)
        values = []
        for job_id in job_ids:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            values.append(await self.result(job_id, left))
        return values

    async def cancel(self, job_id: str) -> JobStatus:
        """Cancel the job: a queued one will not run, a running one is asked to stop (the worker's call is
        cancelled). A job that has ended is left as it is. Returns its status."""
        runner = self._running()
        job = self._job(job_id)
        if job.state not in FINAL:
            runner.cancel(job)
            await self._store.committed()
        return job.status()

    async def progress(self, job_id: str, value: Any) -> None:
        """Record ``value`` as the progress of the running job ``job_id``, for ``status`` to show."""
        self._running()
        job = self._job(job_id)
        if job.state == RUNNING:
            job.progress = value
            self._store.put(job)

    async def schedule(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any],
        every: float | None = None, cron: str | None = None, schedule_id: str | None = None,
    ) -> str:  # fmt: skip
        """Submit a job of ``name`` every ``every`` seconds, or at the times of ``cron`` (UTC), from now on;
        returns the schedule's id (``schedule_id`` replaces that schedule)."""
        runner = self._running()
        check_submission(name, options.get("retries", 0), options.get("backoff", 1.0), options.get("timeout"), None)
        if (every is None) == (cron is None):
            raise UsageError("a schedule takes one of every= (seconds) or cron= (an expression)")
        if every is not None:
            every = seconds("every", every, allow_zero=False)
        else:
            check_cron(str(cron))
        recurring = Schedule(schedule_id or uuid.uuid4().hex, name, args, kwargs, options, every, cron, time.time())
        recurring.next_at = recurring.following(recurring.next_at) if cron is not None else recurring.next_at
        self._schedules[recurring.id] = recurring
        self._store.put_schedule(recurring.id, dumps(recurring))
        await self._store.committed()
        runner.wake()
        return recurring.id

    async def unschedule(self, schedule_id: str) -> None:
        """End a schedule (the jobs it submitted stay); ``KeyError`` when there is none of that id."""
        self._running()
        if self._schedules.pop(schedule_id, None) is None:
            raise KeyError(f"no schedule {schedule_id!r}")
        self._store.put_schedule(schedule_id, None)
        await self._store.committed()

    async def schedules(self) -> dict[str, dict[str, Any]]:
        """Every schedule by id: its callback, ``every`` or ``cron``, and its next time."""
        self._running()
        return {
            s.id: {"name": s.name, "every": s.every, "cron": s.cron, "next_at": s.next_at}
            for s in self._schedules.values()
        }

    async def statistics(self) -> dict[str, Any]:
        """Counts of jobs by state, and the jobs each worker runs now."""
        self._running()
        states = Counter(job.state for job in self._jobs.values())
        return {"jobs": {state: states[state] for state in STATES}, "workers": dict(self._workers.running)}

    async def list(
        self, state: str | None = None, name: str | None = None, limit: int | None = None
    ) -> builtins.list[JobStatus]:
        """The jobs in ``state`` (one of the states, or None for all) of callback ``name`` (None: all), in
        the order of submission; the first ``limit`` of them."""
        self._running()
        if state is not None and state not in STATES:
            raise UsageError(f"state must be one of {', '.join(STATES)}, not {state!r}")
        found: builtins.list[JobStatus] = []
        for job in self._jobs.values():
            if (state is None or job.state == state) and (name is None or job.name == name):
                found.append(job.status())
                if limit is not None and len(found) >= limit:
                    break
        return found

    # ------------------------------------------------------------------ inside

    def _gauges(self) -> Sequence[tuple[str, dict[str, str], float]]:
        """The jobs by state, as gauges of the node's statistics (``Global.add_gauges``). On the loop."""
        states = Counter(job.state for job in self._jobs.values())
        return [("mesh_jobs", {"service": self._prefix, "state": state}, float(states[state])) for state in STATES]

    def _running(self) -> Runner:
        """The runner, started with the jobs and schedules of the store the first time a callback runs."""
        if self._runner is None:
            self._runner = Runner(self._g, self._store, self._workers, self._jobs, self._submit_scheduled)
            self._store.start()
            self._load()
        return self._runner

    def _load(self) -> None:
        assert self._runner is not None
        for job in self._store.jobs():
            self._jobs[job.id] = job
            self._seq = itertools.count(job.seq + 1)
            if job.key is not None:
                self._keys[job.key] = job.id
            if job.state not in FINAL:
                job.state = QUEUED
                self._runner.enqueue(job)
        for schedule_id, spec in self._store.schedules():
            self._schedules[schedule_id] = loads(spec)
        self._runner.schedules = self._schedules

    async def _check_offered(self, name: str) -> None:
        if not self._workers.offer(name) and not await self._offered(name):
            offered = self._workers.offered()
            raise UnknownCallback(name, "the workers offer: " + (", ".join(offered) or "nothing yet"), offered)

    async def _offered(self, name: str) -> bool:
        """Whether a node offers ``name``, waiting up to :data:`OFFER_GRACE` for one that just joined."""
        deadline = time.monotonic() + OFFER_GRACE
        while not self._workers.offer(name):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
            self._workers.refresh()
        return True

    def _job(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except (KeyError, TypeError):
            raise KeyError(f"no job {job_id!r} in this jobs service") from None

    def _new_job(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], retries: int, backoff: float,
        timeout: float | None, at: float | None, key: str | None, schedule: str | None = None,
        payload: bytes | None = None,
    ) -> Job:  # fmt: skip
        """A new job in the table; :meth:`Runner.submit` keeps it in the store and starts or queues it."""
        now = time.time()
        seq = next(self._seq)
        job = Job(
            f"{seq:016x}{self._nonce}", seq, name, tuple(args), dict(kwargs), retries, seconds("backoff", backoff),
            None if timeout is None else seconds("timeout", timeout), now if at is None else at, key, now,
            schedule=schedule, payload=payload,
        )  # fmt: skip
        self._jobs[job.id] = job
        if key is not None:
            self._keys[key] = job.id
        return job

    def _submit_scheduled(self, recurring: Schedule, due: float) -> Job | None:
        """The job of ``recurring``'s time ``due``, once: the same time after a restart makes no second job."""
        key = f"schedule:{recurring.id}:{due!r}"
        if key in self._keys:
            return None
        options = recurring.options
        return self._new_job(
            recurring.name, recurring.args, recurring.kwargs, options.get("retries", 0), options.get("backoff", 1.0),
            options.get("timeout"), due, key, recurring.id,
        )  # fmt: skip
