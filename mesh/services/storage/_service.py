"""The storage service's callbacks (:class:`StorageService`), and :func:`serve_storage`, which offers them
from one node under a dotted prefix (``storage.put``, ``storage.get``, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from mesh import Global, PayloadTooLarge

from .backends import CHUNK_SIZE, Backend, Chunk, ObjectInfo, check_path, check_prefix

MARGIN = 64 * 1024
"""Room kept under ``max_message_size`` for the rest of a message that carries an object whole."""

BYTES_LIKE = (bytes, bytearray, memoryview)


def serve_storage(g: Global, backend: Backend, prefix: str = "storage") -> list[str]:
    """Offer a storage service over ``backend`` from ``g``'s node only, as ``<prefix>.put`` and the rest.

    Returns the names offered. ``g.unregister(prefix)`` withdraws them; the backend stays open.
    """
    return g.register(StorageService(backend, g.max_message_size), prefix=prefix)


class StorageService:
    """The callbacks of a storage service over ``backend``; :class:`~mesh.services.Storage` calls them.

    They run in the node's worker threads (the backends block); ``get_stream`` holds one for as long
    as its stream is open. ``max_message_size`` is the hosting node's, the limit of ``get``.
    """

    def __init__(self, backend: Backend, max_message_size: int) -> None:
        self._backend = backend
        self._limit = max_message_size

    def put(self, path: str, data: Any) -> ObjectInfo:
        """Store ``data`` (bytes, or a streamed argument of bytes chunks) as ``path``, whole or not at all."""
        return self._backend.write(check_path(path), _chunks_of(path, data))

    def get(self, path: str) -> bytes:
        """The whole object; one over the node's ``max_message_size`` raises, saying to use get_stream."""
        size = self._backend.stat(check_path(path)).size
        if size > self._limit - MARGIN:
            raise PayloadTooLarge(
                f"object {path!r} is {size} bytes, too large for one message (max_message_size is {self._limit}); "
                "read it in chunks: for chunk in st.get_stream(path) & STREAM"
            )
        return b"".join(self._backend.read(path))

    def get_stream(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The object in chunks of ``chunk_size`` bytes (the last may be shorter), as a STREAM."""
        check_path(path)
        if not isinstance(chunk_size, int) or not 0 < chunk_size <= self._limit - MARGIN:
            raise ValueError(f"chunk_size must be a positive int under max_message_size, not {chunk_size!r}")
        yield from self._backend.read(path, chunk_size)

    def stat(self, path: str) -> ObjectInfo:
        """The object's path, size and time of last write."""
        return self._backend.stat(check_path(path))

    def exists(self, path: str) -> bool:
        """Whether ``path`` holds an object."""
        try:
            self._backend.stat(check_path(path))
        except FileNotFoundError:
            return False
        return True

    def delete(self, path: str) -> None:
        """Remove the object."""
        self._backend.delete(check_path(path))

    def list(self, prefix: str = "") -> list[str]:
        """The paths of the objects that start with ``prefix``, sorted."""
        return self._backend.names(check_prefix(prefix))


def _chunks_of(path: str, data: Any) -> Iterable[Chunk]:
    if isinstance(data, BYTES_LIKE):
        return (data,)
    if isinstance(data, Iterator):
        return _checked(path, data)
    raise TypeError(
        f"put {path!r}: data is {type(data).__name__}; pass bytes, or a stream of bytes chunks: "
        "st.put(path, stream(chunks))"
    )


def _checked(path: str, chunks: Iterator[Any]) -> Iterator[Chunk]:
    for number, chunk in enumerate(chunks):
        if not isinstance(chunk, BYTES_LIKE):
            raise TypeError(f"put {path!r}: item {number} of the stream is {type(chunk).__name__}, not bytes")
        yield chunk
