"""Group commit: requests that arrive while one batch is being applied wait for the next and share it.

::

    callbacks (node loop)        the batch thread                          node loop
    await submit(item)   ──put──▶  queue ──▶ apply([item, item, ...]) ──▶  settle each future,
                                 (all that waited: one commit,              then ``after()``
                                  one fsync, one Redis round trip)

Items are applied in the order they were submitted. ``apply`` returns each item's outcome, a result
or an exception, in the batch's order, and what to run on the loop once the futures are settled (the
SQLite backend tells its watches of the changes there).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from mesh import UsageError

# The most items one batch takes; the queue holds the rest for the next.
LIMIT = 4096

Outcome = tuple[Any, "BaseException | None"]
"""An item's result, or the exception it raised (then the result is None)."""
Apply = Callable[[list[Any]], tuple[Sequence[Outcome], "Callable[[], None] | None"]]


class Batches:
    """A thread named ``name`` that applies the submitted items in batches with ``apply``, for the
    callbacks of one event loop (a node's).

    With ``idle``, it calls ``idle()`` after ``every`` seconds without an item (the SQLite backend
    sweeps expired keys then). ``closed`` is the message of the error of a submit after :meth:`close`.
    """

    def __init__(
        self, name: str, apply: Apply, *, closed: str, idle: Callable[[], None] | None = None, every: float = 1.0
    ) -> None:
        self.applied = self.batches = 0
        self._closed_error = closed
        self._apply = apply
        self._idle = idle
        self._every = every if idle is not None else None
        self._queue: queue.SimpleQueue[tuple[Any, asyncio.Future[Any]] | None] = queue.SimpleQueue()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> asyncio.Future[Any]:
        """The future of ``item``, applied with the next batch: its result, or the exception it raised.
        (A future, not a coroutine: a flood of writes makes no coroutine each.)

        Raises:
            RuntimeError: :meth:`close` was called.
            UsageError: called from another event loop than the first submit's.
        """
        if self._closed:
            raise RuntimeError(self._closed_error)
        loop = self._loop = running_loop_of(self._loop, self._thread.name)
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put((item, future))
        return future

    def close(self) -> None:
        """Apply what is queued, then end the thread; idempotent."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._every)
            except queue.Empty:
                assert self._idle is not None
                self._idle()
                continue
            if first is None:
                return
            batch, stop = [first], False
            while len(batch) < LIMIT:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if entry is None:
                    stop = True
                    break
                batch.append(entry)
            self._apply_batch(batch)
            if stop:
                return

    def _apply_batch(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        futures = [future for _, future in batch]
        try:
            outcomes, after = self._apply([item for item, _ in batch])
        except Exception as exc:  # apply failed as a whole: every item of the batch gets its error
            outcomes, after = [(None, exc)] * len(batch), None
        self.applied += len(batch)
        self.batches += 1
        # A closed loop (the node has stopped) leaves nobody waiting for these outcomes.
        with contextlib.suppress(RuntimeError):
            futures[0].get_loop().call_soon_threadsafe(settle, futures, outcomes, after)


def running_loop_of(bound: asyncio.AbstractEventLoop | None, name: str) -> asyncio.AbstractEventLoop:
    """The running loop, which must be ``bound`` (the loop of the first submit) unless that is None.

    Raises:
        UsageError: it is another: the batches ``name`` serve one node's loop.
    """
    loop = asyncio.get_running_loop()
    if bound is not None and bound is not loop:
        raise UsageError(f"{name}: a kv backend serves the node of one event loop; open a backend for each node")
    return loop


def settle(futures: list[asyncio.Future[Any]], outcomes: Sequence[Outcome], after: Callable[[], None] | None) -> None:
    """Give each of ``futures`` its outcome (but those done already: their callers gave up), then run ``after``."""
    for future, (result, error) in zip(futures, outcomes, strict=True):
        if future.done():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    if after is not None:
        after()
