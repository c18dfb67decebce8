"""What a job is: its record on the service (:class:`Job`), what ``status`` answers (:class:`JobStatus`),
its states, and the :data:`JOB_ID` placeholder an argument can be for the job's own id."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any, Final

import dill

from mesh import Caller

QUEUED: Final = "queued"
RUNNING: Final = "running"
DONE: Final = "done"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
STATES: Final = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
FINAL: Final = frozenset((DONE, FAILED, CANCELLED))


class _JobIdPlaceholder:
    """The type of :data:`JOB_ID`; it pickles by name, so it is the same object wherever it is unpickled."""

    def __reduce__(self) -> str:
        return "JOB_ID"

    def __repr__(self) -> str:
        return "JOB_ID"


JOB_ID: Final = _JobIdPlaceholder()
"""An argument of ``submit`` that the worker receives as the job's id (a ``str``), so that the job can
report its progress: ``jobs.submit("resize", path, job_id=JOB_ID)``."""


@dataclass(frozen=True)
class JobStatus:
    """Where a job stands, as ``Jobs.status`` and ``Jobs.list`` answer.

    Attributes:
        id: the job's id, as ``submit`` returned it.
        name: the callback the job runs.
        state: ``queued``, ``running``, ``done``, ``failed`` or ``cancelled``.
        attempts: the runs started so far, the one running included (a worker lost mid-run counts).
        error: the last run's error, ``"TypeName: message"``, or None.
        progress: the last value the job reported with ``Jobs.progress``, or None.
        worker: the node of the last run, or "".
        created, started, finished: times (``time.time()`` scale) of the submission, of the last run's
            start, of the end; None when not yet.
        key: the idempotency key it was submitted with, or None.
    """

    id: str
    name: str
    state: str
    attempts: int
    error: str | None
    progress: Any
    worker: str
    created: float
    started: float | None
    finished: float | None
    key: str | None


@dataclass(slots=True)
class Job:
    """A job as the service keeps it; :meth:`row` is its row in the store."""

    id: str
    seq: int
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    retries: int
    backoff: float
    timeout: float | None
    not_before: float
    key: str | None
    created: float
    state: str = QUEUED
    attempts: int = 0
    lost: int = 0
    error: str | None = None
    outcome: Any = None
    """The value of a done job, or the exception of a failed one."""
    progress: Any = None
    worker: str = ""
    started: float | None = None
    finished: float | None = None
    schedule: str | None = None
    payload: bytes | None = None
    """The arguments as stored, pickled once (None once the job has ended)."""
    waiters: list[Any] = field(default_factory=list)
    """Futures of ``result`` calls waiting for the job to end (on the service's loop; not stored)."""
    answer: Caller | None = None
    """The caller of the ``run`` call that waits for the job: its worker sends it the value directly
    (``FG(answer=...)``, not stored)."""

    def status(self) -> JobStatus:
        return JobStatus(
            self.id, self.name, self.state, self.attempts, self.error, self.progress, self.worker,
            self.created, self.started, self.finished, self.key,
        )  # fmt: skip

    def row(self) -> tuple[Any, ...]:
        if self.state in FINAL:
            self.payload = None
        elif self.payload is None:
            self.payload = dumps((self.args, self.kwargs))
        outcome = dumps(self.outcome) if self.state in (DONE, FAILED) else None
        progress = None if self.progress is None else dumps(self.progress)
        return (
            self.id, self.seq, self.name, self.state, self.payload, self.retries, self.backoff, self.timeout,
            self.not_before, self.key, self.created, self.attempts, self.lost, self.error, outcome,
            progress, self.worker, self.started, self.finished, self.schedule,
        )  # fmt: skip

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Job:
        (id_, seq, name, state, payload, retries, backoff, timeout, not_before, key, created, attempts, lost,
         error, outcome, progress, worker, started, finished, schedule) = row  # fmt: skip
        args, kwargs = loads(payload) if payload is not None else ((), {})
        return cls(
            id_, seq, name, args, kwargs, retries, backoff, timeout, not_before, key, created, state, attempts,
            lost, error, loads(outcome) if outcome is not None else None,
            None if progress is None else loads(progress), worker, started, finished, schedule, payload,
        )  # fmt: skip


def dumps(value: Any) -> bytes:
    """``value`` as the mesh would send it: pickle, or dill for what pickle cannot write."""
    try:
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    except Exception:
        return dill.dumps(value, pickle.HIGHEST_PROTOCOL, recurse=True)  # type: ignore[no-any-return]


def loads(data: bytes) -> Any:
    return dill.loads(data)


def describe(exc: BaseException) -> str:
    """``"TypeName: message"``, the form of :attr:`JobStatus.error`."""
    return f"{type(exc).__name__}: {exc}"
