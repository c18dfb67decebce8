"""``Jobs(g)``: the client of a jobs service. Each method returns the call, not yet made, so every modifier
applies: ``jobs.submit("resize", path) & FG``, ``jobs.result(job_id) & BG``, ``jobs.progress(...) & NO_RETURN``."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from mesh import Global, RemoteCall, UsageError

from ._options import check_submission, moment, seconds
from ._recurring import check_cron


class Jobs:
    """The jobs service offered under ``prefix`` (``mesh serve jobs`` offers ``jobs``) in ``g``'s mesh.

    A job is a call of a callback that some node of the mesh (a worker) offers, kept by the service
    until it has run: the service hands it to the least loaded worker that offers it, runs it again
    when that worker dies mid-run, retries it when it raises, and keeps its result.
    """

    def __init__(self, g: Global, prefix: str = "jobs") -> None:
        self._g = g
        self._remote: Any = functools.reduce(getattr, prefix.split("."), g.call)

    def submit(
        self, name: str, *args: Any, retries: int = 0, backoff: Any = 1.0, timeout: Any = None, eta: Any = None,
        key: str | None = None, **kwargs: Any,
    ) -> RemoteCall:  # fmt: skip
        """Submit a job: ``name(*args, **kwargs)`` run on a worker; the call's result is the job's id (a
        ``str``), given once the job is on the service's disk.

        Args:
            retries: runs again after the job raised or passed its timeout, ``backoff`` seconds after
                the first failure, twice that after the second, and so on. A worker lost mid-run uses
                no retry.
            timeout: seconds (or a ``timedelta``) one run may take; then it fails with ``CallTimeout``
                and the worker is asked to cancel it.
            eta: not before this: seconds or a ``timedelta`` from now, or a ``datetime``.
            key: an idempotency key: a second submission with the same key makes no job and returns
                the first one's id.

        An argument that is :data:`~mesh.services.jobs.JOB_ID` reaches the worker as the job's own id.

        Raises:
            UsageError: an option that cannot work, named (here, before anything is sent).
            UnknownCallback: (where the result is taken) no node offers ``name``; it lists what the
                workers offer.
        """
        check_submission(name, retries, backoff, timeout, key)
        at = None if eta is None else moment(eta)
        timeout = None if timeout is None else seconds("timeout", timeout)
        call: RemoteCall = self._remote.submit(
            name, args, kwargs, retries, seconds("backoff", backoff), timeout, at, key
        )
        return call

    def run(
        self, name: str, *args: Any, retries: int = 0, backoff: Any = 1.0, timeout: Any = None,
        key: str | None = None, **kwargs: Any,
    ) -> RemoteCall:  # fmt: skip
        """Submit a job and wait for it, in one call: ``jobs.run("resize", path) & FG`` is the job's value
        (its exception raised as its own type) once it has run, as ``result(submit(...))`` would be,
        with one round trip instead of two; the worker that runs it answers this call itself, a message
        before the service does. The job is durable and retried as any other; a timeout of
        the call (``FG(timeout=...)``) leaves it running, under its id in ``list()``. Unlike ``submit``,
        the answer waits for no commit: the job reaches the store moments after it arrives, and a
        service that dies before that fails the call (call again: at least once). The options are
        :meth:`submit`'s (``eta`` aside)."""
        check_submission(name, retries, backoff, timeout, key)
        timeout = None if timeout is None else seconds("timeout", timeout)
        call: RemoteCall = self._remote.run(name, args, kwargs, retries, seconds("backoff", backoff), timeout, key)
        return call

    def submit_many(
        self, name: str, arguments: Iterable[Iterable[Any]], *, retries: int = 0, backoff: Any = 1.0,
        timeout: Any = None, eta: Any = None,
    ) -> RemoteCall:  # fmt: skip
        """Submit one job of ``name(*args)`` for each ``args`` in ``arguments``, in one call and one commit;
        the call's result is their ids, in order. The options are :meth:`submit`'s, the same for every
        job (no idempotency key). Many small jobs go in faster this way than one call each.

        Raises:
            UsageError: an option that cannot work, or an item of ``arguments`` that is not iterable.
        """
        check_submission(name, retries, backoff, timeout, None)
        try:
            batch = [tuple(args) for args in arguments]
        except TypeError as exc:
            raise UsageError(f"submit_many takes an iterable of argument tuples, one for each job: {exc}") from None
        at = None if eta is None else moment(eta)
        timeout = None if timeout is None else seconds("timeout", timeout)
        call: RemoteCall = self._remote.submit_many(name, batch, retries, seconds("backoff", backoff), timeout, at)
        return call

    def status(self, job_id: str) -> RemoteCall:
        """The job's :class:`~mesh.services.jobs.JobStatus`; ``KeyError`` for an unknown id."""
        call: RemoteCall = self._remote.status(job_id)
        return call

    def result(self, job_id: str, timeout: Any = None) -> RemoteCall:
        """The job's value once it has run; the exception it failed with, raised as its own type;
        ``CallCancelled`` if it was cancelled; ``TimeoutError`` if it has not ended within ``timeout``."""
        call: RemoteCall = self._remote.result(job_id, None if timeout is None else seconds("timeout", timeout))
        return call

    def results(self, job_ids: Iterable[str], timeout: Any = None) -> RemoteCall:
        """The values of ``job_ids``, in order, once all have run, in one call; the first failure in that
        order raised as :meth:`result` raises it; ``TimeoutError`` if not all ended within ``timeout``."""
        call: RemoteCall = self._remote.results(list(job_ids), None if timeout is None else seconds("timeout", timeout))
        return call

    def cancel(self, job_id: str) -> RemoteCall:
        """Cancel the job (a running one's worker call is cancelled); the result is its status after."""
        call: RemoteCall = self._remote.cancel(job_id)
        return call

    def progress(self, job_id: str, value: Any) -> RemoteCall:
        """Report ``value`` (anything the mesh can send) as the progress of running job ``job_id``, from
        inside the job: ``Jobs(g).progress(job_id, 0.5) & NO_RETURN``; ``status`` shows it."""
        call: RemoteCall = self._remote.progress(job_id, value)
        return call

    def schedule(
        self, name: str, *args: Any, every: Any = None, cron: str | None = None, schedule_id: str | None = None,
        retries: int = 0, backoff: Any = 1.0, timeout: Any = None, **kwargs: Any,
    ) -> RemoteCall:  # fmt: skip
        """Submit a job of ``name(*args, **kwargs)`` every ``every`` seconds (first now), or at each time of
        the cron expression ``cron`` (UTC; five fields, or six with seconds last; needs
        ``grpcmesh[cron]``), until :meth:`unschedule`. The result is the schedule's id; ``schedule_id``
        names it (again: replaced). The options are ``submit``'s."""
        check_submission(name, retries, backoff, timeout, None)
        if (every is None) == (cron is None):
            raise UsageError("a schedule takes one of every= (seconds) or cron= (an expression)")
        if cron is not None:
            check_cron(cron)
        options = {
            "retries": retries,
            "backoff": seconds("backoff", backoff),
            "timeout": None if timeout is None else seconds("timeout", timeout),
        }
        every = None if every is None else seconds("every", every, allow_zero=False)
        call: RemoteCall = self._remote.schedule(name, args, kwargs, options, every, cron, schedule_id)
        return call

    def unschedule(self, schedule_id: str) -> RemoteCall:
        """End the schedule; the jobs it submitted stay."""
        call: RemoteCall = self._remote.unschedule(schedule_id)
        return call

    def schedules(self) -> RemoteCall:
        """``{schedule id: {"name", "every", "cron", "next_at"}}``."""
        call: RemoteCall = self._remote.schedules()
        return call

    def statistics(self) -> RemoteCall:
        """``{"jobs": {state: count}, "workers": {node: jobs running}}``."""
        call: RemoteCall = self._remote.statistics()
        return call

    def list(self, state: str | None = None, name: str | None = None, limit: int | None = None) -> RemoteCall:
        """The :class:`~mesh.services.jobs.JobStatus` of the jobs in ``state`` of callback ``name`` (None:
        any), in the order of submission, at most ``limit``; ``list(state="failed")`` gives the dead letters."""
        call: RemoteCall = self._remote.list(state, name, limit)
        return call
