"""Where a storage service keeps its objects: a local directory (the default), S3, or memory (tests)."""

from __future__ import annotations

from ._base import CHUNK_SIZE, Backend, Chunk, ObjectInfo, check_path, check_prefix
from .local import LocalBackend
from .memory import MemoryBackend
from .s3 import S3Backend, parse_s3_url

__all__ = [
    "CHUNK_SIZE",
    "Backend",
    "Chunk",
    "LocalBackend",
    "MemoryBackend",
    "ObjectInfo",
    "S3Backend",
    "check_path",
    "check_prefix",
    "parse_s3_url",
]
