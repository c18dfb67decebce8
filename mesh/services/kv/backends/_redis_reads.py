"""The Redis backend's gets, on the service node's event loop, on a connection of their own.

They use redis-py's asyncio connection itself: its client would add a lock, its retries and, with a
socket timeout, a task for each write and a timer for each read, which together cost as much as the
round trip to a server on the same machine. A silent server is caught by a watchdog instead: once a
second, it drops the connection of a read that has waited ``answer_timeout`` seconds, and that read
fails with :class:`ConnectionError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import redis
import redis.asyncio

from ._batches import Outcome

FAILURES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
"""redis-py's errors of a server that cannot be reached or does not answer."""
# Seconds between the watchdog's looks at the read that is out.
WATCH_EVERY = 1.0


class RedisReads:
    """Commands sent in one write and their replies read, for the backend named ``name`` (in errors),
    at ``url``; connected on the first use, on the loop of that use."""

    def __init__(self, url: str, name: str, connect_timeout: float, answer_timeout: float) -> None:
        self._url, self._name = url, name
        self._connect_timeout, self._answer_timeout = connect_timeout, answer_timeout
        self._reader: redis.asyncio.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # When the read that is out was sent (loop time), whether the watchdog dropped it, its timer.
        self._asked_at: float | None = None
        self._silent = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._dropping: set[asyncio.Task[None]] = set()
        self._closed = False

    async def ask(self, commands: list[tuple[str, ...]]) -> list[Outcome]:
        """The replies to ``commands`` (each its value, or its error reply as a ResponseError); once more
        on a new connection when the first try finds the connection broken (the server restarted).

        Raises:
            ConnectionError: the server does not answer: it cannot be reached twice, or it kept silent.
        """
        failure: Exception | None = None
        for _ in range(2):
            try:
                return await self._ask_once(commands)
            except FAILURES as exc:
                failure = exc
                await self._drop()
                if self._silent:
                    self._silent = False
                    raise ConnectionError(
                        f"kv: the backend {self._name} does not answer within {self._answer_timeout:g} s"
                    ) from exc
        raise ConnectionError(f"kv: the backend {self._name} does not answer: {failure}") from failure

    async def _ask_once(self, commands: list[tuple[str, ...]]) -> list[Outcome]:
        connection = await self._connection()
        assert self._loop is not None
        self._asked_at = self._loop.time()
        try:
            await connection.send_packed_command(connection.pack_commands(commands), check_health=False)
            replies: list[Outcome] = []
            for _ in commands:
                try:
                    replies.append((await connection.read_response(), None))
                except redis.exceptions.ResponseError as exc:
                    replies.append((None, exc))
            return replies
        finally:
            self._asked_at = None

    async def _connection(self) -> Any:
        if self._reader is None:
            reader = redis.asyncio.Redis.from_url(
                self._url, single_connection_client=True, socket_connect_timeout=self._connect_timeout
            )
            await reader.initialize()
            self._reader, self._loop = reader, asyncio.get_running_loop()
            if self._watchdog is None:
                self._watchdog = self._loop.call_later(WATCH_EVERY, self._watch)
        return self._reader.connection

    def _watch(self) -> None:
        """Drop the connection of a read out for too long; look again in a second while connected."""
        self._watchdog = None
        if self._closed or self._reader is None or self._loop is None:
            return
        if self._asked_at is not None and self._loop.time() - self._asked_at >= self._answer_timeout:
            self._silent = True
            task = self._loop.create_task(self._drop())
            self._dropping.add(task)
            task.add_done_callback(self._dropping.discard)
            return
        self._watchdog = self._loop.call_later(WATCH_EVERY, self._watch)

    async def _drop(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            with contextlib.suppress(Exception):
                await reader.aclose()

    def close(self) -> None:
        """Close the connection, on its loop while that runs (a loop that has stopped took it along);
        from any thread but the loop's."""
        self._closed = True
        loop = self._loop
        if self._reader is None or loop is None or loop.is_closed():
            return
        if loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._drop(), loop).result(5.0)
        else:
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._drop())
