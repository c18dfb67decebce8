"""``Storage(g)``: the client of a storage service. Each method returns the call, not yet made, so every
modifier applies: ``st.get(path) & FG``, ``st.put(path, data) & BG``, ``st.get_stream(path) & STREAM``."""

from __future__ import annotations

import functools
from typing import Any

from mesh import FG, STREAM, Global, PayloadTooLarge, RemoteCall

from ._direct_call import DirectCall
from ._direct_client import DirectClient
from ._service import BYTES_LIKE, MARGIN
from .backends import CHUNK_SIZE


class Storage:
    """The storage service offered under ``prefix`` (``mesh serve storage`` offers ``storage``) in ``g``'s mesh.

    Paths are names joined by ``/`` (``"reports/2026/may.pdf"``), relative to the service's root:
    an absolute path, a ``..`` part or a symbolic link out of the root raises ``UsageError``. A
    missing object raises ``FileNotFoundError``, as its own type, where the call's result is taken.

    With ``direct`` (the default), ``get`` and ``put`` ``& FG`` and ``get_stream`` ``& STREAM``, in
    sync code, move large objects around the mesh's data path where the service offers a way and it
    can be taken from here: an open file handed over a UNIX socket when the service keeps a local
    directory on this machine, a presigned URL when it keeps S3; else (and with every other modifier,
    and in async code) through the mesh. ``direct=False`` always goes through the mesh. Which sizes
    take which way: docs/services.md ("Around the mesh's data path").
    """

    def __init__(self, g: Global, prefix: str = "storage", direct: bool = True) -> None:
        self._g = g
        self._prefix = prefix
        self._remote: Any = functools.reduce(getattr, prefix.split("."), g.call)
        self._around = DirectClient(self._remote, prefix) if direct else None

    def put(self, path: str, data: Any) -> DirectCall:
        """Store ``data`` as ``path``, replacing what was there, whole or not at all; the call's result is its
        :class:`~mesh.services.storage.ObjectInfo`.

        ``data`` is ``bytes`` that fit in one message (a ``bytearray`` or ``memoryview`` is copied to
        ``bytes`` first), or a streamed argument of ``bytes`` chunks, ``stream(chunks)``, for objects of
        any size.

        Raises:
            PayloadTooLarge: ``data`` does not fit in one message (``max_message_size``); stream it.
        """
        if isinstance(data, BYTES_LIKE):
            if len(data) > self._g.max_message_size - MARGIN:
                raise PayloadTooLarge(
                    f"put {path!r}: {len(data)} bytes do not fit in one message (max_message_size is "
                    f"{self._g.max_message_size}); stream it in chunks: st.put(path, stream(chunks))"
                )
            # Only bytes travel out of band; a memoryview cannot be pickled at all.
            data = data if type(data) is bytes else bytes(data)
        around = self._around
        direct = None if around is None else functools.partial(around.put, path, data)
        return self._call("put", lambda: self._remote.put(path, data), FG, direct)

    def get(self, path: str) -> DirectCall:
        """The object's bytes, whole; an object over ``max_message_size`` raises ``PayloadTooLarge``:
        read it with :meth:`get_stream`."""
        around = self._around
        direct = None if around is None else functools.partial(around.get, path)
        return self._call("get", lambda: self._remote.get(path), FG, direct)

    def get_stream(self, path: str, chunk_size: int = CHUNK_SIZE) -> DirectCall:
        """The object in ``bytes`` chunks of ``chunk_size``: ``for chunk in st.get_stream(path) & STREAM``."""
        around = self._around
        if around is not None and not (
            isinstance(chunk_size, int) and 0 < chunk_size <= self._g.max_message_size - MARGIN
        ):
            around = None  # the service says what is wrong with it
        direct = None if around is None else functools.partial(around.get_stream, path, chunk_size)
        return self._call("get_stream", lambda: self._remote.get_stream(path, chunk_size), STREAM, direct)

    def _call(self, verb: str, remote: Any, kind: Any, direct: Any) -> DirectCall:
        return DirectCall(f"{self._prefix}.{verb}", remote, kind, direct)

    def stat(self, path: str) -> RemoteCall:
        """The object's :class:`~mesh.services.storage.ObjectInfo`: path, size, time of last write."""
        call: RemoteCall = self._remote.stat(path)
        return call

    def exists(self, path: str) -> RemoteCall:
        """Whether ``path`` holds an object."""
        call: RemoteCall = self._remote.exists(path)
        return call

    def delete(self, path: str) -> RemoteCall:
        """Remove the object (``FileNotFoundError`` if there is none)."""
        call: RemoteCall = self._remote.delete(path)
        return call

    def list(self, prefix: str = "") -> RemoteCall:
        """The paths of the objects that start with ``prefix`` (a plain string prefix), sorted."""
        call: RemoteCall = self._remote.list(prefix)
        return call
