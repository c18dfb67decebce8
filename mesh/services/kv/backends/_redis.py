"""The kv service's backend for many machines: a Redis server, shared by several service nodes.

Every write goes to Redis in one transaction with a PUBLISH of the change on the namespace's channel;
each service node listens to that channel in a thread of its own and hands the changes to its
watches, so a watch sees the writes of every node. ``incr`` and ``cas`` read, decide and write under
WATCH, retried when another writer came between. Redis calls run in a small thread pool, so the
node's event loop never waits on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._watchers import RawChange, Watch, Watchers
from . import Update

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

    def __init__(self, url: str, namespace: str = "mesh:kv:", threads: int = 16) -> None:
        self._client = redis.Redis.from_url(url, socket_connect_timeout=3.0, socket_timeout=10.0)
        self.name = f"redis {_address(self._client)}"
        self._namespace = namespace
        self._channel = f"{namespace}changes"
        self._delete = self._client.register_script(_DELETE)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="kv-redis")
        self.watchers = Watchers()
        self._closing = threading.Event()
        self._subscribed = threading.Event()
        self._run(self._client.ping)
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

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, fn, *args)

    # ------------------------------------------------------------------ the callbacks' side

    async def set(self, key: str, data: bytes, ttl: float | None) -> None:
        await self._call(self._set, key, data, ttl)

    def _set(self, key: str, data: bytes, ttl: float | None) -> None:
        with self._client.pipeline(transaction=True) as pipe:
            pipe.set(self._namespace + key, data, px=None if ttl is None else max(1, round(ttl * 1000)))
            pipe.publish(self._channel, pickle.dumps((key, data)))
            pipe.execute()

    async def get(self, key: str) -> bytes | None:
        data: bytes | None = await self._call(self._client.get, self._namespace + key)
        return data

    async def delete(self, key: str) -> bool:
        change = pickle.dumps((key, None))
        deleted = await self._call(self._delete, [self._namespace + key], [self._channel, change])
        return bool(deleted)

    async def keys(self, prefix: str) -> list[str]:
        found: list[str] = await self._call(self._keys, prefix)
        return found

    def _keys(self, prefix: str) -> list[str]:
        start = len(self._namespace)
        match = _glob_escape(self._namespace + prefix) + "*"
        return sorted(key.decode()[start:] for key in self._client.scan_iter(match=match, count=1000))

    async def update(self, key: str, fn: Update) -> Any:
        return await self._call(self._update, key, fn)

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
        self._pool.shutdown(wait=True)
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
