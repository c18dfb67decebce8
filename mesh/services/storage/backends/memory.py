"""The in-memory backend, for tests: objects live in a dict of this process, gone when it ends."""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterable, Iterator

from ._base import CHUNK_SIZE, Chunk, ObjectInfo


class MemoryBackend:
    """Objects as ``bytes`` in a dict, guarded by a lock (callbacks run in several worker threads)."""

    description = "memory"

    def __init__(self) -> None:
        self._objects: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def _get(self, path: str) -> tuple[bytes, float]:
        with self._lock:
            found = self._objects.get(path)
        if found is None:
            raise FileNotFoundError(errno.ENOENT, "no object in memory", path)
        return found

    def write(self, path: str, chunks: Iterable[Chunk]) -> ObjectInfo:
        data = b"".join(chunks)  # whole before it is stored: a stream that fails stores nothing
        modified = time.time()
        with self._lock:
            self._objects[path] = (data, modified)
        return ObjectInfo(path, len(data), modified)

    def read(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        data = self._get(path)[0]
        view = memoryview(data)
        return (bytes(view[at : at + chunk_size]) for at in range(0, len(data), chunk_size))

    def stat(self, path: str) -> ObjectInfo:
        data, modified = self._get(path)
        return ObjectInfo(path, len(data), modified)

    def names(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(path for path in self._objects if path.startswith(prefix))

    def delete(self, path: str) -> None:
        with self._lock:
            if self._objects.pop(path, None) is None:
                raise FileNotFoundError(errno.ENOENT, "no object in memory", path)

    def close(self) -> None:
        with self._lock:
            self._objects.clear()
