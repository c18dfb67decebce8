"""A FastAPI app whose endpoint stores a body with ``storage_write`` (local) and runs the rest of its task
with the ``fastapi`` job plugin (its request's ``BackgroundTasks``). Imported once FastAPI is known to be there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import BackgroundTasks, FastAPI

from mesh.plugins import Behavior, Task


def make_app(root: Path) -> FastAPI:
    """``POST /up?name=N``: stores ``body`` as ``N`` under ``root``; the background job answers ``N`` in capitals."""
    app = FastAPI()

    @app.post("/up")
    def up(background_tasks: BackgroundTasks, name: str) -> Any:
        task = Task(lambda path: path.upper())
        task.add_behavior(Behavior, plugin="storage_write", backend="local", root=root)
        task.add_behavior(Behavior, plugin="schedule_job", job_type="fastapi", background_tasks=background_tasks)
        return task.submit(path=name, data=b"body")

    return app
