"""The job plugins: ``in_memory`` (threads of this process), ``fastapi`` (a request's ``BackgroundTasks``)
and ``mesh`` (the mesh's jobs service, run by a worker node of ``serve_tasks``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mesh import FG, Global, UnknownCallback
from mesh.services import Jobs

from ._interfaces import JobInterface
from ._local_jobs import JOBS
from ._node import RUNNER, node_of
from ._registry import register_plugin

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(thread_name_prefix="plugins-job")
        return _pool


class _LocalStates(JobInterface):
    """States and results from this process's table of jobs."""

    def status(self, job_id: str) -> str:
        """``queued``, ``running``, ``done`` or ``failed``; ``KeyError`` for an id this process did not make."""
        return JOBS.status(job_id)

    def result(self, job_id: str, timeout: float | None = None) -> Any:
        """The job's value, waiting up to ``timeout`` seconds; its exception, raised."""
        return JOBS.result(job_id, timeout)


@register_plugin(JobInterface, name="in_memory")
class InMemoryJobs(_LocalStates):
    """Runs jobs in a pool of threads of this process (shared by every instance); lost with the process."""

    def schedule(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        """Start ``fn(*args, **kwargs)`` on the pool; return its id."""
        job_id = JOBS.add()
        _shared_pool().submit(JOBS.run, job_id, fn, *args, **kwargs)
        return job_id


@register_plugin(JobInterface, name="fastapi")
class FastAPIJobs(_LocalStates):
    """Runs jobs as FastAPI runs a response's background tasks: after the response is sent, in the
    server's process (``pip install 'grpcmesh[fastapi]'``)."""

    def __init__(self, background_tasks: Any) -> None:
        self.background_tasks = background_tasks

    def schedule(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        """Add ``fn(*args, **kwargs)`` to the request's ``BackgroundTasks``; return its id."""
        job_id = JOBS.add()
        self.background_tasks.add_task(JOBS.run, job_id, fn, *args, **kwargs)
        return job_id


@register_plugin(JobInterface, name="mesh")
class MeshJobs(JobInterface):
    """The mesh's jobs service under ``prefix``: durable, retried ``retries`` times, run by worker nodes.

    ``schedule(fn, ...)`` with a ``str`` submits a job of that callback; with a callable (a task's
    ``next_fn``, a function), submits it to the workers that ran ``serve_tasks``: the callable and its
    arguments must pickle (dill takes closures; a module-level function is sent by name, so its module
    must import on the worker).
    """

    def __init__(
        self, g: Global | None = None, prefix: str = "jobs", retries: int = 0, timeout: float | None = None
    ) -> None:
        self.jobs = Jobs(node_of("mesh job", g), prefix=prefix)
        self.retries = retries
        self.timeout = timeout

    def schedule(self, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> str:
        """Submit the job, once the service has committed it; return its id."""
        options: dict[str, Any] = {"retries": self.retries, "timeout": self.timeout}
        if isinstance(fn, str):
            job_id = self.jobs.submit(fn, *args, **options, **kwargs) & FG
            return str(job_id)
        try:
            job_id = self.jobs.submit(RUNNER, fn, args, kwargs, **options) & FG
        except UnknownCallback as error:
            if error.name != RUNNER:
                raise
            raise UnknownCallback(RUNNER, "no worker node ran mesh.plugins.serve_tasks(g) to run tasks") from error
        return str(job_id)

    def status(self, job_id: str) -> str:
        """The state the jobs service holds; ``KeyError`` for an unknown id."""
        return str((self.jobs.status(job_id) & FG).state)

    def result(self, job_id: str, timeout: float | None = None) -> Any:
        """The job's value from the jobs service, waiting up to ``timeout`` seconds; its exception, raised."""
        return self.jobs.result(job_id, timeout) & FG
