"""The storage service: objects (bytes) under paths, kept by one node's backend and called from any node.

Host it with ``mesh serve storage --root DIR`` or in code::

    serve_storage(g, LocalBackend("/srv/data"))

and use it from any node of the mesh::

    st = Storage(g)
    st.put("a/b.bin", data) & FG
    st.put("big.bin", stream(chunks)) & FG
    for chunk in st.get_stream("big.bin") & STREAM: ...
"""

from __future__ import annotations

from ._client import Storage
from ._service import StorageService, serve_storage
from .backends import Backend, LocalBackend, MemoryBackend, ObjectInfo, S3Backend

__all__ = [
    "Backend",
    "LocalBackend",
    "MemoryBackend",
    "ObjectInfo",
    "S3Backend",
    "Storage",
    "StorageService",
    "serve_storage",
]
