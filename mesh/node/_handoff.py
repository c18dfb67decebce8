"""Handing calls from a caller's thread to the node's event loop, and their replies back.

``asyncio``'s ``call_soon_threadsafe`` wakes the loop (a write to its self-pipe) on every call, and
``run_coroutine_threadsafe`` adds a Task and a chain of futures to every call. Instead a
:class:`Handoff` queues functions for the loop and wakes it once per burst (holding back a thread
that runs too far ahead); the reply comes back in a :class:`~mesh.node._reply.ReplyFuture`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable
from typing import Any

from ..errors import NodeStopped

logger = logging.getLogger("mesh")

# The running loop of this thread or None; without get_running_loop()'s exception when none runs.
running_loop = asyncio._get_running_loop

# Entries a thread may hand in ahead of the loop before it waits for the loop to catch up.
QUEUE_LIMIT = 512
# The longest such a wait lasts: a loop that is stopping, or blocked, must not hold callers up.
CATCH_UP_WAIT = 0.05


class Handoff:
    """Runs functions on ``loop`` in the order other threads hand them in; a burst wakes it once.
    What the loop's own thread hands in runs at once.

    A thread that is :data:`QUEUE_LIMIT` entries ahead of the loop waits for the loop to catch up
    (up to :data:`CATCH_UP_WAIT` seconds; never on the loop's own thread, nor for a loop that is not
    running). Without it a thread flooding calls runs a whole GIL switch interval (5 ms, over a
    thousand calls) ahead, and every call queued that long outlives a garbage collection or two, so
    that every later collection walks it again: about twice the collection time per NO_RETURN call
    on the caller (bench/README.md has the figures).
    """

    __slots__ = ("_closed", "_drains", "_loop", "_queue", "_scheduled", "_waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # Each entry is ``(fn, *args)``: one tuple a call, since a burst of queued calls is what the
        # garbage collector walks over again and again.
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._scheduled = False
        self._drains = 0
        self._waiters: list[threading.Lock] = []
        self._closed: str | None = None

    def __call__(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop soon; at once when called on the loop's own thread (an async
        program's node), where queueing would only wake this same loop through its self-pipe and let
        what is sent directly overtake it. Safe from any thread.

        Raises:
            NodeStopped: the hand-off is closed: its node has stopped.
        """
        if running_loop() is self._loop:
            if self._closed is not None:
                raise NodeStopped(self._closed)
            fn(*args)
            return
        queue = self._queue
        queue.append((fn, *args))
        if self._closed is not None:
            # Checked after the append: an entry queued before the close is run by the closing drain;
            # one queued after it may stay, never run, and its caller is told here.
            raise NodeStopped(self._closed)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon_threadsafe(self._drain)
        elif len(queue) >= QUEUE_LIMIT and self._loop.is_running():
            self._wait_for_drain()

    def close(self, reason: str) -> None:
        """Run what is queued, on the loop's thread, and refuse all that comes later (:class:`NodeStopped`)."""
        self._closed = reason
        self._drain()

    def _wait_for_drain(self) -> None:
        drains = self._drains
        waiter = threading.Lock()
        waiter.acquire()
        self._waiters.append(waiter)
        # A drain that ends after the append releases the waiter; one that ended before it counted.
        if self._drains == drains:
            waiter.acquire(timeout=CATCH_UP_WAIT)

    def _drain(self) -> None:
        # Cleared first: a thread that queues after this line schedules another drain itself.
        self._scheduled = False
        queue = self._queue
        while queue:
            entry = queue.popleft()
            try:
                # A slice is one new tuple that the call takes as it is; ``fn, *args =`` would add a list.
                entry[0](*entry[1:])
            except Exception:
                logger.exception("mesh: %r failed on the node's event loop", entry[0])
        self._drains += 1
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.release()
