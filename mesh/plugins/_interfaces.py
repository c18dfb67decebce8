"""The built-in interfaces: storage, jobs and an event bus, each with plugins over the mesh's services."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from mesh import UsageError

from ._registry import define_interface


@define_interface
class StorageInterface(ABC):
    """Bytes under paths: ``local``, ``s3`` and ``mesh`` (the storage service)."""

    @abstractmethod
    def write_file(self, path: str, data: bytes) -> None:
        """Store ``data`` at ``path``, replacing what was there."""

    @abstractmethod
    def read_file(self, path: str) -> bytes:
        """The bytes at ``path``; ``FileNotFoundError`` when there are none."""


@define_interface
class JobInterface(ABC):
    """Runs a callable later: ``in_memory``, ``fastapi`` (its ``BackgroundTasks``) and ``mesh`` (the jobs service)."""

    @abstractmethod
    def schedule(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        """Schedule ``fn(*args, **kwargs)`` to run later; return the job's id."""

    def status(self, job_id: str) -> str:
        """The job's state: ``queued``, ``running``, ``done``, ``failed`` (or ``cancelled``, where it can be).

        Raises:
            KeyError: no job has that id.
            UsageError: this plugin keeps no states.
        """
        raise UsageError(f"the job plugin {type(self).__name__} keeps no job states")

    def result(self, job_id: str, timeout: float | None = None) -> Any:
        """The job's value once it has run, waiting up to ``timeout`` seconds (``TimeoutError`` after);
        the job's exception, raised, if it failed.

        Raises:
            KeyError: no job has that id.
            UsageError: this plugin keeps no results.
        """
        raise UsageError(f"the job plugin {type(self).__name__} keeps no job results")


@define_interface
class EventBusInterface(ABC):
    """Topics of events: ``mesh`` (the events service) and ``redis`` (Redis Streams)."""

    @abstractmethod
    def publish(self, topic: str, payload: Any) -> None:
        """Publish ``payload`` on ``topic``, durably once this returns."""

    @abstractmethod
    def subscribe(self, topic: str, handler: Callable[[Any], Any]) -> Callable[[], None]:
        """Call ``handler(payload)`` for each event published on ``topic`` from now on; return a
        function that ends the subscription."""
