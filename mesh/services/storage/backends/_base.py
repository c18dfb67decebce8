"""What every storage backend is (:class:`Backend`), what it tells of an object (:class:`ObjectInfo`),
and the one rule for object paths (:func:`check_path`), the same for every backend."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from mesh import UsageError

CHUNK_SIZE = 1024 * 1024
"""The size of the chunks objects are read in (and ``get_stream`` yields)."""

Chunk = bytes | bytearray | memoryview
"""A piece of an object as a writer hands it over."""

RESERVED = ".storage-"
"""Path parts that start with this are the service's own (the local directory's temporary files)."""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its path, its size in bytes and when it was last written (seconds since the epoch)."""

    path: str
    size: int
    modified: float


@dataclass(frozen=True)
class Grant:
    """A way around the mesh's data path to one object, handed to a client by :class:`DirectBackend`.

    ``kind`` is ``"fd"``: the client connects to the UNIX socket ``where``, sends ``token`` and receives
    an open file descriptor (only on the machine whose boot id is ``machine``); or ``"url"``: ``where``
    is a presigned HTTP URL to GET or PUT the object. ``about`` is the backend's description, for
    messages.
    """

    kind: str
    where: str
    about: str
    token: str = ""
    machine: str = ""


class Backend(Protocol):
    """Where a storage service keeps its objects. Every method takes a path that passed :func:`check_path`.

    Each raises :class:`FileNotFoundError` for a path that holds no object, and
    :class:`ConnectionError` naming the backend and its address when the store cannot be reached.
    """

    description: str
    """What and where the store is, for messages: ``local directory /srv/data``."""

    def write(self, path: str, chunks: Iterable[Chunk]) -> ObjectInfo:
        """Store the concatenated ``chunks`` as ``path``, whole or not at all (the old object then stays)."""
        ...

    def read(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """The object's bytes in chunks; a missing object raises at once, before the iterator is returned."""
        ...

    def stat(self, path: str) -> ObjectInfo: ...

    def names(self, prefix: str) -> list[str]:
        """The paths of every object that starts with ``prefix`` (a plain string prefix), sorted."""
        ...

    def delete(self, path: str) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class DirectBackend(Backend, Protocol):
    """A backend that can also let a client reach an object itself (:class:`Grant`): a local directory
    hands open files to clients on its machine, S3 presigned URLs. Every method takes a checked path."""

    reads_direct_from: int
    """The least size of an object worth a read grant: below it the side trip costs more than it saves."""

    def grant_read(self, path: str, machine: str) -> Grant | None:
        """A way to read the object (``FileNotFoundError`` if there is none) for a client on the machine
        whose boot id is ``machine``; None if there is none for it."""
        ...

    def grant_write(self, path: str, machine: str, size: int) -> Grant | None:
        """A way to write the object, of ``size`` bytes (-1: not known yet), for a client on ``machine``
        (or None); what is written through an ``"fd"`` grant takes effect on :meth:`commit` of its token."""
        ...

    def commit(self, token: str) -> ObjectInfo:
        """Make the object written through the ``"fd"`` grant ``token`` the path's, whole (as :meth:`write`)."""
        ...

    def abort(self, token: str) -> None:
        """Give up the grant ``token``: a write's temporary file is removed, the old object stays."""
        ...


def check_path(path: object) -> str:
    """``path`` if it is a valid object path: parts joined by ``/``, none empty, ``.`` or ``..``.

    Raises:
        UsageError: ``path`` is not a ``str``, is empty or absolute, or has an empty, ``.``, ``..`` or
            reserved part, or a NUL character.
    """
    if not isinstance(path, str):
        raise UsageError(f"a storage path is a str, not {type(path).__name__} {path!r}")
    if not path:
        raise UsageError("a storage path cannot be empty")
    if path.startswith("/") or path.startswith("\\"):
        raise UsageError(f"storage path {path!r} is absolute; paths are relative to the storage's root")
    if "\0" in path:
        raise UsageError(f"storage path {path!r} contains a NUL character")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise UsageError(
                f"storage path {path!r} has a part {part!r}: paths are names joined by '/', and cannot leave the root"
            )
        if part.startswith(RESERVED):
            raise UsageError(f"storage path {path!r}: names starting with {RESERVED!r} are reserved for the service")
    return path


def check_prefix(prefix: object) -> str:
    """``prefix`` if it is a ``str`` that does not climb out of the root (``""`` lists everything)."""
    if not isinstance(prefix, str):
        raise UsageError(f"a storage prefix is a str, not {type(prefix).__name__} {prefix!r}")
    if prefix.startswith("/") or ".." in prefix.split("/"):
        raise UsageError(f"storage prefix {prefix!r} would leave the storage's root")
    return prefix
