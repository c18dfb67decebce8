"""Where the kv service keeps its keys: SQLite (the default) or Redis.

A backend stores each value as the bytes the service encoded; it knows nothing of their meaning.
Read-modify-write operations (``incr``, ``cas``) hand it an :data:`Update`, which it runs atomically
against the current value.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .._watchers import Watch

Update = Callable[["bytes | None"], "tuple[bytes | None, Any]"]
"""Given a key's stored value (None: missing), the value to store (None: leave it) and the result."""


class Backend(Protocol):
    """What the kv service needs of a backend; every method is called on the service node's loop."""

    name: str
    """The backend and its address, for messages: ``sqlite /var/kv.db``, ``redis 127.0.0.1:6379/0``."""

    def set(self, items: list[tuple[str, bytes]], ttl: float | None) -> Awaitable[None]:
        """Store each ``(key, data)`` of ``items``, in their order, all or none, for ``ttl`` seconds."""
        ...

    async def get(self, keys: list[str]) -> list[bytes | None]:
        """The stored value of each of ``keys``, in their order (None: missing)."""
        ...

    async def delete(self, key: str) -> bool: ...

    async def keys(self, prefix: str) -> list[str]: ...

    async def update(self, key: str, fn: Update) -> Any: ...

    async def watch(self, prefix: str) -> Watch: ...

    def close(self) -> None: ...


def open_backend(path: str | None = None, redis: str | None = None) -> Backend:
    """The SQLite file at ``path``, or the Redis server at the URL ``redis`` (one of the two).

    Raises:
        UsageError: neither or both are given, or the SQLite file cannot be opened.
        ConnectionError: the Redis server does not answer.
    """
    from mesh import UsageError

    if (path is None) == (redis is None):
        raise UsageError("the kv service keeps its keys in a SQLite file (path) or in Redis (redis): give one")
    if redis is not None:
        from ._redis import RedisBackend

        return RedisBackend(redis)
    from ._sqlite import SQLiteBackend

    assert path is not None
    return SQLiteBackend(path)
