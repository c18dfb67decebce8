"""The events log in Redis Streams, for a log that outlives the service's machine.

Each topic is a stream, ``<namespace>topic:<topic>``, whose entry IDs are ``0-<offset + 1>``: the
offset is the ID, so ``read`` from an offset is one XRANGE, and an event is stored once. The next
offset of each topic, each group's committed positions and the subscriptions are hashes beside
them. A write is one MULTI/EXEC transaction for the whole batch; it is as durable as the server is
configured to be (``appendonly yes`` with ``appendfsync always`` for every acknowledged publish to
survive a crash of Redis itself). One service node writes a namespace: a second one writing the
same topics is refused by Redis (an ID not above the last), and its publish raises.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from ._event import EventRows
from ._log import Retention

try:
    import redis
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("the events service's Redis backend needs redis-py: pip install 'grpcmesh[redis]'") from exc

_REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class RedisLog:
    """The events of every topic under ``namespace`` in the Redis server at ``url`` (``redis://host:port/db``).

    Raises:
        ConnectionError: the server does not answer (the message names its address).
        ValueError: ``retention`` sets a limit: the SQLite log keeps retention, this one does not.
    """

    def __init__(self, url: str, retention: Retention | None = None, namespace: str = "mesh:events:") -> None:
        self.retention = retention or Retention()
        if self.retention.max_bytes is not None or self.retention.max_age is not None:
            raise ValueError("retention (max_bytes, max_age) is kept by the SQLite log only, not in Redis")
        self._client = redis.Redis.from_url(url, socket_connect_timeout=3.0, socket_timeout=10.0)
        kwargs = self._client.connection_pool.connection_kwargs
        self.description = f"Redis Streams at {kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"
        self._namespace = namespace
        self._next = self._offsets("next")

    def _offsets(self, name: str) -> dict[str, int]:
        """The hash ``name`` of topics and offsets."""
        return {topic.decode(): int(at) for topic, at in self._run(self._client.hgetall, self._key(name)).items()}

    def _key(self, name: str) -> str:
        return f"{self._namespace}{name}"

    def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _REDIS_DOWN as exc:
            raise ConnectionError(f"events: the backend {self.description} does not answer: {exc}") from exc

    def next_offsets(self) -> dict[str, int]:
        """Each topic's next offset (the number of events ever written to it)."""
        return dict(self._next)

    def write(
        self, events: Iterable[tuple[str, bytes]], commits: Iterable[tuple[str, str, int]] = ()
    ) -> list[tuple[int, float]]:
        """Append ``events`` and record ``commits`` in one transaction; the offset and time of each event."""
        now = time.time()
        placed: list[tuple[int, float]] = []
        touched: dict[str, int] = {}
        transaction = self._client.pipeline(transaction=True)
        for topic, data in events:
            offset = touched.get(topic, self._next.get(topic, 0))
            touched[topic] = offset + 1
            transaction.xadd(self._key(f"topic:{topic}"), {"t": repr(now), "d": data}, id=f"0-{offset + 1}")
            placed.append((offset, now))
        if touched:
            transaction.hset(self._key("next"), mapping=touched)
        for group, topic, at in commits:
            transaction.hset(self._key(f"group:{group}"), topic, str(at))
        self._run(transaction.execute)
        self._next.update(touched)
        return placed

    def read(self, topic: str, start: int, limit: int) -> EventRows:
        """Up to ``limit`` events of ``topic`` from offset ``start`` on, in offset order."""
        entries = self._run(self._client.xrange, self._key(f"topic:{topic}"), min=f"0-{start + 1}", count=limit)
        return EventRows(
            topic,
            [(int(entry_id.split(b"-")[1]) - 1, float(fields[b"t"]), fields[b"d"]) for entry_id, fields in entries],
        )

    def committed(self, group: str) -> dict[str, int]:
        """``group``'s committed position in each topic it has read."""
        return self._offsets(f"group:{group}")

    def subscriptions(self) -> list[tuple[str, str, str, str | None]]:
        """The subscriptions saved: node, handler, pattern, group (``None`` for none)."""
        saved = self._run(self._client.hgetall, self._key("subscriptions"))
        return [(*json.loads(who), *json.loads(what)) for who, what in saved.items()]

    def save_subscription(self, node: str, handler: str, pattern: str, group: str | None) -> None:
        who, what = json.dumps([node, handler]), json.dumps([pattern, group])
        self._run(self._client.hset, self._key("subscriptions"), who, what)

    def drop_subscriptions(self, node: str, handler: str | None = None) -> None:
        """Forget the subscriptions of ``node`` (that one handler only, when given)."""
        gone = [json.dumps([n, h]) for n, h, _, _ in self.subscriptions() if n == node and handler in (None, h)]
        if gone:
            self._run(self._client.hdel, self._key("subscriptions"), *gone)

    def trim(self) -> None:
        """Nothing to drop: the Redis log has no retention."""

    def close(self) -> None:
        self._client.close()
