"""The storage service's callbacks (:class:`StorageService`), and :func:`serve_storage`, which offers them
from one node under a dotted prefix (``storage.put``, ``storage.get``, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from mesh import Global, PayloadTooLarge, UsageError

from .backends import CHUNK_SIZE, Backend, Chunk, DirectBackend, Grant, ObjectInfo, check_path, check_prefix

MARGIN = 64 * 1024
"""Room kept under ``max_message_size`` for the rest of a message that carries an object whole."""

BYTES_LIKE = (bytes, bytearray, memoryview)

DIRECT_FROM = 2 * 1024 * 1024
"""Objects put whole of this size or more are worth a way around the mesh's data path (measured: below
it the extra calls cost more than they save); a read's threshold is its backend's ``reads_direct_from``."""


def serve_storage(g: Global, backend: Backend, prefix: str = "storage", direct: bool = True) -> list[str]:
    """Offer a storage service over ``backend`` from ``g``'s node only, as ``<prefix>.put`` and the rest.

    With ``direct`` (the default) clients may go around the mesh's data path for large objects: on
    this machine through open files a local directory hands them, anywhere through S3's presigned URLs
    (docs/services.md). Returns the names offered. ``g.unregister(prefix)`` withdraws them; the
    backend stays open (``backend.close()`` also closes a local directory's side door).
    """
    return g.register(StorageService(backend, g.max_message_size, direct), prefix=prefix)


class StorageService:
    """The callbacks of a storage service over ``backend``; :class:`~mesh.services.Storage` calls them.

    They run in the node's worker threads (the backends block); ``get_stream`` holds one for as long
    as its stream is open. ``max_message_size`` is the hosting node's, the limit of ``get``.
    """

    def __init__(self, backend: Backend, max_message_size: int, direct: bool = True) -> None:
        self._backend = backend
        self._limit = max_message_size
        self._direct = backend if direct and isinstance(backend, DirectBackend) else None
        self._counts = {"inline_reads": 0, "fd_reads": 0, "fd_writes": 0, "url_reads": 0, "url_writes": 0}

    def put(self, path: str, data: Any) -> ObjectInfo:
        """Store ``data`` (bytes, or a streamed argument of bytes chunks) as ``path``, whole or not at all."""
        return self._backend.write(check_path(path), _chunks_of(path, data))

    def get(self, path: str) -> bytes:
        """The whole object; one over the node's ``max_message_size`` raises, saying to use get_stream."""
        self._check_whole(path, self._backend.stat(check_path(path)).size)
        return b"".join(self._backend.read(path))

    def _check_whole(self, path: str, size: int) -> None:
        if size > self._limit - MARGIN:
            raise PayloadTooLarge(
                f"object {path!r} is {size} bytes, too large for one message (max_message_size is {self._limit}); "
                "read it in chunks: for chunk in st.get_stream(path) & STREAM"
            )

    def open_read(self, path: str, whole: bool, machine: str) -> bytes | Grant | None:
        """How a client on ``machine`` (a boot id) reads the object: a :class:`Grant` when it is large
        and there is a way around the mesh's data path, else its bytes when it fits in one message
        (``whole``: it must, as for :meth:`get`), else None: call ``get_stream``."""
        size = self._backend.stat(check_path(path)).size
        if whole:
            self._check_whole(path, size)
        least = DIRECT_FROM if self._direct is None else self._direct.reads_direct_from
        if size >= least and self._direct is not None:
            grant = self._direct.grant_read(path, machine)
            if grant is not None:
                self._counts[f"{grant.kind}_reads"] += 1
                return grant
        if whole or size < min(least, self._limit - MARGIN):
            self._counts["inline_reads"] += 1
            return b"".join(self._backend.read(path))
        return None

    def open_write(self, path: str, machine: str, size: int = -1) -> Grant | None:
        """How a client on ``machine`` writes the object (``size`` bytes, -1: a stream) itself, or None:
        send it with ``put``. A ``"fd"``
        grant's file becomes the object on :meth:`commit`; a ``"url"`` grant's PUT makes it at once."""
        check_path(path)
        grant = None if self._direct is None else self._direct.grant_write(path, machine, size)
        if grant is not None:
            self._counts[f"{grant.kind}_writes"] += 1
        return grant

    def commit(self, token: str) -> ObjectInfo:
        """Make what the client wrote through the ``"fd"`` grant ``token`` the object, whole (as ``put``)."""
        return self._granting().commit(token)

    def abort(self, token: str) -> None:
        """Give up the grant ``token``: nothing changes; a write's temporary file is removed."""
        self._granting().abort(token)

    def _granting(self) -> DirectBackend:
        if self._direct is None:
            raise UsageError("this storage service hands out no direct access (it serves with direct off)")
        return self._direct

    def statistics(self) -> dict[str, int]:
        """How many reads and writes went around the mesh's data path, by way (``fd_*``: open files on
        this machine; ``url_*``: presigned URLs), how many small reads came whole (``inline_reads``), and
        how many descriptors the side door handed over (``fds_passed``)."""
        door = getattr(self._backend, "door", None)
        return {**self._counts, "fds_passed": door.passed if door is not None else 0}

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
