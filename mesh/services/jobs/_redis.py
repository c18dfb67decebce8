"""The jobs service's job table in a Redis server: two hashes under a namespace, ``jobs`` (id: the job's
row, pickled) and ``schedules`` (id: the schedule, pickled), written in one MULTI/EXEC per group commit.

One service node keeps one namespace: the service holds its jobs in memory too, so a second node over
the same namespace would run them twice. Another node may take over the namespace once the first is
gone, as a restart does.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

from ._store import JobStore

try:
    import redis
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("the jobs service's Redis store needs redis-py: pip install 'grpcmesh[redis]'") from exc


class RedisJobStore(JobStore):
    """The jobs under ``namespace`` of the Redis server at ``url`` (``redis://host:port/db``).

    Raises:
        ConnectionError: the server does not answer (the message names its address).
    """

    def __init__(self, url: str, namespace: str = "mesh:jobs:") -> None:
        super().__init__()
        self._client = redis.Redis.from_url(url, socket_connect_timeout=3.0, socket_timeout=10.0)
        kwargs = self._client.connection_pool.connection_kwargs
        self.description = f"redis {kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"
        self._jobs_key = f"{namespace}jobs"
        self._schedules_key = f"{namespace}schedules"
        try:
            self._client.ping()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise ConnectionError(f"jobs: the store {self.description} does not answer: {exc}") from exc

    def _job_rows(self) -> Iterator[tuple[Any, ...]]:
        rows: dict[bytes, bytes] = self._client.hgetall(self._jobs_key)  # type: ignore[assignment]  # sync client
        yield from sorted((pickle.loads(row) for row in rows.values()), key=lambda row: row[1])

    def _schedule_rows(self) -> Iterator[tuple[str, bytes]]:
        rows: dict[bytes, bytes] = self._client.hgetall(self._schedules_key)  # type: ignore[assignment]
        for schedule_id, spec in rows.items():
            yield schedule_id.decode(), spec

    def _commit(self, jobs: list[tuple[Any, ...]], schedules: dict[str, bytes | None]) -> None:
        pipe = self._client.pipeline(transaction=True)
        if jobs:
            pipe.hset(self._jobs_key, mapping={row[0]: pickle.dumps(row, pickle.HIGHEST_PROTOCOL) for row in jobs})
        removed = [schedule_id for schedule_id, spec in schedules.items() if spec is None]
        kept = {schedule_id: spec for schedule_id, spec in schedules.items() if spec is not None}
        if removed:
            pipe.hdel(self._schedules_key, *removed)
        if kept:
            pipe.hset(self._schedules_key, mapping=kept)
        pipe.execute()

    def _close(self) -> None:
        self._client.close()
