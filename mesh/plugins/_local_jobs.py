"""The states and results of the jobs this process runs itself (the ``in_memory`` and ``fastapi`` plugins)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Job:
    state: str = "queued"
    value: Any = None
    error: BaseException | None = None
    ended: threading.Event = field(default_factory=threading.Event)


class LocalJobs:
    """Every job of this process, by id, kept for as long as the process runs (memory grows with them)."""

    def __init__(self) -> None:
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    def add(self) -> str:
        """A new job's id, its state ``queued``."""
        job_id = str(uuid.uuid4())
        with self._lock:
            self._jobs[job_id] = _Job()
        return job_id

    def run(self, job_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run the job, keeping its value or its exception (not raised again: ``result`` raises it)."""
        job = self._job(job_id)
        job.state = "running"
        try:
            job.value = fn(*args, **kwargs)
            job.state = "done"
        except BaseException as error:
            job.error = error
            job.state = "failed"
        finally:
            job.ended.set()

    def status(self, job_id: str) -> str:
        """``queued``, ``running``, ``done`` or ``failed``; ``KeyError`` for an unknown id."""
        return self._job(job_id).state

    def result(self, job_id: str, timeout: float | None = None) -> Any:
        """The value, once the job ends; its exception, raised; ``TimeoutError`` after ``timeout`` seconds."""
        job = self._job(job_id)
        if not job.ended.wait(timeout):
            raise TimeoutError(f"job {job_id} has not ended within {timeout} s")
        if job.error is not None:
            raise job.error
        return job.value

    def _job(self, job_id: str) -> _Job:
        with self._lock:
            found = self._jobs.get(job_id)
        if found is None:
            raise KeyError(job_id)
        return found


JOBS = LocalJobs()
