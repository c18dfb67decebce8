"""The node a plugin calls through: its ``g`` config, or the worker node a job of ``serve_tasks`` runs on."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

from mesh import BadArguments, Global

RUNNER = "plugins.run"
"""The callback ``serve_tasks`` offers, which the ``mesh`` job plugin submits a task's rest to."""

_running_on: contextvars.ContextVar[Global | None] = contextvars.ContextVar("mesh_plugins_node", default=None)


def node_of(plugin: str, g: Global | None) -> Global:
    """``g``, or the node of the job this runs in; ``BadArguments`` naming ``plugin`` when neither."""
    if g is not None:
        return g
    found = _running_on.get()
    if found is None:
        raise BadArguments(
            f"the {plugin} plugin needs g=<the Global to call the mesh through> (only a job run by "
            "serve_tasks may leave it out: it uses the worker's node)"
        )
    return found


def serve_tasks(g: Global) -> list[str]:
    """Make ``g``'s node a worker of the ``mesh`` job plugin: it offers :data:`RUNNER`, which runs the
    rest of a task that ``schedule_job`` (``job_type="mesh"``) handed to the jobs service. The ``mesh``
    plugins made while it runs, without ``g``, call through this node. Returns the names offered."""
    return g.register(_run, name=RUNNER)


def _run(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], g: Global) -> Any:
    token = _running_on.set(g)
    try:
        return fn(*args, **kwargs)
    finally:
        _running_on.reset(token)
