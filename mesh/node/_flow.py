"""Flow control of a stream: the sender's credit, and the receiver's queue that gives credit back.

A stream's sender may run ``window`` items (and ``window_bytes`` encoded bytes) ahead of what its
receiver has taken; it waits on a :class:`CreditGate` for more. The receiver's :class:`Inlet` queues
what arrives and, as its consumer takes items, grants credit back in batches of half a window, so
that a producer that keeps up is never stopped and one that runs ahead is held at the window.

Either end may be a thread (a sync callback, a sync caller) or a coroutine on any event loop (an
async callback, an async caller); the items and credit come from the node's loop, or from the other
end directly when both are in this process. A :class:`Wakeups` wakes whichever waits.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

from ._reply import wake_soon

# What a stream may run ahead of its consumer by default: items, and encoded bytes.
DEFAULT_WINDOW = 256
DEFAULT_WINDOW_BYTES = 8 * 1024 * 1024


class Wakeups:
    """Threads and coroutines (on any loop) waiting for a change of state that a lock guards."""

    __slots__ = ("_futures", "condition")

    def __init__(self) -> None:
        self.condition = threading.Condition(threading.Lock())
        self._futures: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        """Wake every waiter; call with :attr:`condition` held."""
        self.condition.notify_all()
        if self._futures:
            futures, self._futures = self._futures, []
            for future in futures:
                wake_soon(future.get_loop(), future)

    def wait(self, deadline: float | None) -> bool:
        """Sleep until notified or ``deadline`` (``time.monotonic()``) passes; False once it has.
        Call with :attr:`condition` held."""
        if deadline is None:
            self.condition.wait()
            return True
        left = deadline - time.monotonic()
        return left > 0 and (self.condition.wait(left) or time.monotonic() < deadline)

    def future(self) -> asyncio.Future[None]:
        """A future of the running loop that the next :meth:`notify` resolves; made with
        :attr:`condition` held, awaited without it."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures.append(future)
        return future


async def _wait_async(future: asyncio.Future[None], deadline: float | None) -> bool:
    """Await ``future`` until ``deadline``; False once it has passed."""
    if deadline is None:
        await future
        return True
    try:
        await asyncio.wait_for(future, deadline - time.monotonic())
    except asyncio.TimeoutError:
        # wait_for cancelled the future: it is done, but nothing woke it.
        return False
    return True


class CreditGate:
    """What a stream's sender may still send: items and encoded bytes its receiver has room for."""

    __slots__ = ("_bytes", "_items", "_wakeups", "closed")

    def __init__(self, items: int, nbytes: int) -> None:
        self._items = items
        self._bytes = nbytes
        self._wakeups = Wakeups()
        # The receiver is gone, or the call ended: the sender stops.
        self.closed = False

    def grant(self, items: int, nbytes: int) -> None:
        """The receiver took ``items`` items of ``nbytes`` bytes: as many more may be sent. Any thread."""
        with self._wakeups.condition:
            self._items += items
            self._bytes += nbytes
            self._wakeups.notify()

    def close(self) -> None:
        """Stop the sender: its waits return False from now on. Any thread."""
        with self._wakeups.condition:
            self.closed = True
            self._wakeups.notify()

    def spend(self, nbytes: int) -> None:
        """An item of ``nbytes`` encoded bytes was sent (its item was taken by :meth:`acquire`)."""
        with self._wakeups.condition:
            self._bytes -= nbytes

    def acquire(self) -> bool:
        """Block this thread until one more item may be sent, and take it; False once closed."""
        with self._wakeups.condition:
            while not self.closed and (self._items <= 0 or self._bytes <= 0):
                self._wakeups.wait(None)
            if self.closed:
                return False
            self._items -= 1
            return True

    async def acquire_async(self) -> bool:
        """Like :meth:`acquire`, awaited on any loop."""
        while True:
            with self._wakeups.condition:
                if self.closed:
                    return False
                if self._items > 0 and self._bytes > 0:
                    self._items -= 1
                    return True
                future = self._wakeups.future()
            await future


class StreamEnded(Exception):
    """Raised by :meth:`Inlet.take` once the stream has ended well and every item is taken."""


# What an inlet's end is when the stream ended well and nothing is left to decode.
_ENDED: Any = object()


# What Inlet._given returns for a Batch: its items are queued, none is taken yet.
_UNBATCHED: Any = object()


class Batch:
    """Several items of a stream sent as one: a generator (or a streamed argument's iterable) that
    yields ``Batch(items)`` sends ``items`` in one message, and the receiver's loop sees them one by
    one, as if each had been yielded. It counts as one item of the stream's window.

    Batching pays where items are small and many: a message costs a few microseconds whatever it
    holds, an item inside a batch only its pickling.
    """

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any]) -> None:
        # A collection is kept as it is, so that one with a compact pickle of its own travels as that.
        self.items: Collection[Any] = items if isinstance(items, Collection) else list(items)

    def __repr__(self) -> str:
        return f"Batch(<{len(self.items)} items>)"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Batch, (self.items,))


