"""The built-in behaviours: ``storage_write`` (store, then go on with the path) and ``schedule_job`` (run
the rest of the task later, through a job plugin)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mesh import BadArguments

from ._interfaces import JobInterface, StorageInterface
from ._registry import PluginFactory, register_plugin
from ._task import Behavior


@register_plugin(Behavior, name="storage_write")
class StorageWriteBehavior(Behavior):
    """Writes ``data`` at ``path`` with the storage plugin named by the config's ``backend`` (configured
    with the rest of the config), then calls ``next_fn(path=path, **kwargs)``."""

    def execute(self, next_fn: Callable[..., Any], path: str, data: bytes, **kwargs: Any) -> Any:
        """Store, then go on with the path instead of the data."""
        if "backend" not in self.config:
            known = ", ".join(PluginFactory.names(StorageInterface))
            raise BadArguments(f"the storage_write behaviour needs backend=<a storage plugin: {known}>")
        backend: StorageInterface = PluginFactory.get(StorageInterface, self.config.pop("backend"), **self.config)
        backend.write_file(path, data)
        return next_fn(path=path, **kwargs)


@register_plugin(Behavior, name="schedule_job")
class ScheduleJobBehavior(Behavior):
    """Schedules the rest of the task with the job plugin named by the config's ``job_type`` (default
    ``fastapi``, as in the seed; configured with the rest of the config) and returns at once
    ``{"scheduled": True, "job_id": ...}``."""

    def execute(self, next_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Hand ``next_fn(*args, **kwargs)`` to the scheduler; answer with its job's id."""
        scheduler: JobInterface = PluginFactory.get(JobInterface, self.config.pop("job_type", "fastapi"), **self.config)
        job_id = scheduler.schedule(next_fn, *args, **kwargs)
        return {"scheduled": True, "job_id": job_id}
