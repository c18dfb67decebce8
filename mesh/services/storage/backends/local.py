"""The local directory backend, the default: one file per object under a root directory.

A write goes to a temporary file beside its target (``.storage-tmp-*``), is flushed to the disk
(``fsync``) and renamed over the target, and the directory is synced: a reader sees the old object
or the new one, never a part, and a write that fails (a full disk, a stream that raised) leaves the
old object as it was. Every path is resolved (symbolic links too) and refused when it leads out of
the root. The check and the use are two steps: a symbolic link swapped in between by someone with
write access to the root is not guarded against.

A client on the same machine can be handed the open file instead (:meth:`LocalBackend.grant_read`,
:meth:`LocalBackend.grant_write`, through the :class:`~._door.SideDoor`): read-only for a read; for a
write, the temporary file, which :meth:`LocalBackend.commit` syncs and renames as :meth:`write` does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO

from mesh import UsageError

from ._base import CHUNK_SIZE, RESERVED, Chunk, Grant, ObjectInfo
from ._door import SideDoor, boot_id


@dataclass(frozen=True)
class _Temporary:
    """A write in progress: the open temporary file of ``path``, beside ``target``, in ``folder``."""

    path: str
    fd: int
    temporary: str
    target: str
    folder: str


class LocalBackend:
    """Objects as files under ``root`` (created when missing)."""

    reads_direct_from = 2 * 1024 * 1024
    """Measured: an open file handed over costs about one small call more than 1 MiB through gRPC."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        try:
            Path(root).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot use {os.fspath(root)!r} as the storage's root directory: {exc}") from exc
        self.root = os.path.realpath(root)
        self.description = f"local directory {self.root}"
        self._door = SideDoor()
        self._writes: dict[str, _Temporary] = {}
        self._lock = threading.Lock()

    @property
    def door(self) -> SideDoor:
        """The UNIX socket through which clients on this machine receive open files."""
        return self._door

    def _file(self, path: str) -> str:
        """The file of ``path``, as the root joined with it; refused if it resolves outside the root."""
        lexical = os.path.join(self.root, *path.split("/"))
        resolved = os.path.realpath(lexical)
        if not resolved.startswith(self.root + os.sep):
            raise UsageError(
                f"storage path {path!r} leads out of the root {self.root} (to {resolved}, through a symbolic link); "
                "refused"
            )
        return lexical

    def _missing(self, path: str) -> FileNotFoundError:
        return FileNotFoundError(errno.ENOENT, f"no object in {self.description}", path)

    def write(self, path: str, chunks: Iterable[Chunk]) -> ObjectInfo:
        pending = self._begin(path)
        try:
            with os.fdopen(pending.fd, "wb", closefd=False) as out:
                for chunk in chunks:
                    out.write(chunk)
        except BaseException as exc:
            self._discard(pending)
            raise self._translated(exc, path) from exc
        return self._finish(pending)

    def _begin(self, path: str) -> _Temporary:
        """A new temporary file beside ``path``'s, open for writing."""
        target = self._file(path)
        if os.path.isdir(target):
            raise IsADirectoryError(errno.EISDIR, f"a directory of {self.description} has this name", path)
        folder = os.path.dirname(target)
        try:
            os.makedirs(folder, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise NotADirectoryError(
                errno.ENOTDIR, f"a part of the path is an object of {self.description}, not a folder", path
            ) from None
        descriptor, temporary = tempfile.mkstemp(prefix=f"{RESERVED}tmp-", dir=folder)
        return _Temporary(path, descriptor, temporary, target, folder)

    def _finish(self, pending: _Temporary) -> ObjectInfo:
        """Sync the temporary file and rename it over its target: the object is now the new one, whole."""
        try:
            os.fsync(pending.fd)
            os.fchmod(pending.fd, 0o644)
            os.replace(pending.temporary, pending.target)
        except BaseException as exc:
            self._discard(pending)
            raise self._translated(exc, pending.path) from exc
        os.close(pending.fd)
        _sync_folder(pending.folder)
        return self.stat(pending.path)

    @staticmethod
    def _discard(pending: _Temporary) -> None:
        with contextlib.suppress(OSError):
            os.close(pending.fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pending.temporary)

    def _translated(self, exc: BaseException, path: str) -> BaseException:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return OSError(
                errno.ENOSPC, f"no space left on the disk of {self.description}; the old object is kept", path
            )
        return exc

    def grant_read(self, path: str, machine: str) -> Grant | None:
        if machine != boot_id():
            return None
        try:
            descriptor = os.open(self._file(path), os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self._missing(path) from None
        found = os.fstat(descriptor)
        if not S_ISREG(found.st_mode):
            os.close(descriptor)
            raise self._missing(path)
        try:
            token = self._door.offer(descriptor, lambda _: os.close(descriptor))
        except OSError:
            os.close(descriptor)
            return None  # no side door can be opened here: the object goes through the mesh
        return Grant("fd", self._door.path, self.description, token, boot_id())

    def grant_write(self, path: str, machine: str, size: int) -> Grant | None:
        if machine != boot_id():
            return None
        pending = self._begin(path)
        try:
            token = self._door.offer(pending.fd, self._settle, keep_open=True)
        except BaseException as exc:
            self._discard(pending)
            if isinstance(exc, OSError):
                return None
            raise
        with self._lock:
            self._writes[token] = pending
        return Grant("fd", self._door.path, self.description, token, boot_id())

    def commit(self, token: str) -> ObjectInfo:
        self._door.withdraw(token)  # a descriptor never taken: nothing was written through it
        with self._lock:
            pending = self._writes.pop(token, None)
        if pending is None:
            raise UsageError(
                f"{self.description}: no write in progress has this token (committed, given up or expired)"
            )
        return self._finish(pending)

    def abort(self, token: str) -> None:
        self._door.withdraw(token)
        self._settle(token)

    def _settle(self, token: str) -> None:
        """The write ``token`` is over: its temporary file goes unless it was committed."""
        with self._lock:
            pending = self._writes.pop(token, None)
        if pending is not None:
            self._discard(pending)

    def read(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        try:
            opened = open(self._file(path), "rb")  # noqa: SIM115 (closed by the generator it is handed to)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise self._missing(path) from None
        return _chunks(opened, chunk_size)

    def stat(self, path: str) -> ObjectInfo:
        try:
            found = os.stat(self._file(path))
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(path) from None
        if not S_ISREG(found.st_mode):
            raise self._missing(path)
        return ObjectInfo(path, found.st_size, found.st_mtime)

    def names(self, prefix: str) -> list[str]:
        # Walk only the folder the prefix's complete parts name.
        start = os.path.join(self.root, *prefix.split("/")[:-1])
        found = []
        for folder, subfolders, files in os.walk(start):
            subfolders[:] = [name for name in subfolders if not name.startswith(RESERVED)]
            relative = os.path.relpath(folder, self.root)
            base = "" if relative == "." else relative.replace(os.sep, "/") + "/"
            for name in files:
                path = base + name
                if not name.startswith(RESERVED) and path.startswith(prefix) and self._inside(folder, name):
                    found.append(path)
        return sorted(found)

    def _inside(self, folder: str, name: str) -> bool:
        return os.path.realpath(os.path.join(folder, name)).startswith(self.root + os.sep)

    def delete(self, path: str) -> None:
        target = self._file(path)
        if not os.path.isfile(target):
            raise self._missing(path)
        try:
            os.unlink(target)
        except FileNotFoundError:
            raise self._missing(path) from None
        # Folders left empty go too, up to the root, so that the tree holds only what is stored.
        folder = os.path.dirname(target)
        while folder != self.root:
            try:
                os.rmdir(folder)
            except OSError:
                break
            folder = os.path.dirname(folder)

    def close(self) -> None:
        """Close the side door (its socket and folder go; writes not committed are discarded)."""
        self._door.close()


def _chunks(opened: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with opened:
        while chunk := opened.read(chunk_size):
            yield chunk


def _sync_folder(folder: str) -> None:
    """Make the rename into ``folder`` durable (POSIX needs the directory itself synced)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
