"""The jobs service's runner: the queue of each callback, the jobs waiting for their time, and the loop
that hands each job to a worker over an ordinary mesh call (``FG(receiver=worker)``).

A run ends one of four ways:

- the worker returns: the job is done;
- the job raises (or passes its timeout, or its result cannot be sent): with retries left it waits
  ``backoff * 2 ** (attempts - 1)`` seconds and goes back in the queue, else it failed (a dead letter);
- the worker is lost (it died or left mid-run): the job goes back in the queue at once, the attempt
  counted but no retry used, up to :data:`LOST_LIMIT` lost workers;
- the job is cancelled, or this node stops: it is left as it is (a stopped service runs it again on
  its next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from mesh import FG, CallCancelled, Global, NodeStopped, PeerUnavailable, UnknownCallback

from ._model import CANCELLED, DONE, FAILED, FINAL, JOB_ID, QUEUED, RUNNING, Job, describe, dumps
from ._recurring import Schedule
from ._store import JobStore
from ._workers import Workers

LOST_LIMIT = 5
"""Workers a job may lose mid-run before it fails with the last loss (a job that kills its workers)."""

SubmitScheduled = Callable[[Schedule, float], "Job | None"]


class Runner:
    """Runs the jobs of ``jobs`` (the service's table, shared) on the ``workers`` of ``g``'s mesh."""

    def __init__(
        self, g: Global, store: JobStore, workers: Workers, jobs: dict[str, Job], submit_scheduled: SubmitScheduled
    ) -> None:
        self._g = g
        self._store = store
        self._workers = workers
        self._jobs = jobs
        self._submit_scheduled = submit_scheduled
        self.schedules: dict[str, Schedule] = {}
        self._ready: dict[str, deque[Job]] = {}
        self._later: list[tuple[float, int, Job]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._callables: dict[str, Any] = {}  # g.call's callable of each job name, made once
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._dispatch_forever())
        g.on_node_join(self._membership_changed)
        g.on_node_leave(self._membership_changed)

    def enqueue(self, job: Job) -> None:
        """Queue ``job`` to run at its ``not_before`` time."""
        job.state = QUEUED
        if job.not_before > time.time():
            heapq.heappush(self._later, (job.not_before, job.seq, job))
        else:
            self._ready.setdefault(job.name, deque()).append(job)
        self._wake.set()

    def submit(self, job: Job) -> None:
        """Keep a new ``job`` in the store, and start it at once on a free worker when it is due and none
        of its callback waits, else queue it (:meth:`enqueue`): a lone job goes out without a turn of the
        dispatcher, and its row is made once, running."""
        if job.not_before <= time.time() and job.name not in self._ready:
            worker = self._workers.choose(job.name)
            if worker is not None:
                self._start(job, worker)
                return
        self.enqueue(job)
        self._store.put(job)

    def wake(self) -> None:
        self._wake.set()

    def cancel(self, job: Job) -> None:
        job.state = CANCELLED
        job.finished = time.time()
        task = self._running.get(job.id)
        if task is not None:
            task.cancel()
        self._ended(job)

    async def _membership_changed(self, name: str) -> None:
        self._workers.next_refresh = 0.0
        self._wake.set()

    async def _dispatch_forever(self) -> None:
        with contextlib.suppress(NodeStopped):  # the node stops: the store keeps what was left
            while True:
                self._wake.clear()
                self._dispatch_due()
                await self._sleep()

    def _dispatch_due(self) -> None:
        now = time.time()
        if time.monotonic() >= self._workers.next_refresh:
            self._workers.refresh()
        self._submit_due(now)
        while self._later and self._later[0][0] <= now:
            job = heapq.heappop(self._later)[2]
            if job.state == QUEUED:
                self._ready.setdefault(job.name, deque()).append(job)
        self._hand_out()

    async def _sleep(self) -> None:
        """Until something changes (a job queued or ended, a member came or went), or the next due time."""
        now = time.time()
        wait = self._workers.next_refresh - time.monotonic()
        if self._later:
            wait = min(wait, self._later[0][0] - now)
        for recurring in self.schedules.values():
            wait = min(wait, recurring.next_at - now)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(wait, 0.001))

    def _submit_due(self, now: float) -> None:
        for recurring in list(self.schedules.values()):
            if recurring.next_at <= now:
                job = self._submit_scheduled(recurring, recurring.next_at)
                recurring.next_at = recurring.following(now)
                self._store.put_schedule(recurring.id, dumps(recurring))
                if job is not None:
                    self.submit(job)

    def _hand_out(self) -> None:
        for name in list(self._ready):
            queue = self._ready[name]
            while queue:
                if queue[0].state != QUEUED:
                    queue.popleft()
                    continue
                worker = self._workers.choose(name)
                if worker is None:
                    break
                self._start(queue.popleft(), worker)
            if not queue:
                del self._ready[name]

    def _start(self, job: Job, worker: str) -> None:
        job.state = RUNNING
        job.attempts += 1
        job.worker = worker
        job.started = time.time()
        job.progress = None
        self._store.put(job)
        self._running[job.id] = asyncio.get_running_loop().create_task(self._run(job, worker))

    async def _run(self, job: Job, worker: str) -> None:
        args = tuple(job.id if a is JOB_ID else a for a in job.args)
        kwargs = {k: job.id if v is JOB_ID else v for k, v in job.kwargs.items()}
        remote: Any = self._callables.get(job.name)
        if remote is None:
            remote = self._callables[job.name] = functools.reduce(getattr, job.name.split("."), self._g.call)
        try:
            # A run call's caller gets the value from the worker, one message before the service's answer.
            value = await (remote(*args, **kwargs) & FG(timeout=job.timeout, receiver=worker, answer=job.answer))
        except asyncio.CancelledError:
            if job.state != CANCELLED:
                raise  # this node stops: the store keeps the job running, and the next start runs it again
        except (NodeStopped, CallCancelled) as exc:
            if job.state != CANCELLED:
                self._lost(job, worker, exc)  # the worker stopped with the job on it
        except UnknownCallback:
            job.attempts -= 1  # the worker withdrew the callback, or left, before the job reached it
            self._workers.forget(worker)
            self.enqueue(job)
        except PeerUnavailable as exc:
            if exc.peer != worker:
                self._failed_run(job, exc)
            else:
                self._lost(job, worker, exc)
        except Exception as exc:
            self._failed_run(job, exc)
        else:
            job.state = DONE
            job.outcome = value
            job.finished = time.time()
            self._ended(job)
        finally:
            self._running.pop(job.id, None)
            self._workers.release(worker)
            if self._ready:  # jobs wait for a worker: this one is free again
                self._wake.set()
            if job.state not in FINAL:  # a final state was put when the job ended
                self._store.put(job)

    def _lost(self, job: Job, worker: str, exc: Exception) -> None:
        self._workers.forget(worker)
        job.lost += 1
        job.error = describe(exc)
        if job.lost >= LOST_LIMIT:
            self._fail(job, exc)
        else:
            job.not_before = time.time()
            self.enqueue(job)

    def _failed_run(self, job: Job, exc: Exception) -> None:
        job.error = describe(exc)
        if job.attempts - job.lost <= job.retries:
            job.not_before = time.time() + job.backoff * 2 ** (job.attempts - job.lost - 1)
            self.enqueue(job)
        else:
            self._fail(job, exc)

    def _fail(self, job: Job, exc: Exception) -> None:
        job.state = FAILED
        job.outcome = exc
        job.finished = time.time()
        self._ended(job)

    def _ended(self, job: Job) -> None:
        """Wake the ``result`` calls waiting for ``job``; its arguments are no longer needed."""
        job.args, job.kwargs = (), {}
        for waiter in job.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._store.put(job)
