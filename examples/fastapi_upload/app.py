"""The distributed-core seed's FastAPI upload, on the mesh: POST /upload stores the file with the storage
service (``storage_write``, backend ``mesh``) and hands its processing to the jobs service
(``schedule_job``, job type ``mesh``), which runs it on a worker node; GET /jobs/{id} tells how it went.

Run from the checkout's root, each in its own terminal (``pip install 'grpcmesh[fastapi]' uvicorn``)::

    mesh controller
    mesh serve storage --root /tmp/uploads
    mesh serve jobs --path /tmp/jobs.sqlite
    python -m examples.fastapi_upload.worker
    python -m examples.fastapi_upload.app          # http://127.0.0.1:8000/docs
"""

import uuid
from typing import Any

from fastapi import FastAPI, HTTPException, UploadFile

from examples.fastapi_upload.processing import checksum
from mesh import Global
from mesh.plugins import Behavior, JobInterface, PluginFactory, Task


def make_app(g: Global) -> FastAPI:
    """The app, calling the mesh through ``g``."""
    app = FastAPI(title="upload")

    @app.post("/upload")
    def upload(file: UploadFile) -> Any:
        task = Task(checksum)
        task.add_behavior(Behavior, plugin="storage_write", backend="mesh", g=g)
        task.add_behavior(Behavior, plugin="schedule_job", job_type="mesh", g=g, retries=2)
        path = f"uploads/{uuid.uuid4()}/{file.filename or 'file.bin'}"
        return task.submit(path=path, data=file.file.read())

    @app.get("/jobs/{job_id}")
    def job(job_id: str) -> Any:
        jobs = PluginFactory.get(JobInterface, "mesh", g=g)
        try:
            state = jobs.status(job_id)
        except KeyError:
            raise HTTPException(status_code=404, detail=f"no job {job_id}") from None
        answer: dict[str, Any] = {"job_id": job_id, "state": state}
        if state == "done":
            answer["result"] = jobs.result(job_id)
        elif state == "failed":
            try:
                jobs.result(job_id)
            except Exception as error:
                answer["error"] = f"{type(error).__name__}: {error}"
        return answer

    return app


if __name__ == "__main__":
    import uvicorn  # type: ignore[import-not-found, unused-ignore]  # not an extra: pip install uvicorn

    with Global(process_name="upload-app") as node:
        uvicorn.run(make_app(node), host="127.0.0.1", port=8000)
