"""The storage plugins: ``local`` (a folder), ``s3`` (a bucket) and ``mesh`` (the mesh's storage service)."""

from __future__ import annotations

import os

from mesh import FG, STREAM, Global, stream
from mesh.services import Storage
from mesh.services.storage import Backend, LocalBackend, S3Backend

from ._interfaces import StorageInterface
from ._node import node_of
from ._registry import register_plugin

CHUNK = 1024 * 1024
"""Data longer than this goes to the storage service as a stream of pieces this long, not one message."""


class _OverBackend(StorageInterface):
    """A storage plugin over one of the storage service's backends, in this process."""

    backend: Backend

    def write_file(self, path: str, data: bytes) -> None:
        """Store ``data`` at ``path`` with the backend's write (atomic for ``local``)."""
        self.backend.write(path, [bytes(data)])

    def read_file(self, path: str) -> bytes:
        """The object's bytes; ``FileNotFoundError`` when it is missing."""
        return b"".join(self.backend.read(path))


@register_plugin(StorageInterface, name="local")
class LocalStorage(_OverBackend):
    """Files under the folder ``root`` of this machine (made when missing), written atomically."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.backend = LocalBackend(root)


@register_plugin(StorageInterface, name="s3")
class S3Storage(_OverBackend):
    """The objects of an existing S3 ``bucket`` (at ``endpoint``: MinIO, Ceph, ...; AWS's when None), through
    boto3 (``pip install 'grpcmesh[s3]'``), its credentials from boto3's usual places."""

    def __init__(self, bucket: str, endpoint: str | None = None, region: str | None = None) -> None:
        self.backend = S3Backend(bucket, endpoint, region)


@register_plugin(StorageInterface, name="mesh")
class MeshStorage(StorageInterface):
    """The mesh's storage service (``mesh serve storage``) under ``prefix``, called through ``g`` (in a job
    run by ``serve_tasks``, the worker's node when ``g`` is left out)."""

    def __init__(self, g: Global | None = None, prefix: str = "storage") -> None:
        self.storage = Storage(node_of("mesh storage", g), prefix=prefix)

    def write_file(self, path: str, data: bytes) -> None:
        """Store ``data`` at ``path``: in one message, or as a stream when over 1 MiB."""
        data = bytes(data)
        if len(data) <= CHUNK:
            self.storage.put(path, data) & FG
        else:
            pieces = (data[at : at + CHUNK] for at in range(0, len(data), CHUNK))
            self.storage.put(path, stream(pieces)) & FG

    def read_file(self, path: str) -> bytes:
        """The object's bytes, streamed from the service (any size); ``FileNotFoundError`` when missing."""
        return b"".join(self.storage.get_stream(path) & STREAM)