class Inlet:
    """The receiving end of a stream: a queue that the node's loop (or a local sender) fills, and a
    consumer thread or coroutine empties, granting credit back through ``credit(items, nbytes)``.

    An item is what the sender's side pushed: a value, or for a stream from a peer what
    ``unpack(item)`` turns into one (it decodes in the consumer's thread, and may raise). The end is
    set once, by :meth:`finish`: :data:`_ENDED`, an exception, or what ``unpack_end`` turns into
    the stream's last word (it raises the peer's error, or returns).
    """

    __slots__ = (
        "_batch",
        "_batch_bytes",
        "_credit",
        "_end",
        "_items",
        "_taken",
        "_taken_bytes",
        "_unbatched",
        "_unpack",
        "_unpack_end",
        "_wakeups",
        "finished",
    )

    def __init__(
        self,
        credit: Callable[[int, int], None],
        window: int = DEFAULT_WINDOW,
        window_bytes: int = DEFAULT_WINDOW_BYTES,
        unpack: Callable[[Any], Any] | None = None,
        unpack_end: Callable[[Any], Any] | None = None,
    ) -> None:
        self._credit = credit
        self._items: collections.deque[tuple[Any, int]] = collections.deque()
        # The items of a Batch taken, still to give out one by one (the consumer's side only).
        self._unbatched: collections.deque[Any] = collections.deque()
        self._wakeups = Wakeups()
        self._end: Any = None
        self._unpack = unpack
        self._unpack_end = unpack_end
        self._taken = 0
        self._taken_bytes = 0
        self._batch = 1
        self._batch_bytes = 1
        self.set_window(window, window_bytes)
        # No more items will come (they may still be queued).
        self.finished = False

    def set_window(self, window: int, window_bytes: int) -> None:
        """Give credit back in batches of half the sender's window (of either kind)."""
        self._batch = max(1, window // 2)
        self._batch_bytes = max(1, window_bytes // 2)

    # ------------------------------------------------------------------ the sender's side

    def push(self, item: Any, nbytes: int = 0) -> None:
        """Queue ``item`` of ``nbytes`` encoded bytes (0: not encoded); ignored once finished. Any thread."""
        with self._wakeups.condition:
            if self.finished:
                return
            items = self._items
            items.append((item, nbytes))
            # The consumer waits only for an empty queue: the items of a frame after its first wake nobody.
            if len(items) == 1:
                self._wakeups.notify()

    def finish(self, end: Any = _ENDED, drop: bool = False) -> None:
        """No more items: the stream ended well (no argument), failed (an exception), or with what
        ``unpack_end`` reads; with ``drop`` the items not taken yet go too. The first end counts.
        Any thread."""
        with self._wakeups.condition:
            if self.finished:
                return
            self.finished = True
            self._end = end
            if drop:
                self._items.clear()
            self._wakeups.notify()

    # ------------------------------------------------------------------ the consumer's side

    def take(self, timeout: float | None = None) -> Any:
        """The next item, waiting up to ``timeout`` seconds for it in this thread.

        Raises:
            StreamEnded: the stream ended and every item was taken.
            TimeoutError: no item came within ``timeout``.
            Exception: what the stream ended with, once its items are taken.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._unbatched:
            with self._wakeups.condition:
                while not self._items and not self.finished:
                    if not self._wakeups.wait(deadline):
                        raise TimeoutError
                entry, grant = self._taken_entry()
            item = self._given(entry, grant)
            if item is not _UNBATCHED:
                return item
        return self._unbatched.popleft()

    async def take_async(self, timeout: float | None = None) -> Any:
        """Like :meth:`take`, awaited on any loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._unbatched:
            with self._wakeups.condition:
                ready = bool(self._items) or self.finished
                if ready:
                    entry, grant = self._taken_entry()
                else:
                    future = self._wakeups.future()
            if not ready:
                if not await _wait_async(future, deadline):
                    raise TimeoutError
                continue
            item = self._given(entry, grant)
            if item is not _UNBATCHED:
                return item
        return self._unbatched.popleft()

    def _given(self, entry: tuple[Any, int] | None, grant: tuple[int, int] | None) -> Any:
        """The item of ``entry`` taken (``grant`` given back), or :data:`_UNBATCHED` when it was a Batch,
        whose items are then queued to be given out one by one."""
        if grant is not None:
            self._credit(*grant)
        item = self._unpacked(entry)
        if type(item) is not Batch:
            return item
        self._unbatched.extend(item.items)
        return _UNBATCHED

    def _taken_entry(self) -> tuple[tuple[Any, int] | None, tuple[int, int] | None]:
        """The next queued item (None at the end), and the credit to give back now if a batch is
        full (given outside the lock). Call with the lock held."""
        if not self._items:
            return None, None
        entry = self._items.popleft()
        self._taken += 1
        self._taken_bytes += entry[1]
        if self._taken < self._batch and self._taken_bytes < self._batch_bytes:
            return entry, None
        grant = self._taken, self._taken_bytes
        self._taken = self._taken_bytes = 0
        return entry, grant

    def _unpacked(self, entry: tuple[Any, int] | None) -> Any:
        if entry is not None:
            item = entry[0]
            return item if self._unpack is None else self._unpack(item)
        end = self._end
        if end is _ENDED:
            raise StreamEnded
        if isinstance(end, BaseException):
            raise end
        if self._unpack_end is not None:
            self._unpack_end(end)
        raise StreamEnded

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("a stream's iterator cannot be pickled: send its items as a list, or pass it on as stream(it)")

    def __iter__(self) -> Inlet:
        return self

    def __next__(self) -> Any:
        try:
            return self.take()
        except StreamEnded:
            raise StopIteration from None

    def __aiter__(self) -> Inlet:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.take_async()
        except StreamEnded:
            raise StopAsyncIteration from None
