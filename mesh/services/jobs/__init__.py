"""The jobs service: calls of callbacks kept until they have run, on the least loaded worker that
offers them, retried, and at least once (a worker or the service itself may die mid-run).

Host it with ``mesh serve jobs --path FILE`` or in code::

    serve_jobs(g, SQLiteJobStore("/srv/jobs.sqlite"))     # or open_store(redis="redis://host:6379/0")

run workers, ordinary nodes that offer the callbacks, and use it from any node of the mesh::

    jobs = Jobs(g)
    job_id = jobs.submit("resize", "a.png", retries=3) & FG
    jobs.result(job_id) & FG
"""

from __future__ import annotations

from ._client import Jobs
from ._model import JOB_ID, JobStatus
from ._open import open_store
from ._service import JobsService, serve_jobs
from ._sqlite import SQLiteJobStore
from ._store import JobStore

__all__ = ["JOB_ID", "JobStatus", "JobStore", "Jobs", "JobsService", "SQLiteJobStore", "open_store", "serve_jobs"]
