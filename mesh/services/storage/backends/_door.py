"""The side door of a local directory: a UNIX socket through which a client on the same machine receives an
open file descriptor of the storage's (``SCM_RIGHTS``), so that it reads or writes the file itself.

::

    client                       service (storage.* callback)            side door (its UNIX socket)
      | storage.open_read(path) ---> checks the path, opens the file ---> offer(fd): a one-time token
      | <--------------------------- Grant(socket path, token, boot id)
      | connect, send "TOKEN\\n" ----------------------------------------> token known, unexpired, unused?
      | <----------------------------------------------------------------- "OK" + the descriptor (or "NO why")
      | reads (or writes) the file; for a write, storage.commit(token), then closes the connection

The socket lives in a private folder (mode 0700, removed on :meth:`SideDoor.close`), so only this user
(and root) can connect; a token is good once and for ``ttl`` seconds. A descriptor handed over is
closed here (a read) or kept until the connection ends (a write: the service syncs and renames the file
on commit, and a connection that ends without one discards it).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_TTL = 10.0
"""Seconds a token stays good."""

_HELLO_LIMIT = 128
_HELLO_TIMEOUT = 5.0


@functools.cache
def boot_id() -> str:
    """What names this machine's running kernel: a client with another one cannot share a file descriptor."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as found:
            return found.read().strip()
    except OSError:
        return socket.gethostname()


@dataclass
class _Offer:
    fd: int
    expires: float
    done: Callable[[str], None]
    """Run once the descriptor's connection has ended, or the token expired or was withdrawn."""
    keep_open: bool


class SideDoor:
    """A UNIX socket that hands the descriptors it is offered to whoever brings their token; started on
    the first :meth:`offer`, stopped by :meth:`close`."""

    def __init__(self, ttl: float = DEFAULT_TTL) -> None:
        self.ttl = ttl
        self.passed = 0
        """Descriptors handed over so far."""
        self._offers: dict[str, _Offer] = {}
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._folder = ""
        self._closed = False

    @property
    def path(self) -> str:
        """The socket's path ("" before the first offer)."""
        return os.path.join(self._folder, "door") if self._folder else ""

    def offer(self, fd: int, done: Callable[[str], None], keep_open: bool = False) -> str:
        """Hand ``fd`` to the first client that brings the returned token within ``ttl`` seconds; ``done(token)``
        runs once it is over (with ``keep_open``, once that client's connection ends).

        Raises:
            OSError: the socket cannot be made (its path too long, the temp dir not writable).
        """
        token = secrets.token_urlsafe(24)
        with self._lock:
            if self._closed:
                raise RuntimeError("the storage's side door is closed")
            if self._listener is None:
                self._open()
            self._offers[token] = _Offer(fd, time.monotonic() + self.ttl, done, keep_open)
        return token

    def withdraw(self, token: str) -> None:
        """Forget ``token``'s offer if it has not been taken (its ``done()`` runs)."""
        with self._lock:
            offer = self._offers.pop(token, None)
        if offer is not None:
            offer.done(token)

    def _open(self) -> None:
        folder = tempfile.mkdtemp(prefix="mesh-storage-")  # mode 0700
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(os.path.join(folder, "door"))  # OSError when the path is too long for a socket
            listener.listen(64)
        except OSError:
            listener.close()
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._folder = folder
        atexit.register(shutil.rmtree, folder, True)
        listener.settimeout(1.0)
        self._listener = listener
        threading.Thread(target=self._serve, args=(listener,), name="storage-side-door", daemon=True).start()

    def _serve(self, listener: socket.socket) -> None:
        while not self._closed:
            self._expire()
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), name="storage-side-door", daemon=True).start()

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            stale = [token for token, offer in self._offers.items() if offer.expires < now]
            offers = [(token, self._offers.pop(token)) for token in stale]
        for token, offer in offers:
            offer.done(token)

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(_HELLO_TIMEOUT)
            try:
                token = _read_line(connection)
            except (OSError, ValueError):
                return
            with self._lock:
                offer = self._offers.pop(token, None)
            if offer is None or offer.expires < time.monotonic():
                with contextlib.suppress(OSError):
                    connection.sendall(b"NO the token is unknown, used or expired; ask the service again")
                if offer is not None:
                    offer.done(token)
                return
            try:
                socket.send_fds(connection, [b"OK"], [offer.fd])
                with self._lock:
                    self.passed += 1
                if offer.keep_open:
                    connection.settimeout(None)
                    while connection.recv(4096):
                        pass
            except OSError:
                pass
            finally:
                offer.done(token)

    def close(self) -> None:
        """Stop listening, remove the socket's folder and withdraw every offer not taken."""
        with self._lock:
            self._closed = True
            listener, self._listener = self._listener, None
            offers = list(self._offers.items())
            self._offers.clear()
        for token, offer in offers:
            offer.done(token)
        if listener is not None:
            listener.close()
            shutil.rmtree(self._folder, ignore_errors=True)


def _read_line(connection: socket.socket) -> str:
    received = b""
    while not received.endswith(b"\n"):
        more = connection.recv(_HELLO_LIMIT - len(received))
        if not more or len(received) + len(more) >= _HELLO_LIMIT:
            raise ValueError("no token")
        received += more
    return received[:-1].decode("ascii", "replace")
