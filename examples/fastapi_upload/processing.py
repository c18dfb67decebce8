"""The upload's processing, run by a worker node as the last step of the task: it reads the stored file
through the storage service, writes its checksum beside it, and answers what it found."""

import hashlib
import os
from typing import Any

from mesh.plugins import PluginFactory, StorageInterface


def checksum(path: str) -> dict[str, Any]:
    # No g: in a job of serve_tasks, the mesh plugins call through the worker's own node.
    storage = PluginFactory.get(StorageInterface, "mesh")
    data = storage.read_file(path)
    digest = hashlib.sha256(data).hexdigest()
    storage.write_file(path + ".sha256", digest.encode())
    return {"path": path, "size": len(data), "sha256": digest, "worker_pid": os.getpid()}
