"""The KV client's pipeline: its BG and NO_RETURN sets, sent together (as ioredis's auto-pipelining).

A set made with plain ``BG`` or ``NO_RETURN`` while an earlier batch of the same client is out waits
in the client, and goes with the others that came meanwhile in one ``kv.set_encoded`` call: one
message and one transaction on the service for them all, instead of a call each. A set that finds
nothing out goes at once, so a lone write waits for nothing. Each set keeps its own result.

The client encodes each value itself (as the service would: a bad value fails its own ``& BG``, at
once, not its batch). Every other call of the client first sends what waits, so that the service
sees the client's writes in the order they were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Generator
from typing import Any

from mesh import AsyncResult, CallTimeout, UsageError

from .._call import in_async_code

logger = logging.getLogger("mesh")

Pair = tuple[str, bytes]
Send = Callable[[list[Pair], "float | None"], AsyncResult]
"""Sends encoded pairs with their ttl as one BG call: ``kv.set_encoded(pairs, ttl) & BG``."""


class WriteResult:
    """The result of a set made with ``& BG`` through the pipeline, as an :class:`~mesh.AsyncResult`
    behaves: ``get(timeout)`` waits in sync code, ``await result`` (or ``await result.get_async()``)
    in async code, ``done()`` says whether it is in. Its value is None, or the write's error.

    Lighter than a ``concurrent.futures.Future``: a flood of sets makes one a set.
    """

    __slots__ = ("_done", "_error", "_lock", "_wakes")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._error: BaseException | None = None
        # What wakes each waiter (made only when one waits): a thread's lock, or a loop's future.
        self._wakes: list[Callable[[], None]] | None = None

    def __repr__(self) -> str:
        return f"<WriteResult of kv.set: {'done' if self._done else 'pending'}>"

    def done(self) -> bool:
        """Whether the write's outcome is in."""
        return self._done

    def get(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds (None: no limit) for the write; raise its error, if any.

        Raises:
            CallTimeout: not in within ``timeout``; the write goes on.
            UsageError: called in async code before the outcome is in, where it would block the loop.
        """
        if not self._done:
            if in_async_code():
                raise UsageError("WriteResult.get() would block the event loop; use await result.get_async()")
            waiter = threading.Lock()
            waiter.acquire()
            if self._wait_with(waiter.release) and not waiter.acquire(timeout=-1 if timeout is None else timeout):
                raise CallTimeout(f"result of 'kv.set' not ready within {timeout} s")
        if self._error is not None:
            raise self._error

    async def get_async(self, timeout: float | None = None) -> None:
        """Like :meth:`get`, without blocking the event loop."""
        if not self._done:
            loop = asyncio.get_running_loop()
            woken: asyncio.Future[None] = loop.create_future()
            if self._wait_with(functools.partial(_wake, loop, woken)):
                try:
                    await asyncio.wait_for(woken, timeout)
                except asyncio.TimeoutError:
                    raise CallTimeout(f"result of 'kv.set' not ready within {timeout} s") from None
        if self._error is not None:
            raise self._error

    def __await__(self) -> Generator[Any, None, None]:
        return self.get_async().__await__()

    def _wait_with(self, wake: Callable[[], None]) -> bool:
        """Have ``wake()`` called once the outcome is in; False if it is in already."""
        with self._lock:
            if self._done:
                return False
            if self._wakes is None:
                self._wakes = []
            self._wakes.append(wake)
        return True

    def settle(self, error: BaseException | None) -> None:
        """Give the write its outcome: done (``error`` None) or failed (the pipeline's to call)."""
        with self._lock:
            self._error, self._done = error, True
            wakes, self._wakes = self._wakes, None
        for wake in wakes or ():
            wake()


def _wake(loop: asyncio.AbstractEventLoop, woken: asyncio.Future[None]) -> None:
    with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits any more
        loop.call_soon_threadsafe(_resolve, woken)


def _resolve(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


_Waiting = tuple[str, bytes, "float | None", "WriteResult | None"]


class WritePipeline:
    """The sets of one KV client that wait for its batch out to come back; ``send`` makes the call."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._lock = threading.Lock()
        # Held from taking a batch until its calls are handed to the node: batches go in the order
        # they were taken, whichever threads take them. (Re-entrant: a call that fails at once
        # settles its run, which may send the next batch, in the same thread.)
        self._sending = threading.RLock()
        self._waiting: list[_Waiting] = []
        self._out = 0

    def add(self, key: str, data: bytes, ttl: float | None, result: WriteResult | None) -> None:
        """Send the set of ``key`` to ``data`` (encoded) now if no batch is out, else with the next;
        ``result`` (None for NO_RETURN) gets its outcome."""
        with self._lock:
            self._waiting.append((key, data, ttl, result))
            if self._out:
                return
        self._send_waiting(only_if_idle=True)

    def flush(self) -> None:
        """Send what waits now, before a call of the client that must come after it."""
        if self._waiting:
            self._send_waiting(only_if_idle=False)

    def _send_waiting(self, only_if_idle: bool) -> None:
        with self._sending:
            with self._lock:
                if not self._waiting or (only_if_idle and self._out):
                    return
                batch, self._waiting = self._waiting, []
                self._out += 1
            self._start(batch)

    def _start(self, batch: list[_Waiting]) -> None:
        """One call for each run of sets with the same ttl, in order; the batch is back once all are."""
        runs: list[list[_Waiting]] = []
        for waiting in batch:
            if runs and runs[-1][0][2] == waiting[2]:
                runs[-1].append(waiting)
            else:
                runs.append([waiting])
        left = [len(runs)]
        for run in runs:
            try:
                reply = self._send([(key, data) for key, data, _, _ in run], run[0][2])
            except Exception as exc:  # the node stopped, say: this run fails, as a call would
                self._settle(run, exc, left)
            else:
                reply.add_done_callback(functools.partial(self._back, run, left))

    def _back(self, run: list[_Waiting], left: list[int], reply: AsyncResult) -> None:
        self._settle(run, _error_of(reply), left)

    def _settle(self, run: list[_Waiting], error: BaseException | None, left: list[int]) -> None:
        for key, _, _, result in run:
            if result is not None:
                result.settle(error)
            elif error is not None:
                logger.warning("kv.set(%r) & NO_RETURN failed: %s", key, error)
        left[0] -= 1
        if left[0]:
            return
        with self._lock:
            self._out -= 1
            if self._out or not self._waiting:
                return
        self._send_waiting(only_if_idle=True)


def _error_of(reply: AsyncResult) -> BaseException | None:
    try:
        reply.value()
    except BaseException as exc:
        return exc
    return None
