"""The kv service's backend for many machines: a Redis server, shared by several service nodes.

Every write goes to Redis in one transaction with a PUBLISH of the change on the namespace's channel;
each service node listens to that channel in a thread of its own and hands the changes to its
watches, so a watch sees the writes of every node. ``incr`` and ``cas`` read, decide and write under
WATCH, retried when another writer came between. Writes go to Redis from one thread, in batches
(``_batches.py``): those that wait while a batch is sent share the next, one transaction and one round
trip for them all, in the order they came; reads go from another thread, pipelined the same way. The
node's event loop never waits on the network.
"""

from __future__ import annotations

import contextlib
import pickle
import threading
from collections.abc import Callable
from typing import Any

from .._watchers import RawChange, Watch, Watchers
from . import Update
from ._batches import Batches, Outcome

try:
    import redis
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("the kv service's Redis backend needs redis-py: pip install 'grpcmesh[redis]'") from exc

# Deletes the key and publishes the change only when there was a key: one round trip, atomically.
_DELETE = """
local n = redis.call('DEL', KEYS[1])
if n > 0 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return n
"""
_FAILURES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class RedisBackend:
    """The keys under ``namespace`` of the Redis server at ``url`` (``redis://host:port/db``).

    Raises:
        ConnectionError: the server does not answer (the message names its address).
    """

    def __init__(self, url: str, namespace: str = "mesh:kv:") -> None:
        self._client = redis.Redis.from_url(url, socket_connect_timeout=3.0, socket_timeout=10.0)
        self.name = f"redis {_address(self._client)}"
        self._namespace = namespace
        self._channel = f"{namespace}changes"
        self._delete = self._client.register_script(_DELETE)
        self.watchers = Watchers()
        self._closing = threading.Event()
        self._subscribed = threading.Event()
        self._run(self._client.ping)
        self._writes = Batches("kv-redis-writer", self._write)
        self._reads = Batches("kv-redis-reader", self._read)
        self._listener = threading.Thread(target=self._listen, name="kv-redis-changes", daemon=True)
        self._listener.start()
        if not self._subscribed.wait(5.0):
            self.close()
            raise ConnectionError(f"kv: the backend {self.name} did not confirm the subscription to its changes")

    def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _FAILURES as exc:
            raise ConnectionError(f"kv: the backend {self.name} does not answer: {exc}") from exc

    def _outcome(self, fn: Callable[..., Any], *args: Any) -> Outcome:
        try:
            return self._run(fn, *args), None
        except Exception as exc:
            return None, exc

    # ------------------------------------------------------------------ the callbacks' side

    async def set(self, key: str, data: bytes, ttl: float | None) -> None:
        await self._writes.submit(("set", key, data, ttl), self._closed)

    async def get(self, key: str) -> bytes | None:
        data: bytes | None = await self._reads.submit(("get", key), self._closed)
        return data

    async def delete(self, key: str) -> bool:
        deleted: bool = await self._writes.submit(("delete", key), self._closed)
        return deleted

    async def keys(self, prefix: str) -> list[str]:
        found: list[str] = await self._reads.submit(("keys", prefix), self._closed)
        return found

    async def update(self, key: str, fn: Update) -> Any:
        return await self._writes.submit(("update", key, fn), self._closed)

    def statistics(self) -> dict[str, int]:
        """Counters: ``writes`` sent (or failed) and the ``commits`` (round trips of batches) that held them."""
        return {"writes": self._writes.applied, "commits": self._writes.batches}

    @property
    def _closed(self) -> str:
        return f"kv: the backend {self.name} is closed"

    # ------------------------------------------------------------------ the batches, in their threads

    def _write(self, items: list[tuple[Any, ...]]) -> tuple[list[Outcome], None]:
        """Send the sets and deletes between two updates in one transaction (one round trip); an
        update runs alone, under WATCH, where it stands, so that writes apply in their order."""
        outcomes: list[Outcome] = [(None, None)] * len(items)
        queued: list[int] = []
        pipe = self._client.pipeline(transaction=True)
        for index, item in enumerate(items):
            kind, key = item[0], self._namespace + item[1]
            if kind == "update":
                self._flush(pipe, items, queued, outcomes)
                outcomes[index] = self._outcome(self._update, item[1], item[2])
                continue
            if kind == "set":
                data, ttl = item[2], item[3]
                pipe.set(key, data, px=None if ttl is None else max(1, round(ttl * 1000)))
                pipe.publish(self._channel, pickle.dumps((item[1], data)))
            else:
                self._delete(keys=[key], args=[self._channel, pickle.dumps((item[1], None))], client=pipe)
            queued.append(index)
        self._flush(pipe, items, queued, outcomes)
        return outcomes, None

    def _flush(self, pipe: Any, items: list[tuple[Any, ...]], queued: list[int], outcomes: list[Outcome]) -> None:
        if not queued:
            return
        try:
            replies = iter(self._run(pipe.execute, raise_on_error=False))
        except ConnectionError as exc:
            for index in queued:
                outcomes[index] = (None, exc)
        else:
            for index in queued:
                # A set has two replies (SET, PUBLISH); a delete one, the script's count of keys deleted.
                is_set = items[index][0] == "set"
                got = [next(replies) for _ in range(2 if is_set else 1)]
                error = next((reply for reply in got if isinstance(reply, Exception)), None)
                if error is not None:
                    outcomes[index] = (None, error)
                else:
                    outcomes[index] = (None if is_set else got[0] > 0, None)
        queued.clear()

    def _read(self, items: list[tuple[str, str]]) -> tuple[list[Outcome], None]:
        """The gets of a batch in one pipeline (one round trip); a keys() scans where it stands."""
        outcomes: list[Outcome] = [(None, None)] * len(items)
        gets: list[int] = []
        pipe = self._client.pipeline(transaction=False)
        for index, (kind, argument) in enumerate(items):
            if kind == "get":
                pipe.get(self._namespace + argument)
                gets.append(index)
            else:
                outcomes[index] = self._outcome(self._keys, argument)
        if gets:
            for index, reply in zip(gets, self._run(pipe.execute, raise_on_error=False), strict=True):
                outcomes[index] = (None, reply) if isinstance(reply, Exception) else (reply, None)
        return outcomes, None

    def _keys(self, prefix: str) -> list[str]:
        start = len(self._namespace)
        match = _glob_escape(self._namespace + prefix) + "*"
        return sorted(key.decode()[start:] for key in self._client.scan_iter(match=match, count=1000))

    def _update(self, key: str, fn: Update) -> Any:
        name = self._namespace + key
        with self._client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(name)
                    current: bytes | None = pipe.get(name)  # type: ignore[assignment]  # sync client
                    new, result = fn(current)
                    if new is None:
                        pipe.unwatch()
                        return result
                    pipe.multi()
                    pipe.set(name, new, keepttl=True)
                    pipe.publish(self._channel, pickle.dumps((key, new)))
                    pipe.execute()
                    return result
                except redis.exceptions.WatchError:
                    continue

    async def watch(self, prefix: str) -> Watch:
        return self.watchers.open(prefix)

    def close(self) -> None:
        """Stop listening for changes and close the connections; idempotent."""
        if self._closing.is_set():
            return
        self._closing.set()
        if self._listener.is_alive():
            self._listener.join()
        self._writes.close()
        self._reads.close()
        self._client.close()

    # ------------------------------------------------------------------ the changes of every node

    def _listen(self) -> None:
        """Hand the channel's changes to the watches until closed; a lost subscription ends them."""
        while not self._closing.is_set():
            pubsub = self._client.pubsub()
            try:
                pubsub.subscribe(self._channel)
                while not self._closing.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._subscribed.set()
                        continue
                    changes: list[RawChange] = [pickle.loads(message["data"])]
                    while (more := pubsub.get_message(timeout=0.0)) is not None:
                        if more["type"] == "message":
                            changes.append(pickle.loads(more["data"]))
                    self.watchers.post(changes)
            except _FAILURES as exc:
                self.watchers.post_failure(
                    ConnectionError(
                        f"kv.watch lost its subscription to the backend {self.name} ({exc}) and may have missed "
                        "changes: watch again"
                    )
                )
                self._closing.wait(0.5)
            finally:
                with contextlib.suppress(*_FAILURES):
                    pubsub.close()


def _address(client: redis.Redis) -> str:
    """Where ``client`` connects, for messages: ``host:port/db`` or the UNIX socket's path (no password)."""
    options = client.connection_pool.connection_kwargs
    if "path" in options:
        return f"unix:{options['path']}/{options.get('db', 0)}"
    return f"{options.get('host', 'localhost')}:{options.get('port', 6379)}/{options.get('db', 0)}"


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
