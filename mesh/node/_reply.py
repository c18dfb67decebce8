"""The outcome of one call, whichever face waits for it; and every way a wait runs out of time.

One primitive sends a call (:meth:`~mesh.node._outgoing.Calling.start_call`) and completes its *target*:

- a :class:`ReplyFuture` when a thread other than the node's loop waits (sync code, an async
  program on another loop): one plain lock, set by the loop, decoded in the thread that asks. A BG
  call's :class:`AsyncResult` is one;
- a :class:`LoopReply` when a coroutine on the node's own loop awaits it: an asyncio future.

The link's reader sets either with the reply envelope, decoded by whoever waits; a call that went
the long way (dialled first, or run on this very node) is settled with its value by :meth:`settle`.
Both carry the link and call id once sent, and their timeout's bucket (see mesh.node._deadlines), which
the node's one expirer reads. Every :class:`~mesh.errors.CallTimeout` is made by :func:`timed_out`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from ..errors import CallCancelled, CallTimeout, NodeStopped, UsageError
from ..wire._outcome import value_of
from ..wire._proto import mesh_pb2 as pb
from ._handoff import running_loop

if TYPE_CHECKING:
    from ..wire._link import PeerLink
    from ._deadlines import Bucket

# What the long way returns when it sent the call on a link: the reply then comes from the link.
SENT: Any = object()


def timed_out(what: str, timeout: float | None) -> CallTimeout:
    """The error of a wait that ran out of time: ``what`` did not happen within ``timeout`` seconds."""
    return CallTimeout(f"{what} within {timeout} s")


class CallTarget:
    """What both targets of a call share (a mixin: each declares the slots)."""

    if not TYPE_CHECKING:  # where mypy would take the attributes below for missing slots
        __slots__ = ()

    # What the link sends with the call (a STREAM's flag and window): nothing but the call itself.
    flags: int = 0
    window: tuple[int, int] | None = None
    # FG(answer=...): the node (by id) and the call of it that the callee answers too.
    answer: tuple[str, int] | None
    name: str
    timeout: float | None
    link: PeerLink | None
    call_id: int
    deadline: Bucket | None
    _settled: bool
    _task: asyncio.Task[Any] | None

    if TYPE_CHECKING:

        def done(self) -> bool: ...

        def set_result(self, result: Any) -> None: ...

        def set_exception(self, exception: Any) -> None: ...

        def raw_outcome(self) -> Any: ...

    def _decoded(self, reply: Any) -> Any:
        """The value of ``reply``: a reply envelope from the link, or a value the long way settled."""
        if self._settled:
            return reply
        assert self.link is not None
        return value_of(reply, self.name, self.link.peer_name)

    async def settle(self, outcome: Coroutine[Any, Any, Any]) -> None:
        """Await ``outcome`` (the long way) on the loop and make its value or error this target's;
        :data:`SENT` leaves the target to the link that carries the call."""
        if self.done():
            outcome.close()
            return
        self._task = asyncio.current_task()
        try:
            value = await outcome
        except asyncio.CancelledError:
            # Not by its caller nor its timeout (they settle it first), so by the node stopping.
            if not self.done():
                self.set_exception(NodeStopped(f"the node stopped before the call of {self.name!r} ended"))
            raise
        except BaseException as exc:
            if not self.done():
                self.set_exception(exc)
        else:
            if value is not SENT and not self.done():
                self._settled = True
                self.set_result(value)

    def failure(self) -> str | None:
        """What the finished call failed with, in words (for its span), or None when it did not fail."""
        try:
            reply = self.raw_outcome()
        except BaseException as exc:
            return f"{type(exc).__name__}: {exc}"
        if not self._settled and isinstance(reply, tuple) and isinstance(reply[0], pb.Error):
            return f"{reply[0].type}: {reply[0].message}"
        return None

    def forget(self) -> None:
        """Stop the call on the loop: its long way, or its wait on the link (the callee is asked to stop)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        elif self.link is not None:
            self.link.forget_call(self.call_id, tell_peer=True)


def expire(target: CallTarget, here: str) -> None:
    """The timeout of a call that has not ended: it fails with :class:`CallTimeout` and stops. On the loop."""
    if target.done():
        return
    where = target.link.peer_name if target.link is not None else here
    target.set_exception(timed_out(f"callback {target.name!r} on node {where!r} did not answer", target.timeout))
    target.forget()


