"""The storage client's ways around the mesh's data path: ask the service for a :class:`~.backends.Grant`
(an ordinary call, so the mesh's authentication and TLS apply), then move the bytes with it; each returns
:data:`~._direct_call.FALLBACK` when the grant cannot be used from here."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from mesh import FG, STREAM, Streamed

from ._direct_call import FALLBACK, LocalStream
from ._direct_io import Opened, Unreachable, put_url, read_chunks, read_whole, write_chunks
from ._service import BYTES_LIKE, DIRECT_FROM
from .backends import Grant, boot_id


class DirectClient:
    """The ways around for the storage service whose callbacks ``remote`` names (``g.call.storage``)."""

    def __init__(self, remote: Any, prefix: str) -> None:
        self._remote = remote
        self._prefix = prefix

    def get(self, path: str, fg: FG) -> Any:
        found = self._remote.open_read(path, True, boot_id()) & fg
        if isinstance(found, Grant):
            return self._taken(found, fg, read_whole)
        return found if found is not None else FALLBACK

    def get_stream(self, path: str, chunk_size: int, stream: STREAM) -> Any:
        fg = FG(stream.timeout, stream.receiver)
        found = self._remote.open_read(path, False, boot_id()) & fg
        if isinstance(found, bytes):
            view = memoryview(found)
            items: Any = (bytes(view[at : at + chunk_size]) for at in range(0, len(found), chunk_size))
        elif isinstance(found, Grant):
            items = self._taken(found, fg, lambda grant: read_chunks(grant, chunk_size))
        else:
            return FALLBACK
        return items if items is FALLBACK else LocalStream(f"{self._prefix}.get_stream", items)

    def put(self, path: str, data: Any, fg: FG) -> Any:
        if isinstance(data, BYTES_LIKE):
            if len(data) < DIRECT_FROM:
                return FALLBACK
            size, chunks = len(data), (data,)
        elif isinstance(data, Streamed) and not hasattr(data.items, "__aiter__"):
            size, chunks = -1, data.items
        else:
            return FALLBACK  # an async iterable, or what the service will refuse with a clear error
        grant = self._remote.open_write(path, boot_id(), size) & fg
        if grant is None:
            return FALLBACK
        if grant.kind == "url":
            try:
                put_url(grant, bytes(data))
            except Unreachable:
                return FALLBACK
            return self._remote.stat(path) & fg
        try:
            opened = Opened(grant)
        except Unreachable:
            self._remote.abort(grant.token) & fg
            return FALLBACK
        return self._write(grant, opened, path, chunks, fg)

    def _write(self, grant: Grant, opened: Opened, path: str, chunks: Iterable[Any], fg: FG) -> Any:
        with opened:
            try:
                write_chunks(grant, opened, path, chunks)
            except BaseException:
                with contextlib.suppress(Exception):
                    self._remote.abort(grant.token) & fg
                raise
            return self._remote.commit(grant.token) & fg

    def _taken(self, grant: Grant, fg: FG, take: Callable[[Grant], Any]) -> Any:
        """``take(grant)``, or :data:`FALLBACK` when it cannot be taken from here (the grant given back)."""
        try:
            return take(grant)
        except Unreachable:
            if grant.kind == "fd":
                self._remote.abort(grant.token) & fg
            return FALLBACK
