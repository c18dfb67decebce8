"""Where a storage service keeps its objects: a local directory (the default), S3, or memory (tests)."""

from __future__ import annotations

from ._base import CHUNK_SIZE, Backend, Chunk, DirectBackend, Grant, ObjectInfo, check_path, check_prefix
from ._door import boot_id
from .local import LocalBackend
from .memory import MemoryBackend
from .s3 import S3Backend, parse_s3_url

__all__ = [
    "CHUNK_SIZE",
    "Backend",
    "Chunk",
    "DirectBackend",
    "Grant",
    "LocalBackend",
    "MemoryBackend",
    "ObjectInfo",
    "S3Backend",
    "boot_id",
    "check_path",
    "check_prefix",
    "parse_s3_url",
]