class LoopReply(CallTarget, asyncio.Future[Any]):
    """The target of a call awaited on the node's own loop."""

    __slots__ = ("_settled", "_task", "answer", "call_id", "deadline", "link", "name", "timeout")

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, timeout: float | None) -> None:
        super().__init__(loop=loop)
        self.name = name
        self.timeout = timeout
        self.answer = None
        self.link = None
        self.call_id = 0
        self.deadline = None
        self._settled = False
        self._task = None

    async def outcome_async(self) -> Any:
        """Wait for the reply and return its value, or raise its error; a cancelled wait stops the call."""
        try:
            reply = await self
        except asyncio.CancelledError:
            self.abandon()
            raise
        finally:
            if self.deadline is not None:
                self.deadline.pop(self, None)
        return self._decoded(reply)

    async def wait_async(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: no limit) for the outcome, without raising it; True once done."""
        await asyncio.wait((self,), timeout=timeout)
        return self.done()

    def value(self) -> Any:
        """The outcome, which is there: the value, or the error raised."""
        if self.deadline is not None:
            self.deadline.pop(self, None)
        return self._decoded(self.result())

    def raw_outcome(self) -> Any:
        """The reply as it came (undecoded), or the error raised; the call is done."""
        return self.result()

    def abandon(self) -> None:
        """Stop the call if it has no outcome, or its wait was cancelled (the callee is asked to stop
        too). On the loop."""
        if self.cancel() or self.cancelled():
            self.forget()


_PENDING, _RESULT, _ERROR, _CANCELLED = range(4)


class ReplyFuture(CallTarget):
    """The target of a call waited for in a thread other than the node's loop, or on another loop.

    Lighter than ``concurrent.futures.Future``: one plain lock, and a lock to sleep on only for a
    thread that waits.
    """

    __slots__ = (
        "_callbacks",
        "_lock",
        "_settled",
        "_state",
        "_task",
        "_value",
        "_waiters",
        "answer",
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
        self.answer: tuple[str, int] | None = None
        self.link: PeerLink | None = None
        self.call_id = 0
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

    def wait(self, timeout: float | None) -> bool:
        """Block this thread up to ``timeout`` seconds (None: no limit) for the outcome; True once done."""
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

    async def wait_async(self, timeout: float | None) -> bool:
        """Like :meth:`wait`, awaited on any loop (woken from whatever thread finishes the call)."""
        if self.done():
            return True
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self.add_done_callback(lambda _: wake_soon(loop, done))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(done, timeout)
        return self.done()

    def value(self) -> Any:
        """The outcome, which is there: the value, or the error raised.

        Raises:
            CallCancelled: the call was cancelled.
        """
        state, value = self._state, self._value
        if state == _CANCELLED:
            raise CallCancelled(f"call of {self.name!r} was cancelled")
        if state == _ERROR:
            raise value
        if self._settled:
            return value
        assert self.link is not None
        return value_of(value, self.name, self.link.peer_name)

    def raw_outcome(self) -> Any:
        """The reply as it came (undecoded), or the error raised; the call is done."""
        if self._state == _CANCELLED:
            raise CallCancelled(f"call of {self.name!r} was cancelled")
        if self._state == _ERROR:
            raise self._value
        return self._value

    def outcome(self, timeout: float | None = None, what: str = "") -> Any:
        """Wait up to ``timeout`` seconds (None: no limit) in this thread and return the outcome. A wait
        that ends without it stops the call: a timeout, with :class:`CallTimeout` (``what`` did not
        happen within ``timeout``), or Ctrl-C.
        """
        try:
            if not self.wait(timeout):
                raise timed_out(what, timeout)
            return self.value()
        except BaseException:
            self.abandon()
            raise

    async def outcome_async(self, timeout: float | None = None, what: str = "") -> Any:
        """Like :meth:`outcome`, awaited on any loop; a cancelled wait stops the call too."""
        try:
            if not await self.wait_async(timeout):
                raise timed_out(what, timeout)
            return self.value()
        except BaseException:
            self.abandon()
            raise

    def abandon(self) -> None:
        """Stop the call if it has no outcome yet (the callee is asked to stop too). Any thread."""
        if self._finish(_CANCELLED, None) and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.forget)


class AsyncResult(ReplyFuture):
    """The future of a BG call.

    ``get(timeout)`` waits in sync code, ``await get_async(timeout)`` (or ``await result``) in async
    code; ``done()`` and ``cancel()`` as for any future. (It is the reply's own future, not a wrapper
    around one: one object less for every call in flight.)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"<AsyncResult of {self.name!r}: {state}>"

    def cancel(self) -> bool:
        """Cancel the call (the callee is asked to stop it). False if it had already finished."""
        if not self.done():
            self.abandon()
        return self.cancelled()

    def get(self, timeout: float | None = None) -> Any:
        """Wait up to ``timeout`` seconds (None: no limit) and return the result, or raise its error.

        Raises:
            CallTimeout: no result within ``timeout``; the call goes on.
            CallCancelled: the call was cancelled.
            UsageError: called on the node's own event loop, where it would deadlock.
        """
        if running_loop() is self.loop:
            raise UsageError("AsyncResult.get() would block the node's event loop; use await result.get_async()")
        if not self.wait(timeout):
            raise timed_out(f"result of {self.name!r} not ready", timeout)
        return self.value()

    async def get_async(self, timeout: float | None = None) -> Any:
        """Like :meth:`get`, without blocking the event loop."""
        if not await self.wait_async(timeout):
            raise timed_out(f"result of {self.name!r} not ready", timeout)
        return self.value()

    def __await__(self) -> Generator[Any, None, Any]:
        return self.get_async().__await__()


def wake_soon(loop: asyncio.AbstractEventLoop, done: asyncio.Future[None]) -> None:
    """Resolve ``done`` on its own loop ``loop``, from whatever thread wakes it."""
    if running_loop() is loop:
        _resolve(done)
        return
    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
        loop.call_soon_threadsafe(_resolve, done)


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
