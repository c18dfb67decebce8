"""The kv service's backend for many machines: a Redis server, shared by several service nodes.

Every write goes to Redis in one transaction with a PUBLISH of its changes on the namespace's channel;
each service node listens to that channel in a thread of its own and hands the changes to its
watches, so a watch sees the writes of every node. ``incr`` and ``cas`` read, decide and write under
WATCH, retried when another writer came between. Writes go to Redis from one thread, in batches
(``_batches.py``): those that wait while a batch is sent share the next, one transaction and one round
trip for them all, in the order they came. Gets go from the node's event loop itself, on an asyncio
connection of their own (``_redis_reads.py``), batched on the loop (``_loop_batches.py``): a lone
``get`` is one round trip with no thread between, and the gets that come while one is out share the
next write. The loop never blocks on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from .._watchers import RawChange, Watch, Watchers
from . import Update
from ._batches import Batches, Outcome
from ._loop_batches import LoopBatches

try:
    import redis

    from ._redis_reads import FAILURES, RedisReads
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("the kv service's Redis backend needs redis-py: pip install 'grpcmesh[redis]'") from exc

# Deletes the key and publishes the change only when there was a key: one round trip, atomically.
_DELETE = """
local n = redis.call('DEL', KEYS[1])
if n > 0 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return n
"""
# Seconds: to connect, and for an answer.
_CONNECT_TIMEOUT, _ANSWER_TIMEOUT = 3.0, 10.0


class RedisBackend:
    """The keys under ``namespace`` of the Redis server at ``url`` (``redis://host:port/db``); a call
    whose server keeps silent fails after ``answer_timeout`` seconds.

    Raises:
        ConnectionError: the server does not answer (the message names its address).
    """

    def __init__(self, url: str, namespace: str = "mesh:kv:", answer_timeout: float = _ANSWER_TIMEOUT) -> None:
        self._client = redis.Redis.from_url(url, socket_connect_timeout=_CONNECT_TIMEOUT, socket_timeout=answer_timeout)
        self.name = f"redis {_address(self._client)}"
        self._gets = RedisReads(url, self.name, _CONNECT_TIMEOUT, answer_timeout)
        self._closed = f"kv: the backend {self.name} is closed"
        self._namespace = namespace
        self._channel = f"{namespace}changes"
        self._delete = self._client.register_script(_DELETE)
        self.watchers = Watchers()
        self._closing = threading.Event()
        self._subscribed = threading.Event()
        self._run(self._client.ping)
        self._writes = Batches("kv-redis-writer", self._write, closed=self._closed)
        self._reads = LoopBatches("kv-redis-reader", self._read)
        self._listener = threading.Thread(target=self._listen, name="kv-redis-changes", daemon=True)
        self._listener.start()
        if not self._subscribed.wait(5.0):
            self.close()
            raise ConnectionError(f"kv: the backend {self.name} did not confirm the subscription to its changes")

    def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FAILURES as exc:
            raise ConnectionError(f"kv: the backend {self.name} does not answer: {exc}") from exc

    def _outcome(self, fn: Callable[..., Any], *args: Any) -> Outcome:
        try:
            return self._run(fn, *args), None
        except Exception as exc:
            return None, exc

    # ------------------------------------------------------------------ the callbacks' side

    def set(self, items: list[tuple[str, bytes]], ttl: float | None) -> Awaitable[None]:
        return self._writes.submit(("set", items, ttl))

    async def get(self, keys: list[str]) -> list[bytes | None]:
        values: list[bytes | None] = await self._read_one(("get", keys))
        return values

    async def delete(self, key: str) -> bool:
        deleted: bool = await self._writes.submit(("delete", key))
        return deleted

    async def keys(self, prefix: str) -> list[str]:
        found: list[str] = await self._read_one(("keys", prefix))
        return found

    async def update(self, key: str, fn: Update) -> Any:
        return await self._writes.submit(("update", key, fn))

    def statistics(self) -> dict[str, int]:
        """Counters: ``writes`` sent (or failed) and the ``commits`` (round trips of batches) that held
        them; ``reads`` and the round trips (``read_trips``) that held those."""
        return {
            "writes": self._writes.applied,
            "commits": self._writes.batches,
            "reads": self._reads.applied,
            "read_trips": self._reads.batches,
        }

    async def _read_one(self, item: tuple[str, Any]) -> Any:
        if self._closing.is_set():
            raise RuntimeError(self._closed)
        return await self._reads.submit(item)

    # ------------------------------------------------------------------ the writes, in the writer thread

    def _write(self, items: list[tuple[Any, ...]]) -> tuple[list[Outcome], None]:
        """Send the sets and deletes between two updates in one transaction (one round trip); an
        update runs alone, under WATCH, where it stands, so that writes apply in their order."""
        outcomes: list[Outcome] = [(None, None)] * len(items)
        queued: list[int] = []
        pipe = self._client.pipeline(transaction=True)
        for index, item in enumerate(items):
            kind = item[0]
            if kind == "update":
                self._flush(pipe, items, queued, outcomes)
                outcomes[index] = self._outcome(self._update, item[1], item[2])
                continue
            if kind == "set":
                pairs, ttl = item[1], item[2]
                if ttl is None:
                    pipe.mset({self._namespace + key: data for key, data in pairs})
                else:
                    for key, data in pairs:
                        pipe.set(self._namespace + key, data, px=max(1, round(ttl * 1000)))
                pipe.publish(self._channel, pickle.dumps(pairs))
            else:
                key = item[1]
                change = pickle.dumps([(key, None)])
                self._delete(keys=[self._namespace + key], args=[self._channel, change], client=pipe)
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
                # A set has a reply for its MSET (or each key's SET, with a ttl) and one for its PUBLISH;
                # a delete one, the script's count of keys deleted.
                item = items[index]
                is_set = item[0] == "set"
                got = [next(replies) for _ in range(_replies_of_set(item) if is_set else 1)]
                error = next((reply for reply in got if isinstance(reply, Exception)), None)
                if error is not None:
                    outcomes[index] = (None, error)
                else:
                    outcomes[index] = (None if is_set else got[0] > 0, None)
        queued.clear()

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
                    pipe.publish(self._channel, pickle.dumps([(key, new)]))
                    pipe.execute()
                    return result
                except redis.exceptions.WatchError:
                    continue

    # ------------------------------------------------------------------ the reads, on the loop

    async def _read(self, items: list[tuple[str, Any]]) -> list[Outcome]:
        """The gets of a batch in one round trip (a GET for a lone key, an MGET for more); a keys()
        scans where it stands, in a thread."""
        outcomes: list[Outcome] = [([], None) if kind == "get" else (None, None) for kind, _ in items]
        gets = [index for index, (kind, keys) in enumerate(items) if kind == "get" and keys]
        if gets:
            asked = [[self._namespace + key for key in items[index][1]] for index in gets]
            commands = [("GET", *keys) if len(keys) == 1 else ("MGET", *keys) for keys in asked]
            for index, (reply, error) in zip(gets, await self._gets.ask(commands), strict=True):
                single = len(items[index][1]) == 1
                outcomes[index] = (None, error) if error is not None else ([reply] if single else reply, None)
        for index, (kind, prefix) in enumerate(items):
            if kind == "keys":
                outcomes[index] = await asyncio.to_thread(self._outcome, self._keys, prefix)
        return outcomes

    def _keys(self, prefix: str) -> list[str]:
        start = len(self._namespace)
        match = _glob_escape(self._namespace + prefix) + "*"
        return sorted(key.decode()[start:] for key in self._client.scan_iter(match=match, count=1000))

    # ------------------------------------------------------------------ watches and closing

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
        self._gets.close()
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
                    changes: list[RawChange] = pickle.loads(message["data"])
                    while (more := pubsub.get_message(timeout=0.0)) is not None:
                        if more["type"] == "message":
                            changes.extend(pickle.loads(more["data"]))
                    self.watchers.post(changes)
            except FAILURES as exc:
                self.watchers.post_failure(
                    ConnectionError(
                        f"kv.watch lost its subscription to the backend {self.name} ({exc}) and may have missed "
                        "changes: watch again"
                    )
                )
                self._closing.wait(0.5)
            finally:
                with contextlib.suppress(*FAILURES):
                    pubsub.close()


def _replies_of_set(item: tuple[Any, ...]) -> int:
    """How many replies the commands of the set ``item`` (``"set"``, pairs, ttl) get."""
    return 2 if item[2] is None else len(item[1]) + 1


def _address(client: redis.Redis) -> str:
    """Where ``client`` connects, for messages: ``host:port/db`` or the UNIX socket's path (no password)."""
    options = client.connection_pool.connection_kwargs
    if "path" in options:
        return f"unix:{options['path']}/{options.get('db', 0)}"
    return f"{options.get('host', 'localhost')}:{options.get('port', 6379)}/{options.get('db', 0)}"


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
