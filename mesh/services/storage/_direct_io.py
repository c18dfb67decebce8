"""The client's side of the ways around the mesh's data path (:class:`~.backends.Grant`): an open file
received from a local directory's side door, or a presigned URL fetched or filled with the standard
library (no boto3 on the client)."""

from __future__ import annotations

import errno
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from http.client import HTTPResponse
from types import TracebackType
from typing import Any

from .backends import CHUNK_SIZE, Grant

CONNECT_TIMEOUT = 5.0
"""Seconds a side door may take to answer before the call takes the mesh's data path instead."""

HTTP_TIMEOUT = 30.0
"""Seconds an S3 server may take to answer, or stay silent in a transfer, through a presigned URL."""


class Unreachable(Exception):
    """The grant's way cannot be taken from here (another machine, mount namespace or network): the call
    goes through the mesh instead."""


class Opened:
    """An open file received through a side door, and the connection it came by (kept open for a write:
    the service discards the file if it ends before a commit)."""

    def __init__(self, grant: Grant) -> None:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(CONNECT_TIMEOUT)
        try:
            connection.connect(grant.where)
            connection.sendall(grant.token.encode("ascii") + b"\n")
            message, fds, _, _ = socket.recv_fds(connection, 256, 1)
        except OSError as exc:
            connection.close()
            raise Unreachable(f"the side door {grant.where}: {exc}") from exc
        if not fds:
            connection.close()
            said = message.decode("utf-8", "replace").removeprefix("NO ")
            raise PermissionError(f"the side door of {grant.about} refused its token: {said}")
        self.fd = fds[0]
        self._connection = connection

    def close(self) -> None:
        os.close(self.fd)
        self._connection.close()

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def read_whole(grant: Grant) -> bytes:
    """The whole object the grant reads."""
    if grant.kind == "url":
        with _fetch(grant) as response:
            return _read(grant, response, -1)
    with Opened(grant) as opened, open(opened.fd, "rb", buffering=0, closefd=False) as file:
        return file.readall()


def read_chunks(grant: Grant, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The object the grant reads, in chunks of ``chunk_size`` (the last may be shorter). The file is
    opened, or the URL fetched, before the iterator is returned (:class:`Unreachable` is raised here)."""
    if grant.kind == "url":
        return _response_chunks(grant, _fetch(grant), chunk_size)
    return _file_chunks(Opened(grant), chunk_size)


def _file_chunks(opened: Opened, chunk_size: int) -> Iterator[bytes]:
    with opened, open(opened.fd, "rb", buffering=0, closefd=False) as file:
        while chunk := file.read(chunk_size):
            yield chunk


def _response_chunks(grant: Grant, response: HTTPResponse, chunk_size: int) -> Iterator[bytes]:
    with response:
        while chunk := _read(grant, response, chunk_size):
            yield chunk


def _fetch(grant: Grant) -> HTTPResponse:
    try:
        response: HTTPResponse = _opener().open(grant.where, timeout=HTTP_TIMEOUT)
    except (urllib.error.URLError, OSError) as exc:
        raise Unreachable(f"{grant.about}: {exc}") from exc
    return response


def _read(grant: Grant, response: HTTPResponse, size: int) -> bytes:
    try:
        return response.read(size if size >= 0 else None)
    except OSError as exc:
        raise ConnectionError(f"storage backend {grant.about} broke off a transfer: {exc}") from exc


def _opener() -> urllib.request.OpenerDirector:
    """One per transfer, so that the proxy settings of the environment are read as they are now
    (``urlopen``'s opener keeps those of its first use)."""
    return urllib.request.build_opener()


def put_url(grant: Grant, data: bytes) -> None:
    """PUT ``data`` to the grant's presigned URL."""
    request = urllib.request.Request(
        grant.where, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    try:
        with _opener().open(request, timeout=HTTP_TIMEOUT):
            pass
    except (urllib.error.URLError, OSError) as exc:
        raise Unreachable(f"{grant.about}: {exc}") from exc


def write_chunks(grant: Grant, opened: Opened, path: str, chunks: Iterable[Any]) -> None:
    """Write ``chunks`` (bytes-like) to the open file; a full disk says so as the service does."""
    try:
        with open(opened.fd, "wb", closefd=False) as out:
            for number, chunk in enumerate(chunks):
                if not isinstance(chunk, bytes | bytearray | memoryview):
                    raise TypeError(f"put {path!r}: item {number} of the stream is {type(chunk).__name__}, not bytes")
                out.write(chunk)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise OSError(
                errno.ENOSPC, f"no space left on the disk of {grant.about}; the old object is kept", path
            ) from exc
        raise
