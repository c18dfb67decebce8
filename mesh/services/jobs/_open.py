"""``open_store``: the job table of ``mesh serve jobs``, a SQLite file or a Redis server."""

from __future__ import annotations

from mesh import UsageError

from ._store import JobStore


def open_store(path: str | None = None, redis: str | None = None) -> JobStore:
    """The SQLite file at ``path``, or the Redis server at the URL ``redis`` (one of the two).

    Raises:
        UsageError: neither or both are given.
        OSError: the SQLite file cannot be opened (the message names it).
        ConnectionError: the Redis server does not answer (the message names its address).
    """
    if (path is None) == (redis is None):
        raise UsageError("the jobs service keeps its jobs in a SQLite file (path) or in Redis (redis): give one")
    if redis is not None:
        from ._redis import RedisJobStore

        return RedisJobStore(redis)
    from ._sqlite import SQLiteJobStore

    assert path is not None
    return SQLiteJobStore(path)
