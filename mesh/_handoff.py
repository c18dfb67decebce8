"""Handing calls from a caller's thread to the node's event loop, and their replies back.

``asyncio``'s ``call_soon_threadsafe`` wakes the loop (a write to its self-pipe) on every call, and
``run_coroutine_threadsafe`` adds a Task and a chain of futures to every call. Instead a
:class:`Handoff` queues functions for the loop and wakes it once per burst (holding back a thread
that runs too far ahead), and a :class:`ReplyFuture` is set by the link's reader and decoded in the
caller's own thread.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ._outcome import value_of
from .errors import CallCancelled, CallTimeout, NodeStopped

if TYPE_CHECKING:
    from ._deadlines import Bucket
    from ._link import PeerLink

logger = logging.getLogger("mesh")

# Entries a thread may hand in ahead of the loop before it waits for the loop to catch up.
QUEUE_LIMIT = 512
# The longest such a wait lasts: a loop that is stopping, or blocked, must not hold callers up.
CATCH_UP_WAIT = 0.05
# The running loop of this thread or None; without get_running_loop()'s exception when none runs.
running_loop = asyncio._get_running_loop


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


_PENDING, _RESULT, _ERROR, _CANCELLED = range(4)


class ReplyFuture:
    """The outcome of one call made from a thread other than the node's loop.

    The loop sets the reply envelope (``pb.Result`` or ``pb.Error``) as it arrives, and
    :meth:`value` decodes it in the thread that asks; a call that went another way (no live link
    yet, or a callback of this very node) is settled with its value by :meth:`settle`. Lighter than
    ``concurrent.futures.Future``: one plain lock, and a lock to sleep on only for a thread that waits.
    """

    __slots__ = (
        "_callbacks",
        "_lock",
        "_settled",
        "_state",
        "_task",
        "_value",
        "_waiters",
        "call_id",
        "deadline",
        "link",
        "loop",
        "name",
        "timeout",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, timeout: float | None) -> None:
        self.loop = loop
        self.name = name
        self.timeout = timeout
        self.link: PeerLink | None = None
        self.call_id = 0
        # The bucket of this call's timeout (see mesh._deadlines), left as it is settled.
        self.deadline: Bucket | None = None
        self._settled = False
        self._task: asyncio.Task[Any] | None = None
        self._lock = threading.Lock()
        self._state = _PENDING
        self._value: Any = None
        # Made only when a thread waits or a callback is added: most futures never need them.
        self._waiters: list[threading.Lock] | None = None
        self._callbacks: list[Callable[[ReplyFuture], None]] | None = None

    def __repr__(self) -> str:
        return f"<ReplyFuture of {self.name!r}: {('pending', 'result', 'error', 'cancelled')[self._state]}>"

    def _finish(self, state: int, value: Any) -> bool:
        with self._lock:
            if self._state != _PENDING:
                return False
            self._state, self._value = state, value
            waiters, self._waiters = self._waiters, None
            callbacks, self._callbacks = self._callbacks, None
        if self.deadline is not None:
            self.deadline.pop(self, None)
        if waiters:
            for waiter in waiters:
                waiter.release()
        if callbacks:
            for callback in callbacks:
                callback(self)
        return True

    def set_result(self, result: Any) -> None:
        """Set the reply (ignored once the future is done: the caller may have cancelled it)."""
        self._finish(_RESULT, result)

    def set_exception(self, exception: BaseException) -> None:
        self._finish(_ERROR, exception)

    def _cancel(self) -> bool:
        """Settle as cancelled unless done; True if it is cancelled now."""
        return self._finish(_CANCELLED, None)

    def done(self) -> bool:
        return self._state != _PENDING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def add_done_callback(self, fn: Callable[[ReplyFuture], None]) -> None:
        """Call ``fn(self)`` once done, in the thread that finishes it (at once if it is done)."""
        with self._lock:
            if self._state == _PENDING:
                if self._callbacks is None:
                    self._callbacks = [fn]
                else:
                    self._callbacks.append(fn)
                return
        fn(self)

    def _wait(self, timeout: float | None) -> bool:
        if self._state != _PENDING:
            return True
        waiter = threading.Lock()
        waiter.acquire()
        with self._lock:
            if self._state != _PENDING:
                return True
            if self._waiters is None:
                self._waiters = [waiter]
            else:
                self._waiters.append(waiter)
        if waiter.acquire(timeout=-1 if timeout is None else timeout):
            return True
        with self._lock:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return self._state != _PENDING

    def value(self, timeout: float | None = None) -> Any:
        """Wait up to ``timeout`` seconds for the outcome; return the value or raise the error.

        Raises:
            CallTimeout: no outcome within ``timeout`` (the call goes on).
            CallCancelled: the call was cancelled.
        """
        if not self._wait(timeout):
            raise CallTimeout(f"result of {self.name!r} not ready within {timeout} s")
        state, value = self._state, self._value
        if state == _CANCELLED:
            raise CallCancelled(f"call of {self.name!r} was cancelled")
        if state == _ERROR:
            raise value
        if self._settled:
            return value
        assert self.link is not None
        return value_of(value, self.name, self.link.peer_name)

    async def settle(self, outcome: Coroutine[Any, Any, Any]) -> None:
        """Await ``outcome`` on the loop and make its value (or error) this future's."""
        if self.done():
            outcome.close()
            return
        self._task = asyncio.current_task()
        try:
            value = await outcome
        except asyncio.CancelledError:
            # Not cancelled by its caller (that is abandon()), so by the node stopping.
            self.set_exception(NodeStopped(f"the node stopped before the call of {self.name!r} ended"))
            raise
        except BaseException as exc:
            self.set_exception(exc)
        else:
            self._settled = True
            self.set_result(value)

    def abandon(self) -> None:
        """Stop the call if it has no outcome yet (the callee is asked to stop too). Any thread."""
        if self._cancel() and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._forget)

    def _forget(self) -> None:
        if self._task is not None:
            self._task.cancel()
        elif self.link is not None:
            self.link.forget_call(self.call_id, tell_peer=True)
