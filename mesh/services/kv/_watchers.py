"""The watches open on one kv service node: each gets the changes under its prefix, in commit order.

A backend hands every committed change to :meth:`Watchers.publish` on the node's event loop (or to
:meth:`Watchers.post` from another thread); each watch keeps the changes its caller has not taken yet,
up to ``limit``. A watch that falls further behind ends with :class:`OverflowError` after the
changes it kept, so that a stalled reader costs bounded memory and never misses a change unawares.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._values import decode

DEFAULT_LIMIT = 10_000

RawChange = tuple[str, "bytes | None"]
"""A change as a backend sees it: the key, and its stored value (None: the key was deleted)."""


@dataclass(frozen=True)
class Change:
    """One change that ``kv.watch(prefix)`` streams: ``key`` was set to ``value``, or ``deleted``."""

    key: str
    value: Any = None
    deleted: bool = False


class Watchers:
    """The open watches of one backend, all on one event loop (the node's)."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._open: set[Watch] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self, prefix: str) -> Watch:
        """A new watch of the keys under ``prefix``; call on the node's loop."""
        self._loop = asyncio.get_running_loop()
        watch = Watch(self, prefix)
        self._open.add(watch)
        return watch

    def forget(self, watch: Watch) -> None:
        self._open.discard(watch)

    def publish(self, changes: Sequence[RawChange]) -> None:
        """Hand committed ``changes`` to every open watch; call on the watches' loop."""
        for watch in list(self._open):
            watch.offer(changes)

    def post(self, changes: Sequence[RawChange]) -> None:
        """:meth:`publish` from any thread."""
        self._soon(self.publish, changes)

    def post_failure(self, error: BaseException) -> None:
        """:meth:`fail` from any thread."""
        self._soon(self.fail, error)

    def _soon(self, fn: Callable[[Any], None], arg: Any) -> None:
        loop = self._loop
        if loop is None or not self._open:
            return
        # A closed loop's watches are gone with it.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(fn, arg)

    def fail(self, error: BaseException) -> None:
        """End every open watch with ``error`` (after the changes it holds); call on the watches' loop."""
        for watch in list(self._open):
            watch.end(error)


class Watch:
    """The changes under one prefix, as an async iterator of :class:`Change`; ``aclose()`` ends it."""

    def __init__(self, watchers: Watchers, prefix: str) -> None:
        self._watchers = watchers
        self.prefix = prefix
        self._items: deque[RawChange] = deque()
        self._error: BaseException | None = None
        self._closed = False
        self._wake: asyncio.Future[None] | None = None

    def offer(self, changes: Sequence[RawChange]) -> None:
        if self._error is not None or self._closed:
            return
        prefix = self.prefix
        self._items.extend(change for change in changes if change[0].startswith(prefix))
        if len(self._items) > self._watchers.limit:
            while len(self._items) > self._watchers.limit:
                self._items.pop()
            self.end(
                OverflowError(
                    f"kv.watch({prefix!r}) fell more than {self._watchers.limit} changes behind its caller and "
                    "was ended; read faster, or watch again and read the keys' current values"
                )
            )
        self._notify()

    def end(self, error: BaseException) -> None:
        self._error = error
        self._watchers.forget(self)
        self._notify()

    def _notify(self) -> None:
        if self._items or self._error is not None:
            wake, self._wake = self._wake, None
            if wake is not None and not wake.done():
                wake.set_result(None)

    def __reduce__(self) -> Any:
        # Reached when kv.watch is called with FG or BG: its result was to be sent whole.
        self._closed = True
        self._watchers.forget(self)
        raise TypeError(f"kv.watch({self.prefix!r}) streams its changes: call it with & STREAM")

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> Change:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            if self._error is not None:
                self._closed = True
                raise self._error
            self._wake = asyncio.get_running_loop().create_future()
            await self._wake
        key, data = self._items.popleft()
        return Change(key, deleted=True) if data is None else Change(key, decode(data))

    async def aclose(self) -> None:
        self._closed = True
        self._items.clear()
        self._watchers.forget(self)
