"""The distributed-core seed's README example: its four steps, unchanged but for the import lines.

The seed's own interfaces, plugins and behaviours (steps 1 to 3) are defined here as its README shows
them, over ``mesh.plugins``: its ``schedule_job`` and ``storage_write`` replace the built-in ones in
this process. The end (below the seed's code) posts one upload to its app, with FastAPI's TestClient.
Run: ``python -m examples.distributed_core_readme`` (``pip install 'grpcmesh[fastapi]'``).
"""

import uuid
from abc import ABC, abstractmethod
from typing import Any, Callable

from fastapi import BackgroundTasks, FastAPI

from mesh.plugins import Behavior, PluginFactory, Task, define_interface, register_plugin


# distributed_core/services/jobs/interface.py

@define_interface
class JobInterface(ABC):
    """
    Interface for scheduling a callable to run asynchronously.
    """
    @abstractmethod
    def schedule(self, fn: Callable, *args: Any, **kwargs: Any) -> str:
        """
        Schedule `fn(*args, **kwargs)` to run later.
        Returns a job_id.
        """
        ...


# distributed_core/services/storage/interface.py

@define_interface
class StorageInterface(ABC):
    @abstractmethod
    def write_file(self, path: str, data: bytes) -> None:
        ...

    @abstractmethod
    def read_file(self, path: str) -> bytes:
        ...


# distributed_core/services/jobs/fastapi_background_runner.py

@register_plugin(JobInterface, name="fastapi")
class FastAPIJob(JobInterface):
    def __init__(self, background_tasks: BackgroundTasks):
        self.background_tasks = background_tasks

    def schedule(self, fn: Callable, *args: Any, **kwargs: Any) -> str:
        job_id = str(uuid.uuid4())
        self.background_tasks.add_task(fn, *args, **kwargs)
        return job_id


# distributed_core/services/storage/minio_storage.py
# Assume Minio client is installed and configured
# from minio import Minio

@register_plugin(StorageInterface, name="minio")
class MinioStorage(StorageInterface):
    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str):
        # In a real implementation, you would initialize the MinIO client here
        # self.client = Minio(...)
        # self.bucket = bucket
        print(f"INFO: MinIO client configured for bucket '{bucket}'.")

    def write_file(self, path: str, data: bytes) -> None:
        # In a real implementation, you would upload to MinIO here
        print(f"INFO: Writing {len(data)} bytes to MinIO at path '{path}'.")
        pass

    def read_file(self, path: str) -> bytes:
        # In a real implementation, you would download from MinIO here
        print(f"INFO: Reading from MinIO at path '{path}'.")
        return b"dummy file content"


# distributed_core/core/behaviors.py (Illustrative implementations)

@register_plugin(Behavior, name="schedule_job")
class ScheduleJobBehavior(Behavior):
    def execute(self, next_fn: Callable, *args: Any, **kwargs: Any) -> Any:
        # Get job_type from config, default to "fastapi"
        job_type = self.config.pop("job_type", "fastapi")
        # Instantiate the chosen scheduler plugin (e.g., "fastapi")
        scheduler: JobInterface = PluginFactory.get(
            JobInterface,
            job_type,
            **self.config
        )
        # Schedule the remainder of the chain to run in the background
        job_id = scheduler.schedule(next_fn, *args, **kwargs)
        # Return scheduling info immediately
        return {"scheduled": True, "job_id": job_id}

@register_plugin(Behavior, name="storage_write")
class StorageWriteBehavior(Behavior):
    def execute(self, next_fn: Callable, path: str, data: bytes, **kwargs: Any) -> Any:
        # Get backend from config
        backend_name = self.config.pop("backend")
        # Instantiate the storage backend plugin (e.g., "minio")
        backend: StorageInterface = PluginFactory.get(
            StorageInterface,
            backend_name,
            **self.config
        )
        # Perform the write operation
        backend.write_file(path, data)
        # Pass the file path downstream to the next behavior in the chain
        return next_fn(path=path, **kwargs)


# main.py

# Assume the plugins and behaviors from previous steps are loaded
# In a real app, these would be in their own modules and imported.

app = FastAPI()

@app.post("/upload")
def upload_endpoint(background_tasks: BackgroundTasks, file_content: bytes) -> Any:
    # This is the core business logic that runs last, in the background.
    def core_finalize(path: str) -> Any:
        print(f"SUCCESS: Background processing for '{path}' is complete.")
        return {"stored_path": path}

    # 1. Wrap the core logic in a Task
    task = Task(core_finalize)

    # 2. Add behaviors to form the pipeline.
    #    Execution order is top-to-bottom.
    task.add_behavior(
        Behavior,
        plugin="storage_write", # Use the StorageWriteBehavior
        backend="minio",        # Configure it to use the "minio" plugin
        endpoint="MINIO_ENDPOINT",
        access_key="MINIO_ACCESS",
        secret_key="MINIO_SECRET",
        bucket="my-bucket"
    ).add_behavior(
        Behavior,
        plugin="schedule_job",   # Use the ScheduleJobBehavior
        job_type="fastapi",      # Configure it to use the "fastapi" plugin
        background_tasks=background_tasks
    )

    # 3. Kick off the chain by submitting the initial arguments.
    #    The arguments `path` and `data` are for the first behavior (storage_write).
    return task.submit(path="uploads/file.bin", data=file_content)


if __name__ == "__main__":
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        answer = client.post("/upload", params={"file_content": "seed upload"})
    print("ANSWER", answer.status_code, answer.json())
