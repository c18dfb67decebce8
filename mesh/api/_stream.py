"""What a STREAM call gives back (:class:`Stream`), and :func:`stream`, which makes an argument a stream."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from types import TracebackType
from typing import Any

from ..errors import UsageError
from ..node._flow import DEFAULT_WINDOW, DEFAULT_WINDOW_BYTES, StreamEnded
from ..node._handoff import running_loop
from ..node._reply import timed_out
from ..node._streams import Streamed, StreamReply
from ._modifiers import positive_count


class Stream:
    """The items of a STREAM call, as the callback yields them: ``for item in stream`` in sync code,
    ``async for item in stream`` in async code.

    The callee runs at most ``window`` items ahead of what is taken here. Leaving the loop early
    (``break``, an exception), :meth:`close`, or the ``with`` block's end stops the callee's
    generator (its ``finally`` runs). An exception the callback raises comes out of the loop after
    the items it yielded before it; the callee's node going away raises
    :class:`~mesh.errors.PeerUnavailable`. It can be iterated once.
    """

    __slots__ = ("_reply", "_timeout")

    def __init__(self, reply: StreamReply, timeout: float | None) -> None:
        self._reply = reply
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"<Stream of {self._reply.name!r}: {'ended' if self._reply.finished else 'open'}>"

    @property
    def name(self) -> str:
        """The name of the callback called."""
        return self._reply.name

    def __iter__(self) -> Iterator[Any]:
        if running_loop() is self._reply.loop:
            raise UsageError(
                f"iterating the stream of {self.name!r} with a plain for loop would block the node's event loop; "
                "use async for"
            )
        return self._items()

    def _items(self) -> Iterator[Any]:
        try:
            while True:
                try:
                    item = self._reply.take(self._timeout)
                except StreamEnded:
                    return
                except TimeoutError:
                    raise self._timed_out() from None
                yield item
        finally:
            self.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items_async()

    async def _items_async(self) -> AsyncIterator[Any]:
        try:
            while True:
                try:
                    item = await self._reply.take_async(self._timeout)
                except StreamEnded:
                    return
                except TimeoutError:
                    raise self._timed_out() from None
                yield item
        finally:
            self.close()

    def _timed_out(self) -> Exception:
        return timed_out(f"callback {self.name!r} on node {self._reply.peer!r} sent no item", self._timeout)

    def close(self) -> None:
        """Stop the stream if it has not ended: the callee's generator is closed, and items not taken
        yet are dropped. Safe from any thread; nothing happens once the stream has ended."""
        self._reply.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A stream dropped before its end stops its producer, as breaking out of its loop does.
        self._reply.close()


def stream(
    items: Iterable[Any] | AsyncIterable[Any], window: int = DEFAULT_WINDOW, window_bytes: int = DEFAULT_WINDOW_BYTES
) -> Any:
    """Pass ``items`` (a sync or async iterable) as a streamed argument of a call:
    ``g.call.total(stream(numbers)) & FG``.

    The callee gets an iterator (iterate it with ``for`` in a sync callback, ``async for`` in an async
    one) that yields the items as they arrive; the caller sends at most ``window`` items, and
    ``window_bytes`` encoded bytes, ahead of what the callee has taken. A sync iterable is read in a
    thread of its own, an async one on the loop it was wrapped on. An exception it raises is raised
    by the callee's iterator. Each streamed argument is an argument of its own (not inside a list or
    dict), can be sent once, and needs a call that answers: FG, BG or STREAM.

    Raises:
        UsageError: ``items`` is not iterable, or the window is not a positive number.
    """
    return Streamed(
        items, positive_count(window, "stream() window"), positive_count(window_bytes, "stream() window_bytes")
    )
