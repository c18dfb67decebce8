"""Plugins and behaviours (the distributed-core seed's API): interfaces, plugins registered by name,
and tasks built of behaviours that call ``next_fn``::

    from mesh.plugins import Behavior, Task

    task = Task(finalize)
    task.add_behavior(Behavior, plugin="storage_write", backend="mesh", g=g)
    task.add_behavior(Behavior, plugin="schedule_job", job_type="mesh", g=g)
    task.submit(path="uploads/a.bin", data=content)       # -> {"scheduled": True, "job_id": ...}

Built in: ``StorageInterface`` (``local``, ``s3``, ``mesh``), ``JobInterface`` (``in_memory``,
``fastapi``, ``mesh``), ``EventBusInterface`` (``mesh``, ``redis``), and the behaviours
``storage_write`` and ``schedule_job``. Other packages add plugins through the ``grpcmesh.plugins``
entry-point group. Uses only the public API of :mod:`mesh` and :mod:`mesh.services`.
"""

from __future__ import annotations

from . import _behaviors, _events, _jobs, _storage  # noqa: F401  (they register the built-in plugins)
from ._interfaces import EventBusInterface, JobInterface, StorageInterface
from ._node import RUNNER, serve_tasks
from ._registry import ENTRY_POINT_GROUP, PluginFactory, define_interface, register_plugin
from ._task import Behavior, Task

__all__ = [
    "ENTRY_POINT_GROUP",
    "RUNNER",
    "Behavior",
    "EventBusInterface",
    "JobInterface",
    "PluginFactory",
    "StorageInterface",
    "Task",
    "define_interface",
    "register_plugin",
    "serve_tasks",
]
